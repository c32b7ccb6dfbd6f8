"""Design spaces (generators/*.yaml) and the generator G: DesignSpace.sample(trial) -> ArchSpec."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from gensynth.errors import ConfigError, SpecError
from gensynth.schema import Reader, read_document, show_value
from gensynth.spec import (
    BLOCKS,
    DOWNSAMPLES,
    ENTRIES,
    GATES,
    INTERACTIONS,
    LIMITS,
    STEM_CONV_DOWNSAMPLES,
    ArchSpec,
    Head,
    Stage,
    Stem,
    load_spec,
)
from gensynth.units import content_hash


class Suggester(Protocol):
    """What sampling needs from an Optuna trial (define-by-run)."""

    def suggest_int(
        self, name: str, low: int, high: int, step: int = 1, log: bool = False
    ) -> int: ...

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int
    step: int = 1
    log: bool = False


Domain = IntRange | tuple  # an integer range or a tuple of categorical choices

# A `columns` choice: one column per channel (the grouped 3x3 convs become depthwise, the
# only grouped convolutions with fast CPU kernels: README "Design notes"). The spec stores
# the number (columns == width), the trial parameter the word.
DEPTHWISE = "depthwise"

# Per-stage options: key -> (allowed values or None for integers, default domain)
STAGE_OPTIONS: dict[str, tuple[tuple | None, Domain]] = {
    "depth": (None, IntRange(1, 4)),
    "columns": (None, (1, 2, 4)),
    "block": (BLOCKS, BLOCKS),
    "entry": (ENTRIES, ("dcac",)),
    "interaction": (INTERACTIONS, INTERACTIONS),
    "stride": ((1, 2), (1, 2)),
    "downsample": (DOWNSAMPLES, DOWNSAMPLES),
    "expansion": (None, (1, 2)),
    "gate": (GATES, GATES),
    "reduction": (None, (4,)),
    "blur_size": (None, (3,)),
}
STEM_OPTIONS: dict[str, tuple[tuple | None, Domain]] = {
    "width": (None, (16, 24, 32)),
    "columns": (None, (1, 2, 4)),
    "conv_downsample": (STEM_CONV_DOWNSAMPLES, ("strided_conv",)),
    "downsample": ((*DOWNSAMPLES, "none"), ("avg", "blur", "none")),
}
HEAD_OPTIONS: dict[str, tuple[tuple | None, Domain]] = {
    "width": (None, (None,)),
}


@dataclass(frozen=True)
class DesignSpace:
    """The ranges and choices the generator samples from; the seed is the first trial."""

    name: str
    source: str = ""
    seed: ArchSpec | None = None
    stage_count: IntRange = IntRange(2, 4)
    stage_widths: tuple[IntRange, ...] = (
        IntRange(16, 64, 4),
        IntRange(32, 128, 4),
        IntRange(64, 256, 4),
        IntRange(128, 512, 4),
    )
    stage: dict[str, Domain] = field(
        default_factory=lambda: {k: d for k, (_, d) in STAGE_OPTIONS.items()}
    )
    stem: dict[str, Domain] = field(
        default_factory=lambda: {k: d for k, (_, d) in STEM_OPTIONS.items()}
    )
    head: dict[str, Domain] = field(
        default_factory=lambda: {k: d for k, (_, d) in HEAD_OPTIONS.items()}
    )

    @property
    def hash(self) -> str:
        """Content hash of the space (and its seed): resuming with another space is refused."""
        return content_hash(self.describe())

    def describe(self) -> dict[str, Any]:
        data = asdict(self)
        data["seed"] = self.seed.to_dict() if self.seed else None
        data.pop("source")
        return json.loads(json.dumps(data, default=str))  # plain JSON: what storage returns

    def sample(self, trial: Suggester, name: str = "candidate") -> ArchSpec:
        """Draw one spec (define-by-run); every sampled spec is shape-consistent and builds."""
        stem = Stem(**{k: _suggest(trial, f"stem_{k}", d) for k, d in self.stem.items()})
        if stem.columns == DEPTHWISE:
            stem = Stem(**{**asdict(stem), "columns": stem.width})
        if stem.width % stem.columns:
            stem = Stem(**{**asdict(stem), "width": _round_to(stem.width, stem.columns)})
        count = _suggest(trial, "stages", self.stage_count)
        stages = tuple(self._stage(trial, i) for i in range(count))
        head = Head(**{k: _suggest(trial, f"head_{k}", d) for k, d in self.head.items()})
        return ArchSpec(name, stem=stem, stages=stages, head=head)

    def _stage(self, trial: Suggester, i: int) -> Stage:
        def pick(key: str) -> Any:
            return _suggest(trial, f"s{i}_{key}", self.stage[key])

        columns, block, entry, stride = (
            pick("columns"),
            pick("block"),
            pick("entry"),
            pick("stride"),
        )
        width = _suggest(trial, f"s{i}_width", self.stage_widths[i])
        columns = width if columns == DEPTHWISE else columns
        width = _round_to(width, columns)
        return Stage(
            width=width,
            depth=pick("depth"),
            columns=columns,
            block=block,
            entry=entry,
            interaction=pick("interaction"),
            stride=stride,
            downsample=pick("downsample") if stride == 2 else "blur",
            expansion=pick("expansion") if block == "bottleneck" else 1,
            gate=pick("gate") if entry == "dcac" else "softmax",
            reduction=pick("reduction") if entry == "ac" else 4,
            blur_size=pick("blur_size"),
        )

    def params_of(self, spec: ArchSpec) -> dict[str, Any]:
        """The trial parameters under which `sample` reproduces ``spec`` (to enqueue the seed)."""
        recorder = _Recorder(spec)
        # classes and input channels come from the constraints file, not from the space
        again = self.sample(recorder, spec.name).replace(
            in_channels=spec.in_channels, num_classes=spec.num_classes
        )
        if recorder.mismatch or again.hash != spec.hash:
            raise ConfigError(
                f"{self.source}: seed: the seed spec {spec.name!r} is outside this "
                f"design space ({recorder.mismatch or 'a fixed option differs'})"
            )
        return recorder.params


def load_space(path: str | Path) -> DesignSpace:
    """Read and validate a design-space file (YAML, safe loader; unknown keys rejected)."""
    path = Path(path)
    r = Reader(read_document(path, ConfigError, "design-space")[0], str(path))
    seed_file = r.str("seed", None)
    seed = None
    if seed_file:
        seed_path = path.parent / seed_file
        r.check("seed", seed_path.is_file(), f"file not found: {seed_path}, got {seed_file!r}")
        try:
            seed = load_spec(seed_path)
        except SpecError as exc:
            raise ConfigError(f"{path}: seed: {exc}") from None
    stages = r.child("stages", {})
    count = _domain(stages, "count", (None, IntRange(2, 4)), "stages", integers_only=True)
    default_widths = DesignSpace.stage_widths
    widths = tuple(
        _int_range(w, "stage.width")
        for w in stages.children("width", [asdict(w) for w in default_widths], min_len=1)
    )
    stages.check(
        "width",
        len(widths) >= count.high,
        f"needs a range for each of up to {count.high} stages, got {len(widths)}",
    )
    space = DesignSpace(
        name=r.str("name", path.stem),
        source=str(path),
        seed=seed,
        stage_count=count,
        stage_widths=widths,
        stage=_section(stages, STAGE_OPTIONS, "stage", skip={"count", "width"}),
        stem=_section(r.child("stem", {}), STEM_OPTIONS, "stem"),
        head=_section(r.child("head", {}), HEAD_OPTIONS, "head"),
    )
    r.done()
    if seed is not None:
        space.params_of(seed)  # refuse a seed the space cannot produce
    return space


def _section(
    r: Reader,
    options: dict[str, tuple[tuple | None, Domain]],
    section: str,
    skip: set[str] = frozenset(),
) -> dict[str, Domain]:
    result = {key: _domain(r, key, option, f"{section}.{key}") for key, option in options.items()}
    r.done(allowed_extra=lambda k: k in skip)
    return result


def _domain(
    r: Reader,
    key: str,
    option: tuple[tuple | None, Domain],
    limit: str,
    integers_only: bool = False,
) -> Domain:
    """A list of choices, a single value, or an integer range {low, high, step, log}; integers
    within the spec's `LIMITS` for the field."""
    allowed, default = option
    value = r.raw(key, None)
    if value is None and not r.has(key):
        return default
    if isinstance(value, dict):
        r.check(
            key,
            allowed is None,
            f"must be a list of choices from: {', '.join(map(str, allowed or ()))}, got {value!r}",
        )
        return _int_range(r.child(key), limit)
    r.check(key, not integers_only, f"must be a range {{low: .., high: ..}}, got {value!r}")
    choices = tuple(value) if isinstance(value, list) else (value,)
    r.check(key, len(choices) > 0, "must list at least one choice, got []")
    for i, choice in enumerate(choices):
        if allowed is not None:
            r.check(
                key,
                choice in allowed,
                f"item {i} must be one of: {', '.join(map(str, allowed))}, got {choice!r}",
            )
        elif key == "columns" and choice == DEPTHWISE:
            continue
        elif choice is not None or r.key_path(key) != "head.width":  # only head.width: null
            r.check(
                key,
                isinstance(choice, int) and not isinstance(choice, bool) and choice >= 1,
                f"item {i} must be a positive integer"
                f"{f' or {DEPTHWISE!r}' if key == 'columns' else ''}, got {show_value(choice)}",
            )
            most = LIMITS.get(limit, (1, None))[1]
            r.check(
                key, most is None or choice <= most, f"item {i} must be <= {most}, got {choice}"
            )
    return choices


def _int_range(r: Reader, limit: str) -> IntRange:
    least, most = LIMITS.get(limit, (1, None))
    low = r.int("low", low=least, high=most)
    high = r.int("high", low=least, high=most)
    r.check("high", high >= low, f"must be >= low={low}, got {high}")
    step, log = r.int("step", 1, low=1), r.bool("log", False)
    r.check("step", not (log and step != 1), f"must be 1 when log is true, got {step}")
    r.done()
    return IntRange(low, high, step, log)


def _suggest(trial: Suggester, name: str, domain: Domain) -> Any:
    if isinstance(domain, IntRange):
        return trial.suggest_int(name, domain.low, domain.high, step=domain.step, log=domain.log)
    return domain[0] if len(domain) == 1 else trial.suggest_categorical(name, domain)


def _round_to(value: int, multiple: int) -> int:
    return max(multiple, round(value / multiple) * multiple)


class _Recorder:
    """A stand-in trial that answers suggestions from an existing spec, recording them."""

    def __init__(self, spec: ArchSpec) -> None:
        self.spec, self.params, self.mismatch = spec, {}, ""

    def _value(self, name: str) -> Any:
        section, _, key = name.partition("_")
        if section == "stages":
            return len(self.spec.stages)
        if section in ("stem", "head"):
            return getattr(getattr(self.spec, section), key)
        return getattr(self.spec.stages[int(section[1:])], key)

    def suggest_int(self, name: str, low: int, high: int, step: int = 1, log: bool = False) -> int:
        value = self._value(name)
        if not (low <= value <= high and (value - low) % step == 0):
            self.mismatch = self.mismatch or f"{name}={value} not in [{low}, {high}] step {step}"
        self.params[name] = value
        return value

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        value = self._value(name)
        if name.endswith("_columns") and value not in choices and DEPTHWISE in choices:
            width = self._value(name.replace("_columns", "_width"))
            value = DEPTHWISE if value == width else value
        if value not in choices:
            self.mismatch = self.mismatch or f"{name}={value!r} not in {list(choices)}"
        self.params[name] = value
        return value
