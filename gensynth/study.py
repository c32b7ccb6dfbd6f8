"""Studies: storage (journal file or any Optuna URL), creation with the seed, resume checks,
recovery of trials left running by killed processes, and reading results."""

from __future__ import annotations

import json
import os
import platform
import socket
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from gensynth.constraints import Constraints
from gensynth.errors import ExportError, GensynthWarning, StudyError, did_you_mean
from gensynth.record import TrialRecord, read_all
from gensynth.space import DesignSpace
from gensynth.spec import ArchSpec
from gensynth.utility import objective_directions, objective_names

SAMPLERS = ("tpe", "nsga2", "random")
STUDIES_DIR = Path("studies")
DEFAULT_TRIALS = 60


@dataclass(frozen=True)
class ExploreConfig:
    """One `gensynth explore` run (the CLI fills exactly these fields, with these defaults).

    Example:
        >>> cfg = ExploreConfig(load_constraints("constraints/edge.yaml"),
        ...                     load_space("generators/attendnext.yaml"))  # doctest: +SKIP
    """

    constraints: Constraints
    space: DesignSpace
    study: str | None = None  # default: the constraints file's name
    storage: str | None = None  # Optuna URL or journal file; default studies/<study>.journal
    sampler: str | None = None  # default: tpe, or nsga2 for a pareto utility
    trials: int = DEFAULT_TRIALS  # assessed trials to hold at the end (screened ones not counted)
    timeout: float | None = None  # seconds for this run
    workers: int = 1
    seed: int = 0
    compare: bool = True  # time the top candidates against the references at the end
    confirm: bool = True  # retrain the top candidates longer, with several seeds, at the end
    device: str = "auto"  # proxy training on cuda when available (latency stays on the CPU)

    def __post_init__(self) -> None:
        from gensynth.schema import name_problem

        name = self.constraints.name if self.study is None else self.study
        if name_problem(name):
            raise StudyError(f"--study: {name_problem(name)}, got {name!r}")
        object.__setattr__(self, "study", name)
        object.__setattr__(self, "storage", self.storage or default_storage(name))
        object.__setattr__(self, "sampler", self.sampler or default_sampler(self.constraints))


def default_sampler(c: Constraints) -> str:
    return "nsga2" if c.utility.kind == "pareto" else "tpe"


# --- storage ---------------------------------------------------------------------------
def default_storage(study: str) -> str:
    from gensynth.schema import name_problem

    if name_problem(study):
        raise StudyError(f"--study: {name_problem(study)}, got {study!r}")
    return str(STUDIES_DIR / f"{study}.journal")


def journal_path(url: str) -> Path | None:
    """The journal file of a storage argument, or None for a database URL."""
    return None if "://" in url else Path(url.removeprefix("journal:"))


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """A journal file (the embedded default: no server, survives kill -9, several local
    workers) or any Optuna storage URL (sqlite:///x.db, postgresql://...)."""
    path = journal_path(url)
    if path is None:
        for attempt in range(RDB_ATTEMPTS):
            try:
                with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    return optuna.storages.RDBStorage(
                        database_url(url), heartbeat_interval=30, grace_period=120, **_retry()
                    )
            except Exception as exc:  # driver missing, server down, bad URL
                # processes opening a fresh database at once race to create its tables:
                # the losers find them a moment later
                if "already exists" in str(exc) and attempt + 1 < RDB_ATTEMPTS:
                    time.sleep(0.5 * (attempt + 1))
                    continue
                raise StudyError(
                    f"--storage {url}: cannot open ({type(exc).__name__}: "
                    f"{str(exc).splitlines()[0]})"
                ) from None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = optuna.storages.journal.JournalFileOpenLock(str(path))
        note = repair_journal(path, lock)
        if note:
            warnings.warn(note, GensynthWarning, stacklevel=2)
        backend = optuna.storages.journal.JournalFileBackend(str(path), lock_obj=lock)
        return optuna.storages.journal.JournalStorage(backend)
    except (OSError, ValueError) as exc:
        raise StudyError(f"--storage {url}: cannot use it as a journal file ({exc})") from None


RDB_ATTEMPTS = 5


def database_url(url: str) -> str:
    """A plain `postgresql://` URL with the PostgreSQL driver that is installed (psycopg 3,
    from the `[postgres]` extra, or psycopg2): SQLAlchemy's default driver differs between
    its versions, so the bare URL would fail with whichever one is absent."""
    if not url.startswith("postgresql://"):
        return url
    import importlib.util

    for module, dialect in (("psycopg", "psycopg"), ("psycopg2", "psycopg2")):
        if importlib.util.find_spec(module) is not None:
            return f"postgresql+{dialect}://" + url.removeprefix("postgresql://")
    return url  # SQLAlchemy names the missing driver


def _retry() -> dict[str, Any]:
    """Re-run a trial whose worker stopped sending heartbeats (a dead machine), twice at
    most: with the callback's current name (Optuna >= 4.9) or its older one."""
    callback = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
    if callback is not None:
        return {"heartbeat_stale_trial_callback": callback(max_retry=2)}
    return {"failed_trial_callback": optuna.storages.RetryFailedTrialCallback(max_retry=2)}


def repair_journal(path: Path, lock: Any) -> str | None:
    """A journal whose last line was cut mid-write (a crash): keep a copy, cut the torn tail.

    Checked under the journal's own write lock, so a line another process is appending is
    never mistaken for a torn one. Returns what was done, or None when nothing was needed.
    """
    if not path.is_file() or path.stat().st_size == 0:
        return None
    lock.acquire()
    try:
        data = path.read_bytes()
        if data.endswith(b"\n"):
            return None
        cut = data.rfind(b"\n") + 1
        backup = path.with_name(f"{path.name}.torn-{time.strftime('%Y%m%d-%H%M%S')}")
        backup.write_bytes(data)
        with open(path, "r+b") as f:
            f.truncate(cut)
    finally:
        lock.release()
    return (
        f"{path}: its last line was cut mid-write (a crash); removed the {len(data) - cut}"
        f"-byte torn tail, the original is kept as {backup}"
    )


def list_studies(storage: str) -> list[optuna.study.StudySummary]:
    return optuna.get_all_study_summaries(open_storage(storage), include_best_trial=False)


def load_study(study: str, storage: str | None = None) -> optuna.Study:
    """Open an existing study (read side: report, export)."""
    url = storage or default_storage(study)
    path = journal_path(url)
    if path is not None and not path.exists():
        raise StudyError(
            f"no study {study!r}: storage {url} does not exist (run `gensynth "
            f"explore` first, or pass --storage)"
        )
    backend = open_storage(url)
    names = [s.study_name for s in optuna.get_all_study_summaries(backend, False)]
    if study not in names:
        raise StudyError(
            f"no study {study!r} in {url}; studies there: "
            f"{', '.join(names) or 'none'}{did_you_mean(study, names)}"
        )
    return optuna.load_study(study_name=study, storage=backend)


# --- study creation and resume ---------------------------------------------------------
def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        with warnings.catch_warnings():  # multivariate / group / constant_liar are experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.TPESampler(
                seed=seed, multivariate=True, group=True, constant_liar=True, n_startup_trials=5
            )
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=20)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise StudyError(
        f"unknown sampler {name!r}; expected one of: {', '.join(SAMPLERS)}"
        f"{did_you_mean(name, SAMPLERS)}"
    )


MIN_PRUNE_EPOCHS = 4
HALVING = 3  # successive halving: a third of the candidates at a rung go on to the next


def rungs(epochs: int) -> list[int]:
    """Epochs (1-based) after which successive halving decides: half the proxy, then x3
    while below the last epoch. Not earlier: in the first half the proxy's accuracies
    measure convergence speed (measured on digits: after epoch 1 every network is at
    chance, 10.9 %; after epoch 2 the edge seed is at 33-56 % and MobileNetV3-L at 84 %;
    both end at 96-97 % after 6)."""
    if epochs < MIN_PRUNE_EPOCHS:
        return []
    out, e = [], epochs // 2
    while e < epochs:
        out.append(e)
        e *= HALVING
    return out


def make_pruner(directions: list[str], epochs: int) -> optuna.pruners.BasePruner:
    """Multi-fidelity for single-objective studies: Optuna's successive halving over epochs
    (steps = epochs trained; rungs at `rungs`; at each, a candidate goes on only if it is in
    the best third of those that reached the rung), on the objective with the epoch's
    accuracy. So poor candidates stop at half the proxy and the best train all of it.
    Pareto studies (Optuna cannot prune them) stop at the same rungs by `pareto_rung_stop`;
    proxies under MIN_PRUNE_EPOCHS epochs are not pruned."""
    if len(directions) > 1 or not rungs(epochs):
        return optuna.pruners.NopPruner()
    return optuna.pruners.SuccessiveHalvingPruner(
        min_resource=rungs(epochs)[0], reduction_factor=HALVING, min_early_stopping_rate=0
    )


def pareto_rung_stop(mine: list[float], rivals: list[list[float]], directions: list[str]) -> bool:
    """Successive halving for a Pareto search, at one rung: ``mine`` and ``rivals`` are the
    objective vectors of the candidates that reached it (accuracy as of that epoch). Rank
    each by how many others dominate it; the candidate goes on if it is among the best
    1/HALVING by that count (ties go on). Fewer than HALVING rivals: it goes on.

    Example:
        >>> d = ["maximize", "minimize"]
        >>> pareto_rung_stop([50.0, 9.0], [[90.0, 1.0], [80.0, 2.0], [70.0, 3.0]], d)
        True
        >>> pareto_rung_stop([95.0, 9.0], [[90.0, 1.0], [80.0, 2.0], [70.0, 3.0]], d)
        False
    """
    if len(rivals) < HALVING:
        return False
    signs = [1.0 if d == "maximize" else -1.0 for d in directions]

    def dominates(a: list[float], b: list[float]) -> bool:
        pairs = [(s * x, s * y) for s, x, y in zip(signs, a, b, strict=True)]
        return all(x >= y for x, y in pairs) and any(x > y for x, y in pairs)

    field = [mine, *rivals]
    counts = [sum(dominates(o, v) for o in field if o is not v) for v in field]
    keep = max(1, len(field) // HALVING)
    return counts[0] > sorted(counts)[keep - 1]


def open_study(cfg: ExploreConfig) -> optuna.Study:
    """Create the study (seed enqueued first), or resume it after checking nothing changed."""
    directions = objective_directions(cfg.constraints.utility)
    storage = open_storage(cfg.storage)
    sampler = make_sampler(cfg.sampler, cfg.seed)
    pruner = make_pruner(directions, cfg.constraints.proxy.epochs)
    profile = _profile_summary(cfg) if cfg.constraints.latency.predictor else None
    try:
        study = optuna.create_study(
            storage=storage,
            study_name=cfg.study,
            directions=directions,
            sampler=sampler,
            pruner=pruner,
        )
    except optuna.exceptions.DuplicatedStudyError:  # it exists: resume it
        study = optuna.load_study(
            study_name=cfg.study, storage=storage, sampler=sampler, pruner=pruner
        )
        _await_creation(study, cfg)
        _check_resume(study, cfg)
        recover_stale(study)
        return study
    attrs = {
        "constraints": cfg.constraints.record(),
        "constraints_file": cfg.constraints.source,
        "constraints_name": cfg.constraints.name,
        "description": cfg.constraints.description,
        "space": cfg.space.describe(),
        "space_hash": cfg.space.hash,
        "space_file": cfg.space.source,
        "sampler": cfg.sampler,
        "seed": cfg.seed,
        "directions": directions,
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": machine(),
    }
    if profile is not None:
        attrs["latency_profile"] = profile
    for key, value in attrs.items():
        study.set_user_attr(key, value)
    with warnings.catch_warnings():  # metric names are "experimental" in Optuna
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(objective_names(cfg.constraints.utility))
    if cfg.space.seed is not None:
        study.enqueue_trial(cfg.space.params_of(cfg.space.seed), user_attrs={"seed": True})
    # written last: a process that finds the study waits for it (see _await_creation)
    study.set_user_attr("constraints_hash", cfg.constraints.hash)
    return study


def _profile_summary(cfg: ExploreConfig) -> dict[str, Any]:
    """The device profile the study predicts latency from (refused for another space)."""
    from gensynth.predictor import check_setup, describe, read_profile

    path = cfg.constraints.latency.predictor
    data = read_profile(path)  # its data, not the fitted predictor: the inquisitor fits it
    p = data["provenance"]
    check_setup(cfg.constraints, p)
    if p.get("space_hash") != cfg.space.hash:
        raise StudyError(
            f"{cfg.constraints.source}: latency.predictor: {path} profiles design space "
            f"{p.get('space')!r} (hash {p.get('space_hash')}), not "
            f"{cfg.space.source} (hash {cfg.space.hash}): profile this space on the device"
        )
    return {"path": path, "provenance": p, "error": data["error"], "text": describe(path, data)}


CREATION_WAIT_S = 60.0


def _await_creation(study: optuna.Study, cfg: ExploreConfig) -> None:
    """Another process created the study a moment ago and is still writing its settings
    (Optuna stores attributes one by one): wait for the last one before comparing."""
    deadline = time.time() + CREATION_WAIT_S
    while "constraints_hash" not in study.user_attrs:
        if time.time() > deadline:
            raise StudyError(
                f"study {cfg.study!r} in {cfg.storage} exists but its settings were never "
                f"completely stored (its creating process died?): delete it "
                f"(optuna delete-study) or use --study NEW_NAME"
            )
        time.sleep(0.2)


def _check_resume(study: optuna.Study, cfg: ExploreConfig) -> None:
    attrs = study.user_attrs
    changes = []
    if attrs.get("constraints_hash") != cfg.constraints.hash:
        changes += [
            f"constraints {c}"
            for c in _diff(attrs.get("constraints", {}), cfg.constraints.record())
        ]
    if attrs.get("space_hash") != cfg.space.hash:
        changes += [
            f"design space {c}" for c in _diff(attrs.get("space", {}), cfg.space.describe())
        ]
    if changes:
        shown = "; ".join(changes[:5]) + (
            f"; and {len(changes) - 5} more" if len(changes) > 5 else ""
        )
        raise StudyError(
            f"study {cfg.study!r} in {cfg.storage} was created with other settings ({shown}). "
            f"Resuming would mix incomparable trials: restore the files, or start a new study "
            f"with --study NEW_NAME."
        )


def _diff(old: Any, new: Any, path: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        return [
            c
            for k in sorted(set(old) | set(new), key=str)
            for c in _diff(old.get(k), new.get(k), f"{path}.{k}" if path else str(k))
        ]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [
            c
            for i, (a, b) in enumerate(zip(old, new, strict=True))
            for c in _diff(a, b, f"{path}[{i}]")
        ]
    return [] if old == new else [f"{path or '(all)'}: {old!r} -> {new!r}"]


def recover_stale(study: optuna.Study) -> list[int]:
    """Trials left RUNNING by a process of this host that no longer exists: mark them failed
    and enqueue their parameters again, so a kill -9 loses no trial."""
    recovered = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if left_behind(t):
            study.tell(t.number, state=TrialState.FAIL)
            study.enqueue_trial(
                t.params, user_attrs={"retry_of": t.number, "seed": bool(t.user_attrs.get("seed"))}
            )
            recovered.append(t.number)
    return recovered


def requeue_interrupted(study: optuna.Study) -> list[int]:
    """Trials this process was running when Ctrl-C stopped it (Optuna marks them FAIL before
    any result was recorded): enqueue their parameters again, as after a kill -9."""
    me = f"{socket.gethostname()}:{os.getpid()}"
    done = {t.user_attrs.get("retry_of") for t in study.get_trials(deepcopy=False)}
    requeued = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        if (
            t.user_attrs.get("worker") == me
            and "status" not in t.user_attrs
            and t.number not in done
        ):
            study.enqueue_trial(
                t.params, user_attrs={"retry_of": t.number, "seed": bool(t.user_attrs.get("seed"))}
            )
            requeued.append(t.number)
    return requeued


def left_behind(t: FrozenTrial) -> bool:
    """A RUNNING trial whose process, on this host, is gone (or is this very process)."""
    host, _, pid = str(t.user_attrs.get("worker", "")).rpartition(":")
    return host == socket.gethostname() and pid.isdigit() and stale(int(pid))


def stale(pid: int) -> bool:
    """A trial of this host marked RUNNING by ``pid`` is stale when that process is gone, or
    is this one (which runs one trial at a time and is not running any when it asks)."""
    return pid == os.getpid() or not alive(pid)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def machine() -> dict[str, Any]:
    import torch

    return {
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "optuna": optuna.__version__,
    }


def weights_dir(storage: str, study: str) -> Path:
    """Where a study keeps proxy-trained weights (absolute): beside its journal, named after
    the journal and the study, so same-named studies in other storages never share it."""
    path = journal_path(storage)
    if path is not None:
        return (path.parent / f"{path.stem}.{study}.weights").resolve()
    from gensynth.units import content_hash

    return (STUDIES_DIR / f"{study}.{content_hash(storage)}.weights").resolve()


# --- reading results -------------------------------------------------------------------
def feasible_records(study: optuna.Study) -> list[TrialRecord]:
    return [r for r in read_all(study) if r.feasible and r.state == "complete"]


def direction_sign(study: optuna.Study) -> int:
    return 1 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else -1


def best_value(study: optuna.Study) -> float | None:
    values = [r.values[0] for r in feasible_records(study)]
    if not values:
        return None
    return max(values) if direction_sign(study) > 0 else min(values)


def best_record(study: optuna.Study) -> TrialRecord | None:
    """The chosen architecture: best feasible by the utility (first objective for Pareto,
    among the feasible Pareto front)."""
    feasible = feasible_records(study)
    if not feasible:
        return None
    if len(study.directions) > 1:
        front = {t.number for t in study.best_trials}
        feasible = [r for r in feasible if r.number in front] or feasible
    sign = direction_sign(study)
    return max(feasible, key=lambda r: sign * r.values[0])


def choose(study: optuna.Study, which: str | int = "best") -> TrialRecord:
    """A trial's record by number, or 'best' (the chosen architecture)."""
    if which == "best":
        chosen = best_record(study)
        if chosen is None:
            raise ExportError(
                f"study {study.study_name!r} has no feasible trial yet; pick one "
                f"with --trial N (see the report's nearest misses)"
            )
        return chosen
    trials = study.get_trials(deepcopy=False)
    last = len(trials) - 1
    if not str(which).isdigit() or int(which) > last:
        raise ExportError(f"--trial: must be 'best' or a trial number 0..{last}, got {which!r}")
    record = TrialRecord.read(trials[int(which)])
    if record.spec is None:
        raise ExportError(f"trial {record.number} has no recorded spec (state {record.state})")
    return record


def trained(record: TrialRecord) -> tuple[ArchSpec, dict | None]:
    """The trial's spec and its stored proxy-trained weights (spec as trained), or None."""
    spec = record.arch()
    if not record.weights or not Path(record.weights).exists():
        return spec, None
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(record.weights, "pt") as f:
        spec = ArchSpec.from_dict(json.loads(f.metadata()["spec"]))  # the proxy's classes
    return spec, load_file(record.weights)


def deployment_resolution(study: optuna.Study) -> int:
    return study.user_attrs.get("constraints", {}).get("deployment", {}).get("resolution", 224)
