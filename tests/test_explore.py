"""Explore: resume, kill -9, two workers, refused changes, seeded repeats, assessed once."""

from __future__ import annotations

import dataclasses
import importlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from gensynth.constraints import load_constraints
from gensynth.errors import StudyError
from gensynth.explore import SCREEN_BOUND, explore
from gensynth.space import IntRange, load_space
from gensynth.study import ExploreConfig, load_study, recover_stale

DATA = Path(__file__).parent / "data"


def config(tmp_path, trials=4, **kw) -> ExploreConfig:
    c = load_constraints(DATA / "tiny_constraints.yaml")
    kw.setdefault("compare", False)  # the comparison and confirmation steps have their tests
    kw.setdefault("confirm", False)
    return ExploreConfig(
        c,
        load_space(DATA / "tiny_space.yaml"),
        "tiny",
        str(tmp_path / "tiny.journal"),
        trials=trials,
        **kw,
    )


def without_rules(c):
    """The tiny profile with its structure rules, floor and size budgets off (all feasible)."""
    rules = dataclasses.replace(
        c.rules, columnar_min_stages=None, aads_min_fraction=None, accuracy_floor=None
    )
    budgets = dataclasses.replace(c.budgets, params_m=None, macs_g=None)
    return dataclasses.replace(c, rules=rules, budgets=budgets)


def counted(study) -> int:
    """Trials --trials counts: finished and not screened out by spec-only rules."""
    from gensynth.explore import counted as counted_trials

    return counted_trials(study)


def hashes(study):
    return [t.user_attrs.get("hash") for t in study.get_trials()]


def test_first_trial_is_the_seed_and_every_trial_is_recorded(tmp_path):
    study = explore(config(tmp_path, trials=4))
    trials = study.get_trials()
    assert counted(study) == 4 and trials[0].user_attrs["seed"] is True
    assert trials[0].user_attrs["spec"]["name"] == "tiny-t0"
    for t in trials:
        assert {"spec", "hash", "status", "stage", "metrics", "violations", "timings"} <= set(
            t.user_attrs
        )
        assert set(t.constraints) >= {"columnar", "no_strided_pointwise", "aads"}
        if t.user_attrs["status"] == "infeasible":
            assert any(v > 0 for v in t.constraints.values())


def test_resume_continues_to_the_requested_count(tmp_path):
    first = hashes(explore(config(tmp_path, trials=3)))
    study = explore(config(tmp_path, trials=5))
    assert counted(study) == 5 and hashes(study)[: len(first)] == first
    again = explore(config(tmp_path, trials=5))
    assert len(again.get_trials()) == len(study.get_trials())  # nothing left to do
    from gensynth.record import read_all, runs_of

    assert [r["trials"] for r in runs_of(read_all(again))] == [3, 2]  # no-op resumes: no run


def test_changed_constraints_are_refused(tmp_path):
    explore(config(tmp_path, trials=1))
    cfg = config(tmp_path, trials=2)
    changed = dataclasses.replace(
        cfg.constraints, budgets=dataclasses.replace(cfg.constraints.budgets, params_m=0.3)
    )
    with pytest.raises(StudyError, match=r"budgets.params_m: 0.2 -> 0.3.*--study NEW_NAME"):
        explore(dataclasses.replace(cfg, constraints=changed))
    space = dataclasses.replace(cfg.space, stage_count=IntRange(1, 1))
    with pytest.raises(StudyError, match="design space stage_count.high: 2 -> 1"):
        explore(dataclasses.replace(cfg, space=space))


def test_seeded_runs_propose_the_same_specs(tmp_path):
    a = hashes(explore(config(tmp_path / "a", trials=6, seed=3)))
    b = hashes(explore(config(tmp_path / "b", trials=6, seed=3)))
    assert a == b and len(set(a)) > 1


def test_identical_specs_are_assessed_once(tmp_path):
    cfg = config(tmp_path, trials=3)
    fixed = load_space(DATA / "tiny_space.yaml")
    one = dataclasses.replace(
        fixed,
        stage_count=IntRange(1, 1),
        stage_widths=(IntRange(16, 16),),
        stage={
            **fixed.stage,
            "depth": (1,),
            "columns": (2,),
            "block": ("basic",),
            "entry": ("dcac",),
            "interaction": ("isolated",),
            "stride": (2,),
            "downsample": ("blur",),
            "gate": ("sigmoid",),
        },
        stem={**fixed.stem, "width": (8,), "columns": (2,), "downsample": ("avg",)},
    )
    study = explore(dataclasses.replace(cfg, space=one))
    trials = study.get_trials()
    assert len(set(hashes(study))) == 1
    # copies do not count toward --trials: the run draws until its bound, assessing once
    assert counted(study) == 1 and len(trials) == 3 * SCREEN_BOUND
    assert [t.user_attrs.get("duplicate_of") for t in trials] == [None] + [0] * (len(trials) - 1)
    assert trials[1].user_attrs["metrics"] == trials[0].user_attrs["metrics"]


def test_two_workers_lose_and_duplicate_nothing(tmp_path):
    study = explore(config(tmp_path, trials=8, workers=2))
    trials = study.get_trials()
    numbers = [t.number for t in trials]
    assert numbers == list(range(len(trials))) and len(trials) >= 8
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    assert len({t.user_attrs["worker"] for t in trials}) == 2


def test_stale_running_trial_is_recovered(tmp_path):
    study = explore(config(tmp_path, trials=1))
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    trial = study.ask()
    import socket

    trial.set_user_attr("worker", f"{socket.gethostname()}:{dead}")
    assert recover_stale(study) == [trial.number]
    assert study.get_trials()[trial.number].state == TrialState.FAIL
    assert study.get_trials()[-1].state == TrialState.WAITING  # enqueued again


def explore_command(storage, trials: int = 40, *extra: str) -> list[str]:
    """`gensynth explore` on the tiny profile as a separate process (extra arguments last)."""
    return [
        sys.executable,
        "-m",
        "gensynth.cli",
        "explore",
        "--constraints",
        str(DATA / "tiny_constraints.yaml"),
        "--generator",
        str(DATA / "tiny_space.yaml"),
        "--storage",
        str(storage),
        "--trials",
        str(trials),
        "--no-report",
        *extra,
    ]


def test_kill_9_mid_run_loses_no_finished_trial(tmp_path):
    storage = tmp_path / "tiny.journal"
    cmd = explore_command(storage, 400)  # more than can finish before the kill, on any host
    errors = tmp_path / "stderr.txt"
    with open(errors, "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
    finished: list = []
    deadline = time.time() + 120
    while time.time() < deadline and len(finished) < 3:
        time.sleep(0.5)
        assert proc.poll() is None, f"explore exited early: {errors.read_text()[-2000:]}"
        if storage.exists():
            try:
                finished = [
                    t
                    for t in load_study("tiny", str(storage)).get_trials()
                    if t.state.is_finished()
                ]
            except Exception:
                continue
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(finished) >= 3
    before = {
        t.number: t.user_attrs["hash"]
        for t in load_study("tiny", str(storage)).get_trials()
        if t.state.is_finished()
    }
    subprocess.run(
        [*cmd[:-3], "--trials", str(len(before) + 2), "--no-report"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    after = load_study("tiny", str(storage)).get_trials()
    assert {t.number: t.user_attrs["hash"] for t in after if t.number in before} == before
    assert not [t for t in after if t.state == TrialState.RUNNING]
    done = [t for t in after if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(done) >= len(before) + 2


def test_unknown_study_names_the_alternatives(tmp_path):
    explore(config(tmp_path, trials=1))
    with pytest.raises(StudyError, match="did you mean 'tiny'"):
        load_study("tinyy", str(tmp_path / "tiny.journal"))
    with pytest.raises(StudyError, match="does not exist"):
        load_study("x", str(tmp_path / "absent.journal"))


def test_optuna_storage_urls_work(tmp_path):
    cfg = dataclasses.replace(config(tmp_path, trials=2), storage=f"sqlite:///{tmp_path / 'x.db'}")
    assert counted(explore(cfg)) == 2
    assert optuna.get_all_study_names(cfg.storage) == ["tiny"]


def test_successive_halving_for_single_objective_and_long_enough_proxies():
    from gensynth.study import make_pruner, rungs

    assert isinstance(make_pruner(["maximize"], 3), optuna.pruners.NopPruner)
    assert isinstance(make_pruner(["maximize", "minimize"], 10), optuna.pruners.NopPruner)
    assert isinstance(make_pruner(["maximize"], 6), optuna.pruners.SuccessiveHalvingPruner)
    assert [rungs(e) for e in (1, 3, 4, 6, 9, 40)] == [[], [], [2], [3], [4], [20]]


def test_pareto_rung_rule_keeps_the_least_dominated_third():
    from gensynth.study import pareto_rung_stop

    d = ["maximize", "minimize"]  # accuracy up, latency down
    rivals = [[90.0, 1.0], [80.0, 2.0], [70.0, 3.0], [60.0, 4.0], [50.0, 5.0]]
    assert not pareto_rung_stop([95.0, 0.5], rivals, d)  # dominates all
    assert not pareto_rung_stop([10.0, 0.1], rivals, d)  # fastest: on the front, goes on
    assert pareto_rung_stop([55.0, 4.5], rivals, d)  # dominated by four
    assert pareto_rung_stop([75.0, 3.5], rivals, d)  # dominated by two: only 6 // 3 = 2 go on
    assert not pareto_rung_stop([0.0, 9.0], rivals[:2], d)  # too few rivals yet: it goes on


def test_pruned_trials_stop_at_a_rung_with_their_history(tmp_path):
    cfg = config(tmp_path, trials=8)
    proxy = dataclasses.replace(cfg.constraints.proxy, epochs=4, max_images=200)
    study = explore(
        dataclasses.replace(cfg, constraints=dataclasses.replace(cfg.constraints, proxy=proxy))
    )
    for t in study.get_trials(states=(TrialState.PRUNED,)):
        if t.user_attrs.get("status") == "pruned":
            assert len(t.user_attrs["history"]) == 2  # the rung of a 4-epoch proxy
    for t in study.get_trials(states=(TrialState.COMPLETE,)):
        if t.user_attrs.get("history"):
            assert len(t.user_attrs["history"]) == 4
    values = [v for t in study.trials for v in t.intermediate_values.values()]
    assert values and all(v > -1e3 for v in values)  # the objective, not the accuracy alone


def test_pareto_searches_stop_dominated_candidates_at_the_rung(tmp_path, monkeypatch):
    ex = importlib.import_module("gensynth.explore")

    calls = []
    real = ex.pareto_rung_stop

    def spy(mine, rivals, directions):
        calls.append(len(rivals))
        return real(mine, rivals, directions)

    monkeypatch.setattr(ex, "pareto_rung_stop", spy)
    cfg = config(tmp_path, trials=7)
    c = dataclasses.replace(
        cfg.constraints,
        utility=dataclasses.replace(
            cfg.constraints.utility, kind="pareto", objectives=("accuracy", "params_m")
        ),
        proxy=dataclasses.replace(cfg.constraints.proxy, epochs=4, max_images=200),
    )
    study = explore(dataclasses.replace(cfg, constraints=c, sampler="nsga2"))
    assert calls and calls == sorted(calls)  # asked at epoch 2, against more rivals each time
    for t in study.trials:
        history = t.user_attrs.get("history") or []
        if t.user_attrs.get("status") == "pruned":
            assert len(history) == 2 and "pruned after epoch 2" in t.user_attrs["reason"]
        elif history:
            assert len(history) == 4


def test_pareto_search_with_nsga2_and_its_report(tmp_path):
    from gensynth.report import collect
    from gensynth.study import best_record

    cfg = config(tmp_path, trials=4, sampler="nsga2")
    pareto = dataclasses.replace(
        cfg.constraints.utility, kind="pareto", objectives=("accuracy", "latency_ms")
    )
    study = explore(
        dataclasses.replace(cfg, constraints=dataclasses.replace(cfg.constraints, utility=pareto))
    )
    assert len(study.directions) == 2
    assert all(len(t.values) == 2 for t in study.get_trials(states=(TrialState.COMPLETE,)))
    best = best_record(study)
    assert best is None or best.status == "feasible"
    assert collect(study)["counts"]["total"] == len(study.get_trials()) and counted(study) == 4


def test_storage_that_is_a_folder_is_a_clear_error(tmp_path):
    cfg = dataclasses.replace(config(tmp_path), storage=str(tmp_path))
    with pytest.raises(StudyError, match="cannot use it as a journal file"):
        explore(cfg)


def test_studies_command_lists_them(tmp_path):
    from click.testing import CliRunner

    from gensynth.cli import main

    explore(config(tmp_path, trials=1))
    result = CliRunner().invoke(
        main, ["studies", "--storage", str(tmp_path / "tiny.journal"), "--format", "json"]
    )
    assert result.exit_code == 0 and '"study": "tiny"' in result.output
    result = CliRunner().invoke(
        main,
        [
            "report",
            "--study",
            "tiny",
            "--storage",
            str(tmp_path / "tiny.journal"),
            "--out",
            str(tmp_path / "rep"),
        ],
    )
    assert result.exit_code == 0 and (tmp_path / "rep" / "index.html").exists()


def test_the_comparison_puts_the_chosen_net_beside_the_references(tmp_path):
    from gensynth.report import collect, reference_points

    cfg = config(tmp_path, trials=4)
    lax = without_rules(cfg.constraints)
    study = explore(dataclasses.replace(cfg, constraints=lax, compare=True))
    table = study.user_attrs["comparison"]
    names = [r["name"] for r in table["rows"]]
    assert names[:2] == ["fbnet_c", "mobilenetv3_large"] and names[2].startswith("trial ")
    anchor = table["rows"][0]
    assert anchor["x_anchor"] == 1.0 and anchor["accuracy"] > 0  # trained on the same proxy
    for row in table["rows"][1:]:
        assert row["x_anchor_low"] <= row["x_anchor"] <= row["x_anchor_high"]
    d = collect(study)
    assert d["comparison"] == table
    assert {p["name"] for p in reference_points(d, "macs_g")} == {"fbnet_c", "mobilenetv3_large"}


def test_spec_only_rejections_do_not_count_but_teach_the_sampler(tmp_path):
    from gensynth.record import read_all, runs_of

    cfg = config(tmp_path, trials=4, sampler="random")
    strict = dataclasses.replace(
        cfg.constraints, rules=dataclasses.replace(cfg.constraints.rules, aads_min_fraction=0.6)
    )  # many samples fail aads
    study = explore(dataclasses.replace(cfg, constraints=strict))
    records = read_all(study)
    screened = [r for r in records if r.screened]
    assert counted(study) == 4 and screened
    assert all(r.stage in ("structure", "cost", "budgets") for r in screened)
    assert all(study.trials[r.number].constraints for r in screened)  # told to the sampler
    run = runs_of(records)[-1]
    assert run["trials"] == 4 and run["drawn"] == len(records) and run["screened"] == len(screened)


def test_a_profile_that_rejects_everything_ends(tmp_path):
    cfg = config(tmp_path, trials=2)
    impossible = dataclasses.replace(
        cfg.constraints, budgets=dataclasses.replace(cfg.constraints.budgets, params_m=1e-6)
    )
    study = explore(dataclasses.replace(cfg, constraints=impossible))
    from gensynth.explore import SCREEN_BOUND

    assert counted(study) == 0 and len(study.get_trials()) == 2 * SCREEN_BOUND


def test_a_torn_journal_tail_is_repaired_not_glued_onto(tmp_path):
    import warnings

    from gensynth.errors import GensynthWarning

    explore(config(tmp_path, trials=2))
    journal = tmp_path / "tiny.journal"
    data = journal.read_bytes()
    journal.write_bytes(data[: -len(data.splitlines()[-1]) // 2 - 1])  # a crash mid-write
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        study = explore(config(tmp_path, trials=3))
    assert any(
        issubclass(w.category, GensynthWarning) and "torn tail" in str(w.message) for w in caught
    )
    assert counted(study) == 3 and list(tmp_path.glob("tiny.journal.torn-*"))
    assert counted(load_study("tiny", str(journal))) == 3  # readable again, for good


def test_studies_lists_the_readable_journals_beside_a_corrupt_one(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from gensynth.cli import main

    monkeypatch.chdir(tmp_path)
    explore(config(tmp_path / "studies", trials=1))
    (tmp_path / "studies" / "broken.journal").write_text('{"op_code": 0, "worker_id"\n{}\n')
    result = CliRunner().invoke(main, ["studies", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert '"study": "tiny"' in result.stdout and "unreadable" in result.stdout


def test_confirmation_retrains_the_top_candidates_with_two_seeds(tmp_path):
    from gensynth.report import collect

    cfg = config(tmp_path, trials=5)
    lax = without_rules(cfg.constraints)
    study = explore(dataclasses.replace(cfg, constraints=lax, confirm=True))
    table = study.user_attrs["confirmation"]
    assert table["epochs"] == 2 * lax.proxy.epochs and table["seeds"] == [1, 2]
    assert 1 <= len(table["rows"]) <= 3 and table["winner"] in table["numbers"]
    for row in table["rows"]:
        assert len(row["accuracies"]) == 2 and row["sd"] >= 0
        assert min(row["accuracies"]) <= row["mean"] <= max(row["accuracies"])
    assert sorted(r["rank_confirmed"] for r in table["rows"]) == list(
        range(1, len(table["rows"]) + 1)
    )
    assert collect(study)["confirmation"] == table
    again = explore(dataclasses.replace(cfg, constraints=lax, confirm=True))  # resume: kept
    assert again.user_attrs["confirmation"] == table


def test_ctrl_c_exits_130_with_one_line_and_the_trial_runs_again(tmp_path):
    storage = tmp_path / "tiny.journal"
    # more trials than can finish before the poll gives up: Ctrl-C always meets a running
    # explore, however fast the host or however the poll fares
    cmd = [*explore_command(storage, 400), "--no-confirm", "--no-compare"]
    errors = tmp_path / "stderr.txt"
    with open(errors, "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
    deadline, finished, polls, last = time.time() + 120, 0, 0, None
    while time.time() < deadline and finished < 2 and proc.poll() is None:
        time.sleep(0.3)
        if storage.exists():
            polls += 1
            try:
                finished = counted(load_study("tiny", str(storage)))
            except Exception as exc:  # the journal mid-write, or the study not made yet
                last = exc
    seen = f"{polls} polls saw {finished} finished trials; last error: {last!r}"
    assert proc.poll() is None, f"explore ended before Ctrl-C ({seen})"
    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=60)
    text = errors.read_text()
    assert code == 130, f"{seen}\n{text[-2000:]}"  # what went wrong, should it ever fail
    assert "Traceback" not in text and "interrupted: finished trials are stored" in text
    study = load_study("tiny", str(storage))
    failed = [t.number for t in study.get_trials() if t.state == TrialState.FAIL]
    retried = {
        t.user_attrs.get("retry_of") for t in study.get_trials() if t.state == TrialState.WAITING
    }
    assert set(failed) <= retried  # every interrupted trial is queued to run again


def test_same_named_studies_in_two_storages_keep_separate_weights(tmp_path):
    from gensynth.study import weights_dir

    a = weights_dir(str(tmp_path / "one.journal"), "edge")
    b = weights_dir(str(tmp_path / "two.journal"), "edge")
    c = weights_dir("sqlite:///x.db", "edge")
    assert len({a, b, c}) == 3 and a.is_absolute() and c.is_absolute()
    assert a.parent == tmp_path
