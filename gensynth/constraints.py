"""Constraints files: one deployment profile (input, utility, rules, budgets, proxy task)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from gensynth.errors import ConfigError, did_you_mean
from gensynth.schema import Reader
from gensynth.spec import read_document

METRICS = ("accuracy", "netscore", "params_m", "macs_g", "latency_ms", "peak_activation_mb")
DIRECTIONS = {"accuracy": "maximize", "netscore": "maximize", "params_m": "minimize",
              "macs_g": "minimize", "latency_ms": "minimize", "peak_activation_mb": "minimize"}
BACKENDS = ("torch", "onnxruntime")
DATASETS = ("digits", "folder", "npz", "cifar10", "cifar100")


@dataclass(frozen=True)
class Deployment:
    resolution: int = 224  # square input size (pixels) at which costs and latency are measured
    channels: int = 3
    classes: int = 1000
    batch: int = 1


@dataclass(frozen=True)
class Utility:
    kind: str = "netscore"  # netscore (single objective) | pareto (objectives list)
    alpha: float = 2.0  # accuracy exponent
    beta: float = 0.5  # params exponent
    gamma: float = 0.5  # MACs exponent
    macs_unit: str = "G"  # NetScore's m in G (1e9) or M (1e6) MACs; M subtracts exactly 30
    objectives: tuple[str, ...] = ("accuracy", "latency_ms")  # for kind: pareto


@dataclass(frozen=True)
class Rules:
    columnar_min_stages: int | None = 2  # None disables the rule
    columnar_min_columns: int = 2
    no_strided_pointwise: bool = True
    aads_min_fraction: float | None = 0.75
    accuracy_floor: float | None = None  # proxy top-1 in %
    shift_consistency_min: float | None = None  # % of shifted image pairs agreeing


@dataclass(frozen=True)
class Budgets:
    params_m: float | None = None
    macs_g: float | None = None
    latency_ms: float | None = None
    peak_activation_mb: float | None = None


@dataclass(frozen=True)
class LatencyConfig:
    backend: str = "torch"
    threads: int = 1
    warmup: int = 3
    runs: int = 15


@dataclass(frozen=True)
class Proxy:
    """The proxy task on which candidates are trained briefly (not ImageNet: say so)."""

    dataset: str = "digits"
    path: str | None = None  # folder / .npz / CIFAR directory for user datasets
    resolution: int = 32
    epochs: int = 3
    batch_size: int = 64
    optimizer: str = "adamw"  # adamw | sgd
    lr: float = 0.003
    momentum: float = 0.9
    weight_decay: float = 0.0005
    schedule: str = "cosine"  # cosine | constant
    label_smoothing: float = 0.0
    val_fraction: float = 0.25
    max_images: int | None = None  # cap on images used (train + validation)
    augment_shift: int = 2  # random shift in pixels (0: off)
    augment_flip: bool = False
    threads: int = 2
    seed: int = 0
    shift_consistency: bool = False  # also measure prediction consistency under shifts


@dataclass(frozen=True)
class Constraints:
    """A loaded, validated constraints file.

    Example:
        >>> c = load_constraints("constraints/edge.yaml")  # doctest: +SKIP
        >>> c.rules.aads_min_fraction
        0.75
    """

    name: str
    source: str = ""
    description: str = ""
    deployment: Deployment = field(default_factory=Deployment)
    utility: Utility = field(default_factory=Utility)
    rules: Rules = field(default_factory=Rules)
    budgets: Budgets = field(default_factory=Budgets)
    latency: LatencyConfig = field(default_factory=LatencyConfig)
    proxy: Proxy = field(default_factory=Proxy)
    hash: str = ""  # sha256 of the file's text (for refusing changed files on resume)


def load_constraints(path: str | Path) -> Constraints:
    """Read and validate a constraints YAML file (safe loader; unknown keys rejected)."""
    path = Path(path)
    data, text = read_document(path, ConfigError, "constraints")
    return constraints_from_dict(data, str(path), path.stem,
                                 hashlib.sha256(text.encode()).hexdigest()[:16])


def constraints_from_dict(data: object, source: str = "", default_name: str = "constraints",
                          digest: str = "") -> Constraints:
    r = Reader(data, source)
    c = Constraints(
        name=r.str("name", default_name), source=source,
        description=r.str("description", None) or "",
        deployment=_deployment(r.child("deployment", {})),
        utility=_utility(r.child("utility", {})), rules=_rules(r.child("rules", {})),
        budgets=_budgets(r.child("budgets", {})), latency=_latency(r.child("latency", {})),
        proxy=_proxy(r.child("proxy", {})), hash=digest)
    r.done()
    return c


def _deployment(r: Reader) -> Deployment:
    d = Deployment(r.int("resolution", 224, low=8, high=4096), r.int("channels", 3, low=1),
                   r.int("classes", 1000, low=1), r.int("batch", 1, low=1, high=1024))
    r.done()
    return d


def _utility(r: Reader) -> Utility:
    kind = r.choice("kind", ("netscore", "pareto"), "netscore")
    objectives = r.list("objectives", ["accuracy", "latency_ms"], min_len=1)
    for i, name in enumerate(objectives):
        r.check(f"objectives[{i}]", name in METRICS, f"must be one of: {', '.join(METRICS)}, "
                f"got {name!r}{did_you_mean(name, METRICS)}")
    r.check("objectives", kind != "pareto" or len(objectives) >= 2,
            f"a pareto utility needs at least 2 objectives, got {len(objectives)}")
    u = Utility(kind, r.float("alpha", 2.0, low=0.0), r.float("beta", 0.5, low=0.0),
                r.float("gamma", 0.5, low=0.0), r.choice("macs_unit", ("G", "M"), "G"),
                tuple(objectives))
    r.done()
    return u


def _rules(r: Reader) -> Rules:
    columnar = r.raw("columnar", {"min_stages": 2, "min_columns": 2})
    min_stages, min_columns = None, 2
    if columnar is not False:
        c = Reader(columnar, r.source, r.key_path("columnar"), r.error)
        min_stages, min_columns = c.int("min_stages", 2, low=1), c.int("min_columns", 2, low=2)
        c.done()
    aads = _optional(r, "aads", "min_fraction", 0.75, low=0.0, high=1.0)
    floor = _optional(r, "accuracy_floor", "min_top1", None, low=0.0, high=100.0)
    shift = _optional(r, "shift_consistency", "min_percent", None, low=0.0, high=100.0)
    rules = Rules(min_stages, min_columns, r.bool("no_strided_pointwise", True), aads, floor,
                  shift)
    r.done()
    return rules


def _optional(r: Reader, key: str, inner: str, default: float | None, low: float,
              high: float) -> float | None:
    """A rule written `key: {inner: value}`; `key: false` (or absent, no default) disables it."""
    value = r.raw(key, None)
    if value is None:
        return default
    if value is False:
        return None
    child = r.child(key)
    number = child.float(inner, low=low, high=high)
    child.done()
    return number


def _budgets(r: Reader) -> Budgets:
    b = Budgets(*(r.float(k, None, low=0.0, low_open=True)
                  for k in ("params_m", "macs_g", "latency_ms", "peak_activation_mb")))
    r.done()
    return b


def _latency(r: Reader) -> LatencyConfig:
    lat = LatencyConfig(r.choice("backend", BACKENDS, "torch"),
                        r.int("threads", 1, low=1, high=256),
                        r.int("warmup", 3, low=0, high=1000), r.int("runs", 15, low=1, high=10000))
    r.done()
    return lat


def _proxy(r: Reader) -> Proxy:
    dataset = r.choice("dataset", DATASETS, "digits")
    path = r.str("path", None)
    r.check("path", dataset == "digits" or path is not None,
            f"is required for dataset {dataset!r} (where the data lies), got nothing (null)")
    augment = r.child("augment", {})
    p = Proxy(
        dataset=dataset, path=path, resolution=r.int("resolution", 32, low=8, high=1024),
        epochs=r.int("epochs", 3, low=1, high=1000),
        batch_size=r.int("batch_size", 64, low=1, high=65536),
        optimizer=r.choice("optimizer", ("adamw", "sgd"), "adamw"),
        lr=r.float("lr", 0.003, low=0.0, low_open=True, high=10.0),
        momentum=r.float("momentum", 0.9, low=0.0, high=1.0),
        weight_decay=r.float("weight_decay", 0.0005, low=0.0, high=1.0),
        schedule=r.choice("schedule", ("cosine", "constant"), "cosine"),
        label_smoothing=r.float("label_smoothing", 0.0, low=0.0, high=0.99),
        val_fraction=r.float("val_fraction", 0.25, low=0.0, low_open=True, high=0.9),
        max_images=r.int("max_images", None, low=10),
        augment_shift=augment.int("shift", 2, low=0, high=64),
        augment_flip=augment.bool("flip", False),
        threads=r.int("threads", 2, low=1, high=256), seed=r.int("seed", 0, low=0),
        shift_consistency=r.bool("shift_consistency", False))
    augment.done()
    r.done()
    return p
