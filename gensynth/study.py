"""Studies: storage (journal file or any Optuna URL), creation with the seed, resume checks,
recovery of trials left running by killed processes, and reading results."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from gensynth.constraints import Constraints
from gensynth.errors import StudyError, did_you_mean
from gensynth.space import DesignSpace, content_hash
from gensynth.utility import objective_directions

SAMPLERS = ("tpe", "nsga2", "random")
STUDIES_DIR = Path("studies")
DONE_STATES = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass(frozen=True)
class ExploreConfig:
    """One `gensynth explore` run."""

    constraints: Constraints
    space: DesignSpace
    study: str
    storage: str  # an Optuna storage URL, or the path of a journal file
    sampler: str = "tpe"
    trials: int = 30  # finished trials the study should hold when this run ends
    timeout: float | None = None  # seconds for this run
    workers: int = 1
    seed: int = 0


# --- storage ---------------------------------------------------------------------------
def default_storage(study: str) -> str:
    return str(STUDIES_DIR / f"{study}.journal")


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """A journal file (the embedded default: no server, survives kill -9, several local
    workers) or any Optuna storage URL (sqlite:///x.db, postgresql://...)."""
    if "://" in url:
        retry = optuna.storages.RetryFailedTrialCallback(max_retry=2)
        try:
            return optuna.storages.RDBStorage(url, heartbeat_interval=30, grace_period=120,
                                              failed_trial_callback=retry)
        except Exception as exc:  # driver missing, server down, bad URL
            raise StudyError(f"--storage {url}: cannot open ({type(exc).__name__}: {exc})"
                             ) from None
    path = Path(url.removeprefix("journal:"))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        backend = optuna.storages.journal.JournalFileBackend(
            str(path), lock_obj=optuna.storages.journal.JournalFileOpenLock(str(path)))
        return optuna.storages.journal.JournalStorage(backend)
    except (OSError, ValueError) as exc:
        raise StudyError(f"--storage {url}: cannot use it as a journal file ({exc})") from None


def list_studies(storage: str) -> list[optuna.study.StudySummary]:
    return optuna.get_all_study_summaries(open_storage(storage), include_best_trial=False)


def load_study(study: str, storage: str | None = None) -> optuna.Study:
    """Open an existing study (read side: report, export)."""
    url = storage or default_storage(study)
    if "://" not in url and not Path(url.removeprefix("journal:")).exists():
        raise StudyError(f"no study {study!r}: storage {url} does not exist (run `gensynth "
                         f"explore` first, or pass --storage)")
    backend = open_storage(url)
    names = [s.study_name for s in optuna.get_all_study_summaries(backend, False)]
    if study not in names:
        raise StudyError(f"no study {study!r} in {url}; studies there: "
                         f"{', '.join(names) or 'none'}{did_you_mean(study, names)}")
    return optuna.load_study(study_name=study, storage=backend)


# --- study creation and resume ---------------------------------------------------------
def make_sampler(name: str, seed: int, multi: bool) -> optuna.samplers.BaseSampler:
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True,
                                          constant_liar=True, n_startup_trials=5)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=20)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise StudyError(f"unknown sampler {name!r}; expected one of: {', '.join(SAMPLERS)}"
                     f"{did_you_mean(name, SAMPLERS)}")


MIN_PRUNE_EPOCHS = 4


def make_pruner(directions: list[str], epochs: int) -> optuna.pruners.BasePruner:
    """Prune on per-epoch proxy accuracy: in the second half of training, trials below the
    25th percentile of earlier ones. Single-objective studies with proxies of at least
    MIN_PRUNE_EPOCHS epochs only: on a 3-epoch digits proxy pruning saved one epoch and
    cut 21 of 60 trials that were at 91-98% (the floor was 80%)."""
    if len(directions) > 1 or epochs < MIN_PRUNE_EPOCHS:
        return optuna.pruners.NopPruner()
    return optuna.pruners.PercentilePruner(25.0, n_startup_trials=5,
                                           n_warmup_steps=epochs // 2)


def constraints_record(c: Constraints) -> dict[str, Any]:
    data = dataclasses.asdict(c)
    for key in ("source", "hash", "name", "description"):
        data.pop(key)
    return json.loads(json.dumps(data))  # plain JSON: what the storage gives back


def open_study(cfg: ExploreConfig) -> optuna.Study:
    """Create the study (seed enqueued first), or resume it after checking nothing changed."""
    directions = objective_directions(cfg.constraints.utility)
    storage = open_storage(cfg.storage)
    sampler, pruner = make_sampler(cfg.sampler, cfg.seed, len(directions) > 1), \
        make_pruner(directions, cfg.constraints.proxy.epochs)
    names = [s.study_name for s in optuna.get_all_study_summaries(storage, False)]
    if cfg.study in names:
        study = optuna.load_study(study_name=cfg.study, storage=storage, sampler=sampler,
                                  pruner=pruner)
        _check_resume(study, cfg)
        recover_stale(study)
        return study
    study = optuna.create_study(storage=storage, study_name=cfg.study, directions=directions,
                                sampler=sampler, pruner=pruner)
    record = constraints_record(cfg.constraints)
    attrs = {"constraints": record, "constraints_hash": content_hash(record),
             "constraints_file": cfg.constraints.source, "constraints_name": cfg.constraints.name,
             "description": cfg.constraints.description,
             "space": cfg.space.describe(), "space_hash": cfg.space.hash,
             "space_file": cfg.space.source, "sampler": cfg.sampler, "seed": cfg.seed,
             "directions": directions, "created": time.strftime("%Y-%m-%d %H:%M:%S"),
             "machine": machine(), "runs": []}
    for key, value in attrs.items():
        study.set_user_attr(key, value)
    if cfg.space.seed is not None:
        study.enqueue_trial(cfg.space.params_of(cfg.space.seed), user_attrs={"seed": True})
    return study


def _check_resume(study: optuna.Study, cfg: ExploreConfig) -> None:
    attrs = study.user_attrs
    changes = []
    record = constraints_record(cfg.constraints)
    if attrs.get("constraints_hash") != content_hash(record):
        changes += [f"constraints {c}" for c in _diff(attrs.get("constraints", {}), record)]
    if attrs.get("space_hash") != cfg.space.hash:
        changes += [f"design space {c}" for c in _diff(attrs.get("space", {}),
                                                         cfg.space.describe())]
    if changes:
        shown = "; ".join(changes[:5]) + (f"; and {len(changes) - 5} more" if len(changes) > 5
                                          else "")
        raise StudyError(
            f"study {cfg.study!r} in {cfg.storage} was created with other settings ({shown}). "
            f"Resuming would mix incomparable trials: restore the files, or start a new study "
            f"with --study NEW_NAME.")


def _diff(old: Any, new: Any, path: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        return [c for k in sorted(set(old) | set(new), key=str)
                for c in _diff(old.get(k), new.get(k), f"{path}.{k}" if path else str(k))]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [c for i, (a, b) in enumerate(zip(old, new, strict=True))
                for c in _diff(a, b, f"{path}[{i}]")]
    return [] if old == new else [f"{path or '(all)'}: {old!r} -> {new!r}"]


def recover_stale(study: optuna.Study) -> list[int]:
    """Trials left RUNNING by a process of this host that no longer exists: mark them failed
    and enqueue their parameters again, so a kill -9 loses no trial."""
    recovered = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        host, _, pid = str(t.user_attrs.get("worker", "")).rpartition(":")
        if host == socket.gethostname() and pid.isdigit() and not _alive(int(pid)):
            study.tell(t.number, state=TrialState.FAIL)
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number,
                                                      "seed": bool(t.user_attrs.get("seed"))})
            recovered.append(t.number)
    return recovered


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def machine() -> dict[str, Any]:
    import torch

    return {"host": socket.gethostname(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "python": platform.python_version(), "torch": torch.__version__,
            "optuna": optuna.__version__}


def weights_dir(storage: str, study: str) -> Path:
    base = Path(storage.removeprefix("journal:")).parent if "://" not in storage else STUDIES_DIR
    return base / f"{study}.weights"



# --- reading results -------------------------------------------------------------------
def feasible_trials(study: optuna.Study) -> list[FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.user_attrs.get("status") == "feasible"]


def best_value(study: optuna.Study) -> float | None:
    values = [t.values[0] for t in feasible_trials(study)]
    if not values:
        return None
    return max(values) if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE \
        else min(values)


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    """The chosen architecture: best feasible by the utility (first objective for Pareto,
    among the feasible Pareto front)."""
    feasible = feasible_trials(study)
    if not feasible:
        return None
    if len(study.directions) > 1:
        front = {t.number for t in study.best_trials}
        feasible = [t for t in feasible if t.number in front] or feasible
    sign = 1 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else -1
    return max(feasible, key=lambda t: sign * t.values[0])
