"""The trial record: one writer, one reader; the CLI summary and the report agree."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from gensynth.cli import summary_counts
from gensynth.constraints import Constraints, Deployment, LatencyConfig, Rules
from gensynth.inquisitor import Inquisitor
from gensynth.record import TrialRecord, read_all
from gensynth.report import collect
from tests.conftest import tiny_spec
from tests.test_report import RECORD, fabricated

FAST = Constraints(
    "fast",
    deployment=Deployment(resolution=32, classes=10),
    latency=LatencyConfig(warmup=1, runs=3),
)


def test_a_record_written_to_a_trial_reads_back_equal():
    a = Inquisitor(FAST).assess(tiny_spec())
    study = optuna.create_study()
    trial = study.ask()
    record = TrialRecord.of(a)
    record.write(trial)
    study.tell(trial, 1.0)
    back = TrialRecord.read(study.trials[0])
    assert back.status == "feasible" and back.spec == a.spec.to_dict()
    assert (back.metrics, back.violations, back.timings) == (a.metrics, a.violations, a.timings)
    assert back.arch() == a.spec and back.values == (1.0,) and back.state == "complete"
    assert study.trials[0].user_attrs["m_params_m"] == a.metrics["params_m"]  # flat, sortable


def test_infeasible_records_name_the_rules_that_blocked_them():
    strict = Constraints(
        "strict",
        deployment=FAST.deployment,
        latency=FAST.latency,
        rules=Rules(columnar_min_stages=3),
    )
    record = TrialRecord.of(Inquisitor(strict).assess(tiny_spec()))
    assert record.status == "infeasible" and record.blocked_by == ["columnar"]


def every_kind_of_trial() -> optuna.Study:
    study = optuna.create_study(direction="maximize", study_name="kinds")
    study.set_user_attr("constraints", RECORD)
    study.add_trials(
        [
            fabricated("feasible", 80.0, {"netscore": 80.0, "accuracy": 90.0}, name="ok"),
            fabricated("infeasible", -1e3, {}, {"aads": 0.3}, name="no"),
            fabricated("pruned", None, {"accuracy": 12.0}, state=TrialState.PRUNED, name="pr"),
            fabricated("failed", -1e3, {}, {"columnar": -1.0}, name="broken"),
            create_trial(state=TrialState.FAIL),  # killed before recording anything
            fabricated("feasible", None, {"netscore": 70.0}, state=TrialState.FAIL, name="late"),
        ]
    )
    study.enqueue_trial({})
    return study


@pytest.mark.parametrize(
    "number, status, reason",
    [
        (0, "feasible", ""),
        (1, "infeasible", "x"),
        (2, "pruned", "x"),
        (3, "failed", "x"),
        (4, "failed", "crashed or killed before recording a result"),
        (5, "failed", "raised after its assessment (feasible) was recorded"),
        (6, "waiting", ""),
    ],
)
def test_status_of_every_kind_of_trial(number, status, reason):
    record = read_all(every_kind_of_trial())[number]
    assert (record.status, record.reason) == (status, reason)


def test_cli_summary_and_report_agree_on_every_status():
    study = every_kind_of_trial()
    report = collect(study)
    assert summary_counts(study) == {
        k: v for k, v in report["counts"].items() if k not in ("total", "finished") and v
    }
    assert summary_counts(study) == {
        "feasible": 1,
        "infeasible": 1,
        "pruned": 1,
        "failed": 3,
        "waiting": 1,
    }
    assert [r["status"] for r in report["rows"]] == [r.status for r in read_all(study)]
