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
    in_channels = r.int("in_channels", 3, low=1)
    num_classes = r.int("num_classes", 1000, low=1)
    stem = _read_stem(r.child("stem", {}))
    stages = tuple(_read_stage(s) for s in r.children("stages", min_len=1))
    head = _read_head(r.child("head", {}))
    r.done()
    if not construct:
        return None  # type: ignore[return-value]
    return ArchSpec(name, in_channels, num_classes, stem, stages, head)


def _read_stem(r: Reader) -> Stem:
    width = r.int("width", 32, low=1)
    columns = r.int("columns", 4, low=1)
    r.check("width", width % columns == 0, f"must be divisible by columns={columns}, got {width}")
    stem = Stem(
        width,
        columns,
        r.choice("conv_downsample", STEM_CONV_DOWNSAMPLES, "strided_conv"),
        r.choice("downsample", (*DOWNSAMPLES, "none"), "avg"),
        r.int("blur_size", 3, low=1, high=7),
    )
    r.done()
    return stem


def _read_stage(r: Reader) -> Stage:
    width, columns = r.int("width", low=1), r.int("columns", low=1)
    r.check("columns", columns <= width, f"must be <= width={width}, got {columns}")
    r.check("width", width % columns == 0, f"must be divisible by columns={columns}, got {width}")
    block = r.choice("block", BLOCKS, "basic")
    expansion = r.int("expansion", 1, low=1, high=8)
    r.check(
        "expansion",
        block == "bottleneck" or expansion == 1,
        f"must be 1 for basic blocks (expansion applies to bottleneck), got {expansion}",
    )
    stage = Stage(
        width=width,
        depth=r.int("depth", low=1),
        columns=columns,
        block=block,
        entry=r.choice("entry", ENTRIES, "dcac"),
        interaction=r.choice("interaction", INTERACTIONS, "isolated"),
        stride=r.int("stride", 1, low=1, high=2),
        downsample=r.choice("downsample", DOWNSAMPLES, "blur"),
        expansion=expansion,
        gate=r.choice("gate", GATES, "softmax"),
        reduction=r.int("reduction", 4, low=1),
        blur_size=r.int("blur_size", 3, low=1, high=7),
    )
    r.done()
    return stage


def _read_head(r: Reader) -> Head:
    head = Head(r.int("width", None, low=1), r.float("dropout", 0.0, low=0.0, high=0.95))
    r.done()
    return head
