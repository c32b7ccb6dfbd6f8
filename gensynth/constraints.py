"""Constraints files: one deployment profile (input, utility, rules, budgets, proxy task)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gensynth.errors import ConfigError, did_you_mean
from gensynth.references import BUILTIN, SOURCE_KINDS
from gensynth.schema import Reader, read_document
from gensynth.spec import LIMITS
from gensynth.units import OBJECTIVES, content_hash

BACKENDS = ("torch", "onnxruntime")
DATASETS = ("digits", "folder", "npz", "cifar10", "cifar100", "idx")


@dataclass(frozen=True)
class Relative:
    """A budget relative to a reference network: metric <= ratio x the reference's.

    For latency, ``ratio`` is the latency ratio: ``speedup: 2`` (2x the reference's
    throughput) is ratio 0.5. The reference is a built-in name (`gensynth references`) or
    ``spec:PATH``, ``onnx:PATH``, ``torchscript:PATH`` (paths relative to the constraints
    file) or ``timm:NAME``.
    """

    reference: str
    ratio: float


@dataclass(frozen=True)
class RelativeFloor:
    """An accuracy floor set by a reference trained on the same proxy with the same recipe:
    top-1 >= the reference's top-1 - ``margin`` points."""

    reference: str
    margin: float = 0.0


Limit = float | Relative  # an absolute budget in the metric's unit, or a relative one


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
    accuracy_floor: float | RelativeFloor | None = None  # proxy top-1 in %, or a reference
    shift_consistency_min: float | None = None  # % of shifted image pairs agreeing


@dataclass(frozen=True)
class Budgets:
    """Each budget: None (off), a number in the metric's unit, or a `Relative` limit."""

    params_m: Limit | None = None
    macs_g: Limit | None = None
    latency_ms: Limit | None = None
    peak_activation_mb: Limit | None = None


@dataclass(frozen=True)
class LatencyConfig:
    backend: str = "torch"
    threads: int = 1
    warmup: int = 3
    runs: int = 15
    predictor: str | None = None  # a device profile (gensynth profile): predict, not measure


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
    warmup_epochs: float = 0.0  # linear warm-up of the learning rate from 0 (epochs)
    label_smoothing: float = 0.0
    val_fraction: float = 0.25
    max_images: int | None = None  # cap on images used (train + validation)
    augment_shift: int = 2  # random shift in pixels (0: off)
    augment_flip: bool = False
    threads: int = 2
    seed: int = 0
    seeds: int = 1  # networks trained per candidate (seeds seed, seed + 1, ...): mean top-1
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

    def record(self) -> dict[str, Any]:
        """What a study stores and compares on resume: everything but labels and the path."""
        data = dataclasses.asdict(self)
        for key in ("source", "name", "description"):
            data.pop(key)
        if data["proxy"]["seeds"] == 1:  # the default: studies made before it existed resume
            data["proxy"].pop("seeds")
        return json.loads(json.dumps(data))  # plain JSON: what the storage gives back

    @property
    def hash(self) -> str:
        """Content hash of `record()`: comments and key order do not change it."""
        return content_hash(self.record())

    def references(self) -> list[str]:
        """Every reference the budgets and rules name, in order, once each."""
        limits = [getattr(self.budgets, f.name) for f in dataclasses.fields(self.budgets)]
        named = [x.reference for x in limits if isinstance(x, Relative)]
        if isinstance(self.rules.accuracy_floor, RelativeFloor):
            named.append(self.rules.accuracy_floor.reference)
        return list(dict.fromkeys(named))


def load_constraints(path: str | Path) -> Constraints:
    """Read and validate a constraints YAML file (safe loader; unknown keys rejected)."""
    path = Path(path)
    data, _ = read_document(path, ConfigError, "constraints")
    return constraints_from_dict(data, str(path), path.stem)


def constraints_from_dict(
    data: object, source: str = "", default_name: str = "constraints"
) -> Constraints:
    r = Reader(data, source)
    c = Constraints(
        name=r.name("name", default_name),
        source=source,
        description=r.str("description", None) or "",
        deployment=_deployment(r.child("deployment", {})),
        utility=_utility(r.child("utility", {})),
        rules=_rules(r.child("rules", {})),
        budgets=_budgets(r.child("budgets", {})),
        latency=_latency(r.child("latency", {})),
        proxy=_proxy(r.child("proxy", {})),
    )
    r.done()
    if c.utility.kind == "pareto" and "latency_ratio" in c.utility.objectives:
        r.check(
            "utility.objectives",
            isinstance(c.budgets.latency_ms, Relative),
            "latency_ratio needs a relative latency budget (budgets.latency_ms: {speedup: "
            "S, over: REF}) to measure the ratio against, got "
            f"{c.budgets.latency_ms!r}",
        )
    return c


def _deployment(r: Reader) -> Deployment:
    d = Deployment(
        r.int("resolution", 224, low=8, high=4096),
        r.int("channels", 3, low=1, high=LIMITS["in_channels"][1]),
        r.int("classes", 1000, low=1, high=LIMITS["num_classes"][1]),
        r.int("batch", 1, low=1, high=1024),
    )
    r.done()
    return d


def _utility(r: Reader) -> Utility:
    kind = r.choice("kind", ("netscore", "pareto"), "netscore")
    r.check(
        "objectives",
        kind == "pareto" or not r.has("objectives"),
        "only a pareto utility has objectives (netscore is one number): set kind: pareto "
        "or remove them",
    )
    objectives = r.list("objectives", ["accuracy", "latency_ms"], min_len=1)
    for i, name in enumerate(objectives):
        r.check(
            f"objectives[{i}]",
            name in OBJECTIVES,
            f"must be one of: "
            f"{', '.join(OBJECTIVES)}, got {name!r}{did_you_mean(name, OBJECTIVES)}",
        )
    for i, name in enumerate(objectives):
        r.check(f"objectives[{i}]", objectives.index(name) == i, f"repeats {name!r}: name it once")
    r.check(
        "objectives",
        kind != "pareto" or len(objectives) >= 2,
        f"a pareto utility needs at least 2 objectives, got {len(objectives)}",
    )
    u = Utility(
        kind,
        r.float("alpha", 2.0, low=0.0, high=100.0),
        r.float("beta", 0.5, low=0.0, high=100.0),
        r.float("gamma", 0.5, low=0.0, high=100.0),
        r.choice("macs_unit", ("G", "M"), "G"),
        tuple(objectives),
    )
    r.done()
    return u


def _rules(r: Reader) -> Rules:
    columnar = r.raw("columnar", {"min_stages": 2, "min_columns": 2})
    min_stages, min_columns = None, 2
    if columnar is not False:
        c = Reader(columnar, r.source, r.key_path("columnar"), r.error)
        min_stages = c.int("min_stages", 2, low=1, high=LIMITS["stages"][1])
        min_columns = c.int("min_columns", 2, low=2, high=LIMITS["stage.columns"][1])
        c.done()
    aads = _optional(r, "aads", "min_fraction", 0.75, low=0.0, high=1.0)
    floor = _floor(r)
    shift = _optional(r, "shift_consistency", "min_percent", None, low=0.0, high=100.0)
    rules = Rules(min_stages, min_columns, r.bool("no_strided_pointwise", True), aads, floor, shift)
    r.done()
    return rules


def _optional(
    r: Reader, key: str, inner: str, default: float | None, low: float, high: float
) -> float | None:
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


def _floor(r: Reader) -> float | RelativeFloor | None:
    """`{min_top1: X}` (absolute %) or `{reference: NAME, margin: points}`; false: off."""
    value = r.raw("accuracy_floor", None)
    if value is None or value is False:
        return None
    child = r.child("accuracy_floor")
    if isinstance(value, dict) and "reference" in value:
        floor = RelativeFloor(
            _reference(child, "reference"), child.float("margin", 0.0, low=-100.0, high=100.0)
        )
    else:
        floor = child.float("min_top1", low=0.0, high=100.0)
    child.done()
    return floor


def _budgets(r: Reader) -> Budgets:
    b = Budgets(*(_limit(r, k) for k in ("params_m", "macs_g", "latency_ms", "peak_activation_mb")))
    r.done()
    return b


def _limit(r: Reader, key: str) -> Limit | None:
    """A number (absolute, in the key's unit) or `{at_most: R, of: REF}`; for latency also
    `{speedup: S, over: REF}` (at least S x the reference's throughput)."""
    value = r.raw(key, None)
    if not isinstance(value, dict):
        return r.float(key, None, low=0.0, low_open=True, high=1e9)
    child = r.child(key)
    if key == "latency_ms" and ("speedup" in value or "over" in value):
        limit = Relative(
            _reference(child, "over"),
            1.0 / child.float("speedup", low=0.0, low_open=True, high=1e6),
        )
    else:
        limit = Relative(
            _reference(child, "of"), child.float("at_most", low=0.0, low_open=True, high=1e6)
        )
    child.done()
    return limit


def _reference(r: Reader, key: str) -> str:
    """A built-in reference name, or KIND:PATH_OR_NAME with KIND in spec/onnx/torchscript/timm."""
    name = r.str(key)
    kind, sep, rest = name.partition(":")
    if sep:
        r.check(
            key,
            kind in SOURCE_KINDS and bool(rest),
            f"must be KIND:PATH with KIND one of: "
            f"{', '.join(SOURCE_KINDS)}, got {name!r}{did_you_mean(kind, SOURCE_KINDS)}",
        )
        if kind != "timm":  # a file, relative to the constraints file
            where = _beside(r, rest)
            r.check(key, Path(where).is_file(), f"file not found: {where}, got {name!r}")
    else:
        r.check(
            key,
            name in BUILTIN,
            f"must be a built-in reference ({', '.join(BUILTIN)}) or "
            f"KIND:PATH, got {name!r}{did_you_mean(name, BUILTIN)}",
        )
    return name


def _latency(r: Reader) -> LatencyConfig:
    lat = LatencyConfig(
        r.choice("backend", BACKENDS, "torch"),
        r.int("threads", 1, low=1, high=256),
        r.int("warmup", 3, low=0, high=1000),
        r.int("runs", 15, low=1, high=10000),
        _profile_file(r),
    )
    r.done()
    return lat


def _profile_file(r: Reader) -> str | None:
    path = r.str("predictor", None)
    if path is None:
        return None
    where = _beside(r, path)
    r.check("predictor", Path(where).is_file(), f"file not found: {where}, got {path!r}")
    return where


def _beside(r: Reader, path: str) -> str:
    """A path written in the file, resolved against the file's folder (as a seed or a
    reference is): the same file is found whatever the working directory."""
    if not r.source or Path(path).is_absolute():
        return path
    return str(Path(r.source).parent / path)


def _proxy(r: Reader) -> Proxy:
    dataset = r.choice("dataset", DATASETS, "digits")
    path = r.str("path", None)
    path = path and _beside(r, path)
    r.check(
        "path",
        dataset == "digits" or path is not None,
        f"is required for dataset {dataset!r} (where the data lies), got nothing (null)",
    )
    augment = r.child("augment", {})
    p = Proxy(
        dataset=dataset,
        path=path,
        resolution=r.int("resolution", 32, low=8, high=1024),
        epochs=r.int("epochs", 3, low=1, high=1000),
        batch_size=r.int("batch_size", 64, low=1, high=65536),
        optimizer=r.choice("optimizer", ("adamw", "sgd"), "adamw"),
        lr=r.float("lr", 0.003, low=0.0, low_open=True, high=10.0),
        momentum=r.float("momentum", 0.9, low=0.0, high=1.0),
        weight_decay=r.float("weight_decay", 0.0005, low=0.0, high=1.0),
        schedule=r.choice("schedule", ("cosine", "constant"), "cosine"),
        warmup_epochs=r.float("warmup_epochs", 0.0, low=0.0, high=1000.0),
        label_smoothing=r.float("label_smoothing", 0.0, low=0.0, high=0.99),
        val_fraction=r.float("val_fraction", 0.25, low=0.0, low_open=True, high=0.9),
        max_images=r.int("max_images", None, low=10, high=10**9),
        augment_shift=augment.int("shift", 2, low=0, high=64),
        augment_flip=augment.bool("flip", False),
        threads=r.int("threads", 2, low=1, high=256),
        seed=r.int("seed", 0, low=0, high=2**32 - 1),  # numpy's seed range
        seeds=r.int("seeds", 1, low=1, high=100),
        shift_consistency=r.bool("shift_consistency", False),
    )
    augment.done()
    r.done()
    return p


def with_dataset(c: Constraints, data: str | None) -> Constraints:
    """Override the proxy dataset with ``DATASET[:PATH]`` (validated like the file's key).

    Example:
        >>> with_dataset(Constraints("x"), "npz:/data/x.npz").proxy.dataset
        'npz'
    """
    if not data:
        return c
    name, _, path = data.partition(":")
    if name not in DATASETS:
        raise ConfigError(
            f"--data: unknown dataset {name!r}; expected one of: "
            f"{', '.join(DATASETS)}{did_you_mean(name, DATASETS)}"
        )
    if name != "digits" and not path:
        raise ConfigError(f"--data: dataset {name!r} needs a path, e.g. {name}:/data/x")
    proxy = dataclasses.replace(c.proxy, dataset=name, path=path or None)
    return dataclasses.replace(c, proxy=proxy)
