"""ArchSpec: the pure-data description of a columnar DC-AC network (macro and micro design)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gensynth.errors import SpecError
from gensynth.schema import Reader, name_problem, read_document
from gensynth.units import content_hash

BLOCKS = ("basic", "bottleneck")
ENTRIES = ("dcac", "ac", "conv")
INTERACTIONS = ("isolated", "mixed")
GATES = ("softmax", "sigmoid")
# Ways to halve the resolution. The first three are anti-aliased (AADS, Zhang 2019).
DOWNSAMPLES = ("blur", "avg", "maxblur", "strided_conv", "strided_pointwise")
AADS_KINDS = frozenset({"blur", "avg", "maxblur"})
# The stem conv may be strided itself or run at stride 1 followed by a pooling condenser.
STEM_CONV_DOWNSAMPLES = ("strided_conv", "blur", "avg", "maxblur")
# Sane bounds of every integer field, shared by specs and design spaces: far beyond any
# network an edge search wants, small enough that a typo (depth: 100000000) is refused at once.
LIMITS: dict[str, tuple[int, int]] = {
    "in_channels": (1, 64),
    "num_classes": (1, 100_000),
    "stages": (1, 16),
    "stem.width": (1, 4096),
    "stem.columns": (1, 4096),  # up to one column per channel (depthwise)
    "stem.blur_size": (1, 7),
    "stage.width": (1, 8192),
    "stage.columns": (1, 8192),  # likewise
    "stage.depth": (1, 64),
    "stage.expansion": (1, 8),
    "stage.stride": (1, 2),
    "stage.reduction": (1, 1024),
    "stage.blur_size": (1, 7),
    "head.width": (1, 16384),
}


def _bounded(r: Reader, key: str, limit: str, default: Any = ...) -> int:
    low, high = LIMITS[limit]
    if default is ...:
        return r.int(key, low=low, high=high)
    return r.int(key, default, low=low, high=high)


@dataclass(frozen=True)
class Stem:
    """3x3 conv (stride 2) -> `columns` parallel 3x3 column convs -> optional downsample."""

    width: int = 32  # output channels of the stem conv and of its columns
    columns: int = 4  # parallel 3x3 columns after the stem conv (one grouped conv)
    conv_downsample: str = "strided_conv"  # the stem conv's stride 2: strided, or s1 + condenser
    downsample: str = "avg"  # second halving after the columns, or "none"
    blur_size: int = 3  # binomial filter size for blur / maxblur


@dataclass(frozen=True)
class Stage:
    """One stage: an entry block that changes width/resolution, then depth-1 residual blocks."""

    width: int  # channels inside the columns (bottleneck: the inner width)
    depth: int  # blocks in the stage, the entry block included
    columns: int  # parallel columns (groups of the grouped convs); width % columns == 0
    block: str = "basic"  # basic | bottleneck
    entry: str = "dcac"  # dcac | ac | conv: the first block of the stage
    interaction: str = "isolated"  # isolated (grouped 1x1) | mixed (dense 1x1)
    stride: int = 1  # 1, or 2 to halve the resolution in the entry block
    downsample: str = "blur"  # how stride 2 is done (see DOWNSAMPLES)
    expansion: int = 1  # bottleneck output = width * expansion; basic requires 1
    gate: str = "softmax"  # DC-AC gate over channels: softmax | sigmoid
    reduction: int = 4  # channel reduction inside the original attention condenser (ac)
    blur_size: int = 3  # binomial filter size for blur / maxblur

    @property
    def out_channels(self) -> int:
        return self.width * self.expansion


@dataclass(frozen=True)
class Head:
    """Optional 1x1 conv -> global average pool -> dropout -> linear classifier."""

    width: int | None = None  # channels of the optional 1x1 conv before pooling
    dropout: float = 0.0  # dropout before the classifier (training only)


@dataclass(frozen=True)
class ArchSpec:
    """A whole network. Pure data: build it with `build_model`, cost it with `cost`.

    Example:
        >>> spec = ArchSpec("tiny", stages=(Stage(width=16, depth=1, columns=4),))
        >>> ArchSpec.from_dict(spec.to_dict()) == spec
        True
    """

    name: str
    in_channels: int = 3
    num_classes: int = 1000
    stem: Stem = field(default_factory=Stem)
    stages: tuple[Stage, ...] = ()
    head: Head = field(default_factory=Head)

    def __post_init__(self) -> None:
        object.__setattr__(self, "stages", tuple(self.stages))
        validate(self)

    @property
    def out_channels(self) -> int:
        last = self.stages[-1].out_channels if self.stages else self.stem.width
        return self.head.width or last

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["stages"] = list(data["stages"])
        return data

    @classmethod
    def from_dict(cls, data: Any, source: str | None = None) -> ArchSpec:
        """Validate a plain dict (from JSON/YAML) into a spec; errors name source and key path."""
        return _read_spec(Reader(data, source, "", SpecError))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @property
    def hash(self) -> str:
        """Canonical content hash: equal architectures give equal hashes; the name is a label."""
        return content_hash({k: v for k, v in self.to_dict().items() if k != "name"})

    def replace(self, **changes: Any) -> ArchSpec:
        return dataclasses.replace(self, **changes)


def load_spec(path: str | Path) -> ArchSpec:
    """Read a spec from a `.json` or `.yaml` file."""
    data, _ = read_document(path, SpecError, "spec")
    spec = ArchSpec.from_dict(data, source=str(path))
    if name_problem(spec.name):  # names become file names (exports): no path separators
        raise SpecError(f"{path}: name: {name_problem(spec.name)}, got {spec.name!r}")
    return spec


def validate(spec: ArchSpec) -> None:
    """Check the consistency rules that dataclass types cannot express."""
    r = Reader(spec.to_dict(), None, "", SpecError)
    _read_spec(r, construct=False)


def _read_spec(r: Reader, construct: bool = True) -> ArchSpec:
    name = r.str("name", "unnamed")
    in_channels = _bounded(r, "in_channels", "in_channels", 3)
    num_classes = _bounded(r, "num_classes", "num_classes", 1000)
    stem = _read_stem(r.child("stem", {}))
    stage_readers = r.children("stages", min_len=1)
    most = LIMITS["stages"][1]
    r.check(
        "stages",
        len(stage_readers) <= most,
        f"must have at most {most} stages, got {len(stage_readers)}",
    )
    stages = tuple(_read_stage(s) for s in stage_readers)
    head = _read_head(r.child("head", {}))
    r.done()
    if not construct:
        return None  # type: ignore[return-value]
    return ArchSpec(name, in_channels, num_classes, stem, stages, head)


def _read_stem(r: Reader) -> Stem:
    width = _bounded(r, "width", "stem.width", 32)
    columns = _bounded(r, "columns", "stem.columns", 4)
    r.check("width", width % columns == 0, f"must be divisible by columns={columns}, got {width}")
    stem = Stem(
        width,
        columns,
        r.choice("conv_downsample", STEM_CONV_DOWNSAMPLES, "strided_conv"),
        r.choice("downsample", (*DOWNSAMPLES, "none"), "avg"),
        _bounded(r, "blur_size", "stem.blur_size", 3),
    )
    r.done()
    return stem


def _read_stage(r: Reader) -> Stage:
    width, columns = _bounded(r, "width", "stage.width"), _bounded(r, "columns", "stage.columns")
    r.check("columns", columns <= width, f"must be <= width={width}, got {columns}")
    r.check("width", width % columns == 0, f"must be divisible by columns={columns}, got {width}")
    block = r.choice("block", BLOCKS, "basic")
    expansion = _bounded(r, "expansion", "stage.expansion", 1)
    r.check(
        "expansion",
        block == "bottleneck" or expansion == 1,
        f"must be 1 for basic blocks (expansion applies to bottleneck), got {expansion}",
    )
    stage = Stage(
        width=width,
        depth=_bounded(r, "depth", "stage.depth"),
        columns=columns,
        block=block,
        entry=r.choice("entry", ENTRIES, "dcac"),
        interaction=r.choice("interaction", INTERACTIONS, "isolated"),
        stride=_bounded(r, "stride", "stage.stride", 1),
        downsample=r.choice("downsample", DOWNSAMPLES, "blur"),
        expansion=expansion,
        gate=r.choice("gate", GATES, "softmax"),
        reduction=_bounded(r, "reduction", "stage.reduction", 4),
        blur_size=_bounded(r, "blur_size", "stage.blur_size", 3),
    )
    r.done()
    return stage


def _read_head(r: Reader) -> Head:
    head = Head(
        _bounded(r, "width", "head.width", None), r.float("dropout", 0.0, low=0.0, high=0.95)
    )
    r.done()
    return head
