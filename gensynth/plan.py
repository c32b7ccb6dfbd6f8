"""Networks as pure data: layer descriptors, block plans and section plans (no torch here).

A plan is what every other module reads: `gensynth.build` turns it into modules,
`gensynth.cost` counts it, `gensynth.rules` checks it and `gensynth.graph` draws it, so
none of them can drift from the network that really runs. ArchSpecs become plans through
`network_plan`; the reference networks of `gensynth.references` are written as plans too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from gensynth.errors import SpecError, did_you_mean
from gensynth.spec import DOWNSAMPLES, ArchSpec, Stage

BINOMIAL = {
    1: [1.0],
    2: [1, 1],
    3: [1, 2, 1],
    4: [1, 3, 3, 1],
    5: [1, 4, 6, 4, 1],
    6: [1, 5, 10, 10, 5, 1],
    7: [1, 6, 15, 20, 15, 6, 1],
}
ACTIVATIONS = ("silu", "relu", "hswish")


# --- layer descriptors -------------------------------------------------------------------
@dataclass(frozen=True)
class Conv:
    """Convolution, padding k//2; without bias unless ``bias`` (a BN follows otherwise)."""

    c_in: int
    c_out: int
    k: int
    stride: int = 1
    groups: int = 1
    bias: bool = False


@dataclass(frozen=True)
class Norm:
    """BatchNorm over c channels."""

    c: int


@dataclass(frozen=True)
class Act:
    """Element-wise activation: silu (gensynth's blocks), relu or hswish (references)."""

    kind: str = "silu"


@dataclass(frozen=True)
class Blur:
    """BlurPool: fixed binomial depthwise filter of size k, stride 2 (AADS when k >= 2)."""

    c: int
    k: int = 3
    stride: int = 2


@dataclass(frozen=True)
class MaxShift:
    """Max-pool 2x2 at stride 1 (edge-replicated, so the size is kept): MaxBlurPool's half."""

    c: int


@dataclass(frozen=True)
class HalfMaxPool:
    """Max-pool 2x2 stride 2 (ceil mode): the attention condenser's query."""

    c: int


@dataclass(frozen=True)
class GlobalPool:
    """Global average pool; flattened unless ``keepdim`` (squeeze-excitation keeps 1x1 maps)."""

    keepdim: bool = False


@dataclass(frozen=True)
class Dropout:
    p: float


@dataclass(frozen=True)
class Linear:
    """Fully connected layer with bias."""

    c_in: int
    c_out: int


Layer = Conv | Norm | Act | Blur | MaxShift | HalfMaxPool | GlobalPool | Dropout | Linear


@dataclass(frozen=True)
class BlockPlan:
    """One block: how its branches combine, and the layers (or nested blocks) of each.

    kinds: ``seq`` (one branch), ``residual`` (silu(x + a)), ``add`` (x + a), ``sum``
    (silu(a + b)), ``dcac`` (silu(gate(a) * b)), ``ac`` (v * sigmoid(b(up(a(v)))) * s + v),
    ``se`` (x * hsigmoid(a(x)): squeeze-excitation).
    """

    kind: str
    branches: tuple[tuple[Layer | BlockPlan, ...], ...]
    gate: str = "softmax"
    label: str = ""


BLOCK_KINDS = ("seq", "residual", "add", "sum", "dcac", "ac", "se")


@dataclass(frozen=True)
class Section:
    """A named part of the network (stem, stage1.., head) and its blocks in order."""

    name: str
    blocks: tuple[BlockPlan, ...]
    columns: int
    depth: int


@dataclass(frozen=True)
class NetPlan:
    """A whole network as data: input channels, then sections run one after another."""

    name: str
    in_channels: int
    sections: tuple[Section, ...]


def with_io(plan: NetPlan, in_channels: int, num_classes: int) -> NetPlan:
    """The same network for another input channel count and class count: the first
    convolution's inputs and the classifier's outputs change, nothing else.

    Example:
        >>> from gensynth.spec import ArchSpec, Stage
        >>> p = network_plan(ArchSpec("t", stages=(Stage(16, 1, 4),)))
        >>> with_io(p, 1, 7).in_channels
        1
    """
    stem, *middle, head = plan.sections
    first, _ = _swap(stem.blocks, Conv, lambda c: replace(c, c_in=in_channels), last=False)
    classifier, _ = _swap(head.blocks, Linear, lambda f: replace(f, c_out=num_classes), last=True)
    sections = (replace(stem, blocks=first), *middle, replace(head, blocks=classifier))
    return replace(plan, in_channels=in_channels, sections=sections)


def _swap(items: tuple, kind: type, change: Callable[[Any], Any], last: bool) -> tuple[tuple, bool]:
    """``items`` with the first (or last) layer of type ``kind``, at any nesting depth,
    changed; and whether one was found."""
    out, done = list(items), False
    for i in reversed(range(len(out))) if last else range(len(out)):
        item = out[i]
        if isinstance(item, BlockPlan):
            branches = list(item.branches)
            for j in reversed(range(len(branches))) if last else range(len(branches)):
                branches[j], done = _swap(branches[j], kind, change, last)
                if done:
                    break
            out[i] = replace(item, branches=tuple(branches))
        elif isinstance(item, kind):
            out[i], done = change(item), True
        if done:
            break
    return tuple(out), done


def is_anti_aliased(layer: Layer) -> bool:
    """A stride that low-pass filters first: BlurPool with a filter of size >= 2 (size 1 is
    plain subsampling)."""
    return isinstance(layer, Blur) and layer.k >= 2


def strides(layer: Layer) -> bool:
    return isinstance(layer, (Conv, Blur)) and layer.stride > 1


def halvings(plan: NetPlan) -> list[bool]:
    """Every halving of the resolution along the network, anti-aliased or not.

    In a sequential block each strided layer is a halving of its own; in any other block
    (DC-AC, conv entry, ...) the block's strided layers halve together, and the halving is
    anti-aliased only if every path through it is.
    """
    out = []
    for section in plan.sections:
        for block in section.blocks:
            if block.kind == "seq":
                out += [
                    is_anti_aliased(x)
                    for x in block.branches[0]
                    if not isinstance(x, BlockPlan) and strides(x)
                ]
                continue
            strided = [x for x in block_layers(block) if strides(x)]
            if strided:
                out.append(all(map(is_anti_aliased, strided)))
    return out


def shared_prefix(block: BlockPlan) -> int:
    """How many leading layers every branch of a two-branch block computes alike from the
    block's input (the same fixed blur or max-shift): they are computed once, for all
    branches (a DC-AC or conv entry whose column path starts with its downsampling)."""
    if block.kind not in ("dcac", "sum") or len(block.branches) < 2:
        return 0
    n = 0
    for layers in zip(*block.branches, strict=False):
        if not isinstance(layers[0], Blur | MaxShift) or any(x != layers[0] for x in layers):
            break
        n += 1
    return n


def walk_layers(plan: NetPlan) -> Iterator[Layer]:
    """Every layer of a plan in order, nested blocks included (nothing is built)."""
    for section in plan.sections:
        for block in section.blocks:
            yield from block_layers(block)


def block_layers(block: BlockPlan) -> Iterator[Layer]:
    for branch in block.branches:
        for item in branch:
            if isinstance(item, BlockPlan):
                yield from block_layers(item)
            else:
                yield item


# --- gensynth's blocks as plans ------------------------------------------------------------
def condense(kind: str | None, c: int, columns: int, blur_size: int = 3) -> tuple[Layer, ...]:
    """Layers that halve the resolution of c channels (nothing when kind is None)."""
    plans: dict[str, Callable[[], tuple[Layer, ...]]] = {
        "blur": lambda: (Blur(c, blur_size),),
        "avg": lambda: (Blur(c, 2),),
        "maxblur": lambda: (MaxShift(c), Blur(c, blur_size)),
        "strided_conv": lambda: (Conv(c, c, 3, 2, math.gcd(c, columns)), Norm(c)),
        "strided_pointwise": lambda: (Conv(c, c, 1, 2), Norm(c)),
    }
    if kind is None:
        return ()
    if kind not in plans:
        raise SpecError(
            f"unknown downsample {kind!r}; expected one of: "
            f"{', '.join(DOWNSAMPLES)}{did_you_mean(kind, DOWNSAMPLES)}"
        )
    return plans[kind]()


def embed(
    block: str,
    c_in: int,
    width: int,
    c_out: int,
    columns: int,
    interaction: str,
    down: Callable[[int], tuple[Layer, ...]],
) -> tuple[Layer, ...]:
    """The column path shared by DC-AC attention branches, conv entries and residual blocks.

    basic:      [down] g3x3(c_in->c_out) BN SiLU g3x3 BN [dense 1x1 BN when mixed]
    bottleneck: 1x1(c_in->width) BN SiLU [down] g3x3 BN SiLU 1x1(width->c_out) BN
    Grouped 3x3 convs use `columns` groups (gcd with c_in where channels cross a stage).
    1x1 convs are grouped by columns when isolated and dense when mixed.
    """

    def pointwise(a: int, b: int) -> Conv:
        return Conv(a, b, 1, 1, math.gcd(a, columns) if interaction == "isolated" else 1)

    if block == "basic":
        mix = (Conv(c_out, c_out, 1), Norm(c_out)) if interaction == "mixed" else ()
        return (
            *down(c_in),
            Conv(c_in, c_out, 3, 1, math.gcd(c_in, columns)),
            Norm(c_out),
            Act(),
            Conv(c_out, c_out, 3, 1, columns),
            Norm(c_out),
            *mix,
        )
    if block == "bottleneck":
        return (
            pointwise(c_in, width),
            Norm(width),
            Act(),
            *down(width),
            Conv(width, width, 3, 1, columns),
            Norm(width),
            Act(),
            pointwise(width, c_out),
            Norm(c_out),
        )
    raise SpecError(
        f"unknown block {block!r}; expected one of: basic, bottleneck"
        f"{did_you_mean(block, ('basic', 'bottleneck'))}"
    )


def project(c_in: int, c_out: int, down: tuple[Layer, ...]) -> tuple[Layer, ...]:
    """Condense then a dense 1x1 projection: the place where columns meet."""
    return (*down, Conv(c_in, c_out, 1), Norm(c_out))


def attention_condenser(c: int, columns: int, reduction: int) -> BlockPlan:
    """The original attention condenser (TinySpeech/AttendNets), kept for ablation."""
    inner = max(1, c // reduction)
    query = (
        HalfMaxPool(c),
        Conv(c, c, 3, 1, math.gcd(c, columns)),
        Norm(c),
        Act(),
        Conv(c, inner, 1),
        Norm(inner),
        Act(),
    )
    return BlockPlan("ac", (query, (Conv(inner, c, 1), Norm(c))), label="AC")


# --- an ArchSpec as a plan -----------------------------------------------------------------
def network_plan(spec: ArchSpec) -> NetPlan:
    """The whole network of a spec as data: stem, each stage, head."""
    sections = [Section("stem", (stem_plan(spec),), spec.stem.columns, 1)]
    c_in = spec.stem.width
    for i, stage in enumerate(spec.stages, start=1):
        sections.append(Section(f"stage{i}", stage_plan(stage, c_in), stage.columns, stage.depth))
        c_in = stage.out_channels
    sections.append(Section("head", (head_plan(spec, c_in),), 1, 1))
    return NetPlan(spec.name, spec.in_channels, tuple(sections))


def stem_plan(spec: ArchSpec) -> BlockPlan:
    stem, w = spec.stem, spec.stem.width
    if stem.conv_downsample == "strided_conv":
        conv = (Conv(spec.in_channels, w, 3, 2), Norm(w), Act())
    else:
        conv = (
            Conv(spec.in_channels, w, 3, 1),
            Norm(w),
            Act(),
            *condense(stem.conv_downsample, w, 1, stem.blur_size),
        )
    down = None if stem.downsample == "none" else stem.downsample
    columns = (Conv(w, w, 3, 1, stem.columns), Norm(w), Act())
    return BlockPlan(
        "seq", (conv + columns + condense(down, w, stem.columns, stem.blur_size),), label="stem"
    )


def stage_plan(stage: Stage, c_in: int) -> tuple[BlockPlan, ...]:
    """Entry block (changes width and resolution) followed by depth-1 residual blocks."""
    c_out, cols = stage.out_channels, stage.columns
    kind = stage.downsample if stage.stride == 2 else None

    def down(c: int) -> tuple[Layer, ...]:
        return condense(kind, c, cols, stage.blur_size)

    def path(a: int, down_fn: Callable[[int], tuple[Layer, ...]] = down) -> tuple[Layer, ...]:
        return embed(stage.block, a, stage.width, c_out, cols, stage.interaction, down_fn)

    shortcut = project(c_in, c_out, down(c_in))
    if stage.entry == "dcac":
        entry = (BlockPlan("dcac", (path(c_in), shortcut), stage.gate, label="DC-AC"),)
    elif stage.entry == "conv":
        entry = (BlockPlan("sum", (path(c_in), shortcut), label="conv"),)
    else:
        entry = (
            attention_condenser(c_in, cols, stage.reduction),
            BlockPlan("seq", ((*shortcut, Act()),), label="proj"),
        )
    body = BlockPlan("residual", (path(c_out, lambda c: ()),), label=stage.block)
    return entry + (body,) * (stage.depth - 1)


def head_plan(spec: ArchSpec, c_in: int) -> BlockPlan:
    head = spec.head
    conv = (Conv(c_in, head.width, 1), Norm(head.width), Act()) if head.width else ()
    drop = (Dropout(head.dropout),) if head.dropout > 0 else ()
    classifier = Linear(spec.out_channels, spec.num_classes)
    return BlockPlan("seq", ((*conv, GlobalPool(), *drop, classifier),), label="head")
