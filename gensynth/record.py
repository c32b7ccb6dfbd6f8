"""The trial record: what one Optuna trial holds, written once and read by everyone.

`TrialRecord.of(assessment)` makes it, `write(trial)` stores it (constraints for the
sampler, user attributes for people and tools), `read(frozen_trial)` gets it back and owns
the status of trials that never finished (killed, crashed, running, waiting). The report,
the CLI, export and the tests all read trials through this one class.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from gensynth.rules import SCREEN_STAGES
from gensynth.spec import ArchSpec

if TYPE_CHECKING:  # reading records needs no torch; only making them does
    from gensynth.inquisitor import Assessment

STATUSES = ("feasible", "infeasible", "failed", "pruned", "surplus", "running", "waiting")
# surplus: a candidate that found every --trials slot taken by trials ahead of it (several
# processes on one study) and stopped before building anything; not counted.
DONE_STATES = (TrialState.COMPLETE, TrialState.PRUNED)
# Flat numeric attributes beside the nested record: sortable in optuna-dashboard.
FLAT = (
    "accuracy",
    "netscore",
    "params_m",
    "macs_g",
    "latency_ms",
    "latency_ratio",
    "peak_activation_mb",
)
DASHBOARD_CONSTRAINTS = "constraints"  # optuna-dashboard reads this trial system attribute
_NOT_COPIED = ("worker", "seed", "retry_of", "weights", "duplicate_of")


@dataclass(frozen=True)
class TrialRecord:
    """One trial: its spec, verdict, measurements and provenance."""

    status: str  # one of STATUSES
    spec: dict[str, Any] | None = None  # ArchSpec.to_dict() of the assessed spec
    hash: str = ""  # the spec's content hash
    stage: str = ""  # the last inquisitor stage entered
    reason: str = ""  # why it stopped early ('' when it went through)
    metrics: dict[str, float] = field(default_factory=dict)
    violations: dict[str, float] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    history: list[float] = field(default_factory=list)  # proxy top-1 % per epoch
    skipped: list[str] = field(default_factory=list)
    weights: str | None = None  # stored proxy-trained weights (see study.weights_dir)
    duplicate_of: int | None = None  # the trial whose assessment this one copies
    seed: bool = False  # the enqueued seed prototype
    worker: str = ""  # host:pid that ran it
    retry_of: int | None = None  # the killed trial this one re-runs
    number: int = -1
    state: str = ""  # Optuna's state, lower case
    seconds: float | None = None  # wall time of the trial
    values: tuple[float, ...] | None = None  # objective values (COMPLETE trials)
    screened: bool = False  # rejected by what the spec alone decides; not counted
    run: str = ""  # the explore run (host:pid@start) that drew it
    started: float | None = None  # epoch seconds
    ended: float | None = None

    @property
    def counted(self) -> bool:
        """Finished, assessed beyond the spec-only stages, and not a copy of an earlier
        assessment: what --trials counts (one per distinct network assessed)."""
        return (
            self.state in ("complete", "pruned")
            and not self.screened
            and self.duplicate_of is None
            and self.status != "surplus"
        )

    @property
    def feasible(self) -> bool:
        return self.status == "feasible"

    @property
    def blocked_by(self) -> list[str]:
        """The violated rules, and 'failed' for failures."""
        return [r for r, v in self.violations.items() if v > 0] + (
            ["failed"] if self.status == "failed" else []
        )

    def arch(self) -> ArchSpec:
        return ArchSpec.from_dict(self.spec)

    @classmethod
    def of(cls, a: Assessment) -> TrialRecord:
        return cls(
            screened=a.status == "infeasible" and a.stage in SCREEN_STAGES,
            status=a.status,
            spec=a.spec.to_dict(),
            hash=a.spec.hash,
            stage=a.stage,
            reason=a.reason,
            metrics=dict(a.metrics),
            violations=dict(a.violations),
            timings=dict(a.timings),
            history=list(a.history),
            skipped=list(a.skipped),
        )

    def write(self, trial: optuna.Trial) -> None:
        """Constraints for the sampler (named), and user attributes: the nested record
        plus flat numbers (`m_*`, `feasible`) that dashboards can sort by.

        optuna-dashboard (0.21) shows only Optuna's older, unnamed constraint list, so the
        same values are also written there, in the order of the ``violations`` dict (the
        names are in that user attribute). Optuna's samplers then see each value twice,
        which changes neither feasibility nor the ordering by total violation."""
        constraints = dict(self.violations)
        if self.status == "failed":
            constraints["failed"] = 1.0
        for rule, v in constraints.items():
            trial.set_constraint(rule, v)
        if constraints:
            trial.storage.set_trial_system_attr(
                trial._trial_id, DASHBOARD_CONSTRAINTS, list(constraints.values())
            )
        for key in (
            "spec",
            "hash",
            "status",
            "stage",
            "reason",
            "metrics",
            "violations",
            "timings",
            "history",
            "skipped",
            "screened",
        ):
            trial.set_user_attr(key, getattr(self, key))
        for key in FLAT:
            if key in self.metrics:
                trial.set_user_attr(f"m_{key}", self.metrics[key])
        trial.set_user_attr("feasible", int(self.feasible))  # 1 / 0: sortable in dashboards

    @classmethod
    def read(cls, t: FrozenTrial) -> TrialRecord:
        a = t.user_attrs
        status, reason = _status(t)
        return cls(
            status=status,
            spec=a.get("spec"),
            hash=a.get("hash", ""),
            stage=a.get("stage", ""),
            reason=reason,
            metrics=a.get("metrics", {}),
            violations=a.get("violations", {}),
            timings=a.get("timings", {}),
            history=a.get("history", []),
            skipped=a.get("skipped", []),
            screened=bool(a.get("screened", False)),
            weights=a.get("weights"),
            duplicate_of=a.get("duplicate_of"),
            seed=bool(a.get("seed")),
            worker=a.get("worker", ""),
            retry_of=a.get("retry_of"),
            run=a.get("run", ""),
            started=t.datetime_start.timestamp() if t.datetime_start else None,
            ended=t.datetime_complete.timestamp() if t.datetime_complete else None,
            number=t.number,
            state=t.state.name.lower(),
            seconds=t.duration.total_seconds() if t.duration else None,
            values=tuple(t.values) if t.values else None,
        )

    def copy_to(self, trial: optuna.Trial, of: int) -> None:
        """Write this (earlier) assessment onto a trial that drew the same spec."""
        self.write(trial)
        trial.set_user_attr("duplicate_of", of)


def _status(t: FrozenTrial) -> tuple[str, str]:
    """(status, reason) from the trial's state and what was recorded before it ended."""
    a = t.user_attrs
    if t.state == TrialState.FAIL:
        if "status" in a and a["status"] != "failed":
            return "failed", f"raised after its assessment ({a['status']}) was recorded"
        return "failed", a.get("reason") or "crashed or killed before recording a result"
    if t.state in (TrialState.RUNNING, TrialState.WAITING):
        return t.state.name.lower(), ""
    if t.state == TrialState.PRUNED:
        return a.get("status") if a.get("status") == "surplus" else "pruned", a.get("reason", "")
    if "status" not in a:
        return "failed", "completed without a recorded assessment"
    return a["status"], a.get("reason", "")


def read_all(study: optuna.Study) -> list[TrialRecord]:
    return [TrialRecord.read(t) for t in study.get_trials(deepcopy=False)]


def runs_of(records: list[TrialRecord]) -> list[dict[str, Any]]:
    """The explore runs, from the trials themselves (so kill -9 and concurrent runs are
    right): per run its start, seconds, counted trials, drawn and screened candidates."""
    runs: dict[str, list[TrialRecord]] = {}
    for r in records:
        if r.run and r.started is not None:
            runs.setdefault(r.run, []).append(r)
    out = []
    for run, mine in runs.items():
        start = min(r.started for r in mine)
        end = max((r.ended or r.started) for r in mine)
        out.append(
            {
                "run": run,
                "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(start)),
                "seconds": round(end - start, 1),
                "trials": sum(r.counted for r in mine),
                "drawn": len(mine),
                "screened": sum(r.screened for r in mine),
                "start": start,
                "end": end,
            }
        )
    return sorted(out, key=lambda x: x["start"])


def wall_seconds(runs: list[dict[str, Any]]) -> float:
    """Seconds during which any run was searching (concurrent runs are not added up)."""
    total, reach = 0.0, float("-inf")
    for r in sorted(runs, key=lambda x: x["start"]):
        start, end = max(r["start"], reach), r["end"]
        if end > start:
            total += end - start
        reach = max(reach, end)
    return round(total, 1)


def counts(records: list[TrialRecord]) -> dict[str, int]:
    """Trials per status (every status listed, zeros included), plus total and finished."""
    out = {s: sum(r.status == s for r in records) for s in STATUSES}
    out["total"] = len(records)
    out["finished"] = sum(r.state in ("complete", "pruned") for r in records)
    return out
