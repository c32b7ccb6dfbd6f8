"""The search: Optuna drives the generator G, the inquisitor I judges; local workers, progress."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import socket
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import optuna
from optuna.trial import FrozenTrial

from gensynth.constraints import Constraints
from gensynth.errors import StudyError
from gensynth.inquisitor import Assessment, Inquisitor
from gensynth.record import DONE_STATES, TrialRecord, read_all
from gensynth.study import (
    ExploreConfig,
    best_record,
    best_value,
    direction_sign,
    left_behind,
    make_pruner,
    make_sampler,
    open_storage,
    open_study,
    pareto_rung_stop,
    requeue_interrupted,
    rungs,
    weights_dir,
)
from gensynth.utility import (
    objective_directions,
    objective_names,
    placeholder,
    utility_netscore,
)

SAME_FAILURE_STOP = 5  # a run whose first N trials all fail the same way stops and says why
SCREEN_BOUND = 10  # a run draws at most this many candidates per trial it should count


@dataclass(frozen=True)
class Progress:
    done: int
    target: int
    feasible: int
    best: float | None  # best feasible NetScore (first objective) so far
    elapsed: float  # seconds in this run
    started_done: int  # trials already finished when this run started
    phase: str = "search"  # references (measured once per study) | search | comparison
    screened: int = 0  # candidates rejected by spec-only rules and budgets (not counted)
    seed_seconds: float = 0.0  # the seed prototype's trial, when this run assessed it

    @property
    def eta(self) -> float | None:
        """Seconds left: this run's time per counted trial (cheap rejections included,
        the seed prototype, usually the largest network, left out) times the trials left."""
        new = self.done - self.started_done
        if not new:
            return None
        spent, n = self.elapsed, new
        if self.seed_seconds and new > 1:
            spent, n = self.elapsed - self.seed_seconds, new - 1
        return max(0.0, spent) / n * max(0, self.target - self.done)


# --- the objective ---------------------------------------------------------------------
class _Duplicate(Exception):
    """The spec was assessed (or is being assessed) by another trial: copy that one."""

    def __init__(self, earlier: FrozenTrial) -> None:
        self.earlier = earlier


class _Surplus(Exception):
    """Every --trials slot is taken by trials ahead of this one."""


CLAIM_POLL_S = 0.5  # how often a claimed candidate re-reads the study while it waits


class Objective:
    """One trial: sample a spec, screen it, claim a slot, assess it (once per distinct
    spec across every process on the study), record everything."""

    def __init__(
        self,
        cfg: ExploreConfig,
        inquisitor: Inquisitor,
        run: str = "",
        on_activity: Callable[[str], None] | None = None,
    ) -> None:
        self.cfg, self.inquisitor, self.run = cfg, inquisitor, run
        self.on_activity = on_activity or (lambda text: None)
        self.directions = objective_directions(cfg.constraints.utility)
        self.weights_dir = weights_dir(cfg.storage, cfg.study)

    def __call__(self, trial: optuna.Trial) -> float | list[float]:
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        trial.set_user_attr("run", self.run)
        spec = self.inquisitor.deployed(
            self.cfg.space.sample(trial, name=f"{self.cfg.study}-t{trial.number}")
        )
        earlier = _assessed(trial.study.get_trials(deepcopy=False), spec.hash, trial.number)
        if earlier is not None:
            return self._copy(trial, earlier)
        name = f"trial {trial.number}" + (" (seed)" if trial.user_attrs.get("seed") else "")
        report = _reporter(trial, self.cfg.constraints, self.directions, name, self.on_activity)
        try:
            a = self.inquisitor.assess(
                spec,
                report,
                gate=lambda: self._claim(trial, spec.hash),
                on_stage=lambda stage: self.on_activity(f"{name}: {stage}"),
            )
        except _Duplicate as d:
            return self._copy(trial, d.earlier)
        except _Surplus:
            trial.set_user_attr("status", "surplus")
            trial.set_user_attr("reason", f"the study already holds {self.cfg.trials} trials")
            trial.study.stop()
            raise optuna.TrialPruned("surplus") from None
        TrialRecord.of(a).write(trial)
        if a.status == "pruned":
            raise optuna.TrialPruned(a.reason)
        if a.state_dict is not None and self._improves(trial.study, a):
            trial.set_user_attr("weights", self._save_weights(a))
        values = objective_values(a.metrics, self.cfg.constraints, self.directions)
        return values[0] if len(values) == 1 else values

    def _claim(self, trial: optuna.Trial, spec_hash: str) -> None:
        """Before anything is built: wait until this trial surely has a --trials slot and
        no other trial is assessing the same spec, then return (or raise _Duplicate /
        _Surplus). Trials ahead (lower numbers, still running) have the first claim, so
        processes on one study never finish more than --trials counted trials together,
        and the lowest-numbered of several trials with the same spec is the one trained."""
        trial.set_user_attr("hash", spec_hash)
        mine = trial.number
        while True:
            trials = trial.study.get_trials(deepcopy=False)
            earlier = _assessed(trials, spec_hash, mine)
            if earlier is not None:
                raise _Duplicate(earlier)
            done = sum(TrialRecord.read(t).counted for t in trials if t.state in DONE_STATES)
            if done >= self.cfg.trials:
                raise _Surplus()
            ahead = [t for t in trials if t.number < mine and _running(t)]
            twin = any(t.user_attrs.get("hash") == spec_hash for t in ahead)
            if not twin and done + len(ahead) < self.cfg.trials:
                return
            time.sleep(CLAIM_POLL_S)

    def _copy(self, trial: optuna.Trial, earlier: FrozenTrial) -> float | list[float]:
        TrialRecord.read(earlier).copy_to(trial, earlier.number)
        if earlier.state == optuna.trial.TrialState.PRUNED:
            raise optuna.TrialPruned(f"same spec as trial {earlier.number}")
        return earlier.values[0] if len(earlier.values) == 1 else list(earlier.values)

    def _improves(self, study: optuna.Study, a: Assessment) -> bool:
        if not a.feasible:
            return False
        if len(self.directions) > 1:
            return True
        best = best_value(study)
        return best is None or a.metrics.get("netscore", float("-inf")) > best

    def _save_weights(self, a: Assessment) -> str:
        from safetensors.torch import save_file

        self.weights_dir.mkdir(parents=True, exist_ok=True)
        path = self.weights_dir / f"{a.spec.hash}.safetensors"
        trained = self.inquisitor.proxy_spec(a.spec)  # the proxy task's classes
        save_file(
            {k: v.contiguous() for k, v in a.state_dict.items()},
            str(path),
            metadata={"spec": trained.to_json()},
        )
        return str(path.resolve())


def _running(t: FrozenTrial) -> bool:
    """Running, and not left behind by a dead process of this host (or by this process: it
    runs one trial at a time, and `_claim` asks for the trials before its own)."""
    return t.state == optuna.trial.TrialState.RUNNING and not left_behind(t)


def _reporter(
    trial: optuna.Trial,
    c: Constraints,
    directions: list[str],
    name: str,
    on_activity: Callable[[str], None],
) -> Callable[[int, float, dict[str, float]], bool]:
    """Per epoch: say it, and decide at the successive-halving rungs (study.rungs): Optuna's
    pruner for one objective (reported: the objective with this epoch's accuracy), the
    Pareto rung rule for several (Optuna cannot prune those). Never after the last epoch:
    a finished assessment is kept."""
    epochs = c.proxy.epochs
    decide = set(rungs(epochs))

    def report(epoch: int, accuracy: float, metrics: dict[str, float]) -> bool:
        on_activity(f"{name}: training, epoch {epoch + 1}/{epochs}, top-1 {accuracy:.1f} %")
        values = objective_values(_scored(metrics, c), c, directions)
        if len(directions) == 1:
            trial.report(values[0], epoch + 1)  # step = epochs trained
            return epoch + 1 in decide and trial.should_prune()
        if epoch + 1 not in decide:
            return False
        return pareto_rung_stop(values, _rivals(trial, c, directions, epoch), directions)

    return report


def _scored(metrics: dict[str, float], c: Constraints) -> dict[str, float]:
    """Metrics with the utility of the accuracy they hold (NetScore needs accuracy > 0)."""
    if c.utility.kind != "netscore" or metrics.get("accuracy", 0) <= 0:
        return metrics
    return {**metrics, "netscore": utility_netscore(metrics, c.utility)}


def _rivals(
    trial: optuna.Trial, c: Constraints, directions: list[str], epoch: int
) -> list[list[float]]:
    """Objective vectors of the other assessed trials as of ``epoch`` (their own history)."""
    out = []
    for r in read_all(trial.study):
        if r.number == trial.number or not r.counted or len(r.history) <= epoch:
            continue
        metrics = {**r.metrics, "accuracy": r.history[epoch]}
        out.append(objective_values(_scored(metrics, c), c, directions))
    return out


def _assessed(trials: list[FrozenTrial], spec_hash: str, mine: int) -> FrozenTrial | None:
    """The finished trial (another one) that already assessed this spec, if any."""
    for t in trials:
        if (
            t.number != mine
            and t.state in DONE_STATES
            and t.user_attrs.get("hash") == spec_hash
            and t.user_attrs.get("status") not in (None, "surplus")
        ):
            return t
    return None


def objective_values(
    metrics: dict[str, float], c: Constraints, directions: list[str]
) -> list[float]:
    names = objective_names(c.utility)
    return [metrics.get(n, placeholder(d)) for n, d in zip(names, directions, strict=True)]


def progress_of(
    study: optuna.Study,
    target: int,
    started: float,
    started_done: int,
    phase: str = "search",
    records: list[TrialRecord] | None = None,
) -> Progress:
    records = read_all(study) if records is None else records
    feasible = [r for r in records if r.feasible and r.counted]  # copies not again
    best = [r.values[0] for r in feasible if r.values]
    seed = [
        r.seconds or 0.0
        for r in records
        if r.seed and r.counted and r.started is not None and r.started >= started
    ]
    return Progress(
        sum(r.counted for r in records),
        target,
        len(feasible),
        (max(best) if direction_sign(study) > 0 else min(best)) if best else None,
        time.time() - started,
        started_done,
        phase,
        sum(r.screened for r in records),
        sum(seed),
    )


def check_failures(records: list[TrialRecord], started_number: int) -> None:
    """Stop a run whose trials all fail the same way (a broken setup, not bad candidates)."""
    mine = [
        r
        for r in records
        if r.number >= started_number and r.state in ("complete", "pruned", "fail")
    ]
    if len(mine) < SAME_FAILURE_STOP or any(r.status != "failed" for r in mine):
        return
    kinds = {tuple(r.reason.split(":")[:2]) for r in mine}  # (stage, exception type)
    if len(kinds) == 1:
        raise StudyError(
            f"the first {len(mine)} trials of this run all failed the same way "
            f"({mine[0].reason}); fix the cause and run again to resume"
        )


# --- running ---------------------------------------------------------------------------
def explore(
    cfg: ExploreConfig,
    on_progress: Callable[[Progress], None] | None = None,
    inquisitor: Inquisitor | None = None,
    on_activity: Callable[[str], None] | None = None,
) -> optuna.Study:
    """Run (or resume) the search until the study holds ``cfg.trials`` finished trials.

    Example:
        >>> study = explore(ExploreConfig(load_constraints("constraints/edge.yaml"),
        ...                               load_space("generators/attendnext.yaml"),
        ...                               "edge", default_storage("edge")))  # doctest: +SKIP
    """
    study = open_study(cfg)
    started, started_done = time.time(), counted(study)
    # names this run's trials (unique even for two runs in one process within a second)
    run = f"{socket.gethostname()}:{os.getpid()}@{started:.0f}-{uuid.uuid4().hex[:8]}"
    remaining = cfg.trials - started_done
    if remaining > 0:
        inquisitor = inquisitor or make_inquisitor(cfg.constraints, device=cfg.device)
        if "references" not in study.user_attrs and on_progress is not None:
            on_progress(progress_of(study, cfg.trials, started, started_done, "references"))
        study_references(study, inquisitor)
        searching = time.time()  # progress and ETA count from here: references are done
        try:
            if cfg.workers > 1:
                _run_workers(cfg, study, on_progress, searching, started_done, run)
            else:
                objective = Objective(cfg, inquisitor, run, on_activity)
                _run_here(cfg, study, objective, remaining, on_progress, searching, started_done)
        except KeyboardInterrupt:
            requeue_interrupted(study)  # the interrupted trial runs again on resume
            raise
    found = best_value(study) is not None
    if found and cfg.constraints.latency.predictor:
        check_prediction(study, cfg.constraints)
    if found and (cfg.confirm or (cfg.compare and _stale_comparison(study))):
        inquisitor = inquisitor or make_inquisitor(cfg.constraints, device=cfg.device)
    if found and cfg.confirm:
        if on_progress is not None:
            on_progress(progress_of(study, cfg.trials, started, started_done, "confirmation"))
        from gensynth.confirm import confirm

        confirm(study, cfg.constraints, inquisitor)
    if found and cfg.compare and _stale_comparison(study):
        if on_progress is not None:
            on_progress(progress_of(study, cfg.trials, started, started_done, "comparison"))
        from gensynth.compare import compare

        compare(study, cfg.constraints, inquisitor)
    return study


def check_prediction(study: optuna.Study, c: Constraints) -> dict | None:
    """Where this host is the profiled device, time the chosen architecture here too, so
    the report shows predicted and measured side by side (stored as `latency_check`)."""
    from gensynth.predictor import read_profile
    from gensynth.profile import cpu_name, time_spec

    p = study.user_attrs.get("latency_profile", {}).get("provenance", {})
    best = best_record(study)
    if p.get("host") != socket.gethostname() or p.get("cpu") != cpu_name() or best is None:
        return None
    done = study.user_attrs.get("latency_check")
    if done and done.get("trial") == best.number:
        return done
    timed = time_spec(best.arch(), c, read_profile(c.latency.predictor))
    measured, predicted = timed["ms"], best.metrics.get("latency_ms")
    check = {
        "trial": best.number,
        "predicted_ms": predicted,
        "measured_ms": measured,  # in the profile's unit (its yardstick), as its networks
        "here_ms": timed["here_ms"],  # this host's median now
        "error_pct": abs(predicted - measured) / measured * 100 if predicted else None,
    }
    study.set_user_attr("latency_check", check)
    return check


def study_references(study: optuna.Study, inquisitor: Inquisitor) -> dict:
    """The references' facts: measured (and trained) once per study, then read back."""
    facts = study.user_attrs.get("references")
    if facts is None:
        from gensynth.compare import COMPARED

        facts = inquisitor.measure_references(list(COMPARED))
        study.set_user_attr("references", facts)
    inquisitor.reference_facts = facts
    return facts


def _stale_comparison(study: optuna.Study) -> bool:
    rows = study.user_attrs.get("comparison", {}).get("rows", [])
    numbers = [r.get("number") for r in rows if r.get("kind") == "candidate"]
    return not numbers or numbers[0] != best_record(study).number


def make_inquisitor(
    c: Constraints, reference_facts: dict | None = None, device: str = "auto"
) -> Inquisitor:
    from gensynth.data import load_dataset

    return Inquisitor(
        c,
        load_dataset(c.proxy, c.deployment.channels),
        keep_weights=True,
        reference_facts=reference_facts,
        device=device,
    )


def _run_here(
    cfg: ExploreConfig,
    study: optuna.Study,
    objective: Objective,
    remaining: int,
    on_progress: Callable[[Progress], None] | None,
    started: float,
    started_done: int,
) -> None:
    first = len(study.get_trials(deepcopy=False))

    def tick(s: optuna.Study, t: FrozenTrial) -> None:
        records = read_all(s)  # one read per finished trial serves every check below
        if sum(r.counted for r in records) >= cfg.trials:
            s.stop()
        if on_progress is not None:
            on_progress(progress_of(s, cfg.trials, started, started_done, records=records))
        check_failures(records, first)

    _optimize(
        study,
        objective,
        remaining * SCREEN_BOUND,  # bounded: a profile that rejects everything ends
        cfg,
        [tick],
    )


def _optimize(
    study: optuna.Study, objective: Objective, n: int, cfg: ExploreConfig, callbacks: list
) -> None:
    with warnings.catch_warnings():  # named constraints are experimental in Optuna
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.optimize(objective, n_trials=n, timeout=cfg.timeout, callbacks=callbacks)


def _run_workers(
    cfg: ExploreConfig,
    study: optuna.Study,
    on_progress: Callable[[Progress], None] | None,
    started: float,
    started_done: int,
    run: str,
) -> None:
    """N local processes on the same storage; this process only watches and reports.
    Each worker exits when this process dies (even by kill -9): no orphans."""
    ctx = multiprocessing.get_context("spawn")
    level = optuna.logging.get_verbosity()
    procs = [
        ctx.Process(target=_worker, args=(cfg, i, level, run, os.getpid()), daemon=False)
        for i in range(cfg.workers)
    ]
    for p in procs:
        p.start()
    try:
        while any(p.is_alive() for p in procs):
            time.sleep(1.0)
            if on_progress is not None:
                on_progress(progress_of(study, cfg.trials, started, started_done))
    finally:
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
    failed = [p.exitcode for p in procs if p.exitcode not in (0, None)]
    if failed and not _enough(study, cfg.trials):
        raise StudyError(
            f"{len(failed)} worker process(es) exited with status {failed}; "
            "run the command again to resume"
        )


def _enough(study: optuna.Study, target: int) -> bool:
    return counted(study) >= target


def counted(study: optuna.Study) -> int:
    """Finished trials that --trials counts: spec-only rejections are not among them."""
    return sum(r.counted for r in read_all(study))


class _StopWhenCounted:
    """Stop the study once it holds ``target`` counted trials (screened ones don't count)."""

    def __init__(self, target: int) -> None:
        self.target = target

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if _enough(study, self.target):
            study.stop()


def _worker(cfg: ExploreConfig, index: int, log_level: int, run: str, parent: int) -> None:
    import threading

    import torch

    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()
    optuna.logging.set_verbosity(log_level)  # this process is ours: the parent's setting
    threads = max(1, cfg.constraints.proxy.threads // cfg.workers)
    proxy = dataclasses.replace(cfg.constraints.proxy, threads=threads)
    c = dataclasses.replace(cfg.constraints, proxy=proxy)
    torch.set_num_threads(threads)
    directions = objective_directions(c.utility)
    study = optuna.load_study(
        study_name=cfg.study,
        storage=open_storage(cfg.storage),
        sampler=make_sampler(cfg.sampler, cfg.seed + index),
        pruner=make_pruner(directions, c.proxy.epochs),
    )
    if _enough(study, cfg.trials):
        return
    _optimize(
        study,
        Objective(cfg, make_inquisitor(c, study.user_attrs.get("references"), cfg.device), run),
        cfg.trials * SCREEN_BOUND,
        cfg,
        [_StopWhenCounted(cfg.trials)],
    )


def _exit_with(parent: int, poll_s: float = 0.5) -> None:
    """Exit this worker as soon as its parent is gone (re-parented: getppid changes). Its
    running trial stays RUNNING and is recovered (enqueued again) by the next run."""
    while os.getppid() == parent:
        time.sleep(poll_s)
    os._exit(3)
