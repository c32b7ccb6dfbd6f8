"""Analytic cost of an ArchSpec: params, MACs and peak activation memory, without building.

Counting conventions (they match fvcore on the built model exactly, see tests/test_cost.py):
- params: trainable parameters (BN weight and bias included, BN running stats and the
  fixed BlurPool filters excluded);
- MACs: multiply-accumulates of convolutions (BlurPool filters included) and linear
  layers, 1 multiply-add = 1; normalisation, activations, pooling and gating are free;
- peak activation memory: the largest (input + output) float32 tensor pair of any
  conv / BlurPool / linear layer at batch 1, in bytes: a lower bound on inference memory.
"""

from __future__ import annotations

from dataclasses import dataclass

from gensynth.plan import (
    BlockPlan,
    Blur,
    Conv,
    GlobalPool,
    HalfMaxPool,
    Layer,
    Linear,
    NetPlan,
    Norm,
    network_plan,
    shared_prefix,
)
from gensynth.spec import ArchSpec

BYTES_PER_VALUE = 4  # float32


@dataclass(frozen=True)
class Shape:
    c: int
    h: int
    w: int

    @property
    def numel(self) -> int:
        return self.c * self.h * self.w


@dataclass(frozen=True)
class LayerCost:
    layer: Layer
    shape_in: Shape
    shape_out: Shape
    params: int
    macs: int


@dataclass(frozen=True)
class BlockCost:
    """A block (nested ones included) and the shape it outputs."""

    kind: str
    shape_out: Shape
    gate: str = ""  # a DC-AC's gate (softmax | sigmoid)


@dataclass(frozen=True)
class SectionCost:
    name: str
    shape_in: Shape
    shape_out: Shape
    columns: int
    depth: int
    params: int
    macs: int


@dataclass(frozen=True)
class Cost:
    """Totals and the per-section breakdown at one input resolution."""

    resolution: int
    params: int
    macs: int
    peak_activation_bytes: int
    sections: tuple[SectionCost, ...]
    layers: tuple[LayerCost, ...]
    blocks: tuple[BlockCost, ...] = ()

    @property
    def params_m(self) -> float:
        return self.params / 1e6

    @property
    def macs_g(self) -> float:
        return self.macs / 1e9

    @property
    def peak_activation_mb(self) -> float:
        return self.peak_activation_bytes / 1e6

    def facts(self) -> dict[str, float]:
        """The metrics the budgets read: params_m, macs_g, peak_activation_mb."""
        return {
            "params_m": self.params_m,
            "macs_g": self.macs_g,
            "peak_activation_mb": self.peak_activation_mb,
        }


def cost(spec: ArchSpec | NetPlan, resolution: int = 224) -> Cost:
    """Count params, MACs and peak activation memory of a spec (or plan) at a square input.

    Example:
        >>> from gensynth.spec import Stage
        >>> c = cost(ArchSpec("t", num_classes=10, stages=(Stage(16, 1, 4),)), 32)
        >>> c.params > 0 and c.macs > 0
        True
    """
    plan = spec if isinstance(spec, NetPlan) else network_plan(spec)
    shape = Shape(plan.in_channels, resolution, resolution)
    sections, layers, blocks = [], [], []
    for section in plan.sections:
        start, first = shape, len(layers)
        for block in section.blocks:
            shape = _walk_block(block, shape, layers, blocks)
        mine = layers[first:]
        extra = sum(_block_params(b) for b in section.blocks)
        sections.append(
            SectionCost(
                section.name,
                start,
                shape,
                section.columns,
                section.depth,
                sum(x.params for x in mine) + extra,
                sum(x.macs for x in mine),
            )
        )
    peak = max(
        (
            x.shape_in.numel + x.shape_out.numel
            for x in layers
            if isinstance(x.layer, (Conv, Blur, Linear))
        ),
        default=0,
    )
    return Cost(
        resolution,
        sum(s.params for s in sections),
        sum(s.macs for s in sections),
        peak * BYTES_PER_VALUE,
        tuple(sections),
        tuple(layers),
        tuple(blocks),
    )


def plan_cost(
    blocks: tuple[BlockPlan, ...] | list[BlockPlan],
    shape: Shape,
    found: list[BlockCost] | None = None,
) -> tuple[Shape, list[LayerCost]]:
    """Output shape and per-layer costs of a sequence of block plans from an input shape
    (and, into ``found``, every block with its output shape, nested ones included)."""
    layers: list[LayerCost] = []
    for block in blocks:
        shape = _walk_block(block, shape, layers, found)
    return shape, layers


def _block_params(block: BlockPlan) -> int:
    """Parameters a block holds outside its layers: the AC's learned scale."""
    nested = sum(
        _block_params(x) for branch in block.branches for x in branch if isinstance(x, BlockPlan)
    )
    return nested + (block.kind == "ac")


def _walk_block(
    block: BlockPlan, shape: Shape, out: list[LayerCost], blocks: list[BlockCost] | None = None
) -> Shape:
    """Append the cost of every layer of a block (and the block, to ``blocks``); return the
    block's output shape."""
    if block.kind == "ac":
        query, expand = block.branches
        inner = _walk(query, shape, out, blocks)
        _walk(expand, Shape(inner.c, shape.h, shape.w), out, blocks)
        result = shape
    elif block.kind == "se":  # the gate is (c, 1, 1), broadcast over the input
        _walk(block.branches[0], shape, out, blocks)
        result = shape
    else:
        n = shared_prefix(block)  # computed once for all branches (plan.shared_prefix)
        shape = _walk(block.branches[0][:n], shape, out, blocks)
        results = [_walk(branch[n:], shape, out, blocks) for branch in block.branches]
        assert all(r == results[0] for r in results), f"branch shapes differ in {block.label}"
        result = results[0]
    if blocks is not None:
        blocks.append(BlockCost(block.kind, result, block.gate if block.kind == "dcac" else ""))
    return result


def _walk(
    layers: tuple[Layer | BlockPlan, ...],
    shape: Shape,
    out: list[LayerCost],
    blocks: list[BlockCost] | None = None,
) -> Shape:
    for layer in layers:
        if isinstance(layer, BlockPlan):
            shape = _walk_block(layer, shape, out, blocks)
            continue
        shape_out, params, macs = _layer_cost(layer, shape)
        out.append(LayerCost(layer, shape, shape_out, params, macs))
        shape = shape_out
    return shape


def _layer_cost(layer: Layer, s: Shape) -> tuple[Shape, int, int]:
    """Output shape, params and MACs of one layer given its input shape."""
    match layer:
        case Conv(c_in, c_out, k, stride, groups, bias):
            o = Shape(c_out, (s.h - 1) // stride + 1, (s.w - 1) // stride + 1)  # padding k//2
            weights = c_out * (c_in // groups) * k * k
            return o, weights + c_out * bias, weights * o.h * o.w
        case Blur(c, k, stride):
            o = Shape(c, (s.h - 1) // stride + 1, (s.w - 1) // stride + 1)  # padding k-1
            return o, 0, o.numel * k * k
        case HalfMaxPool():
            return Shape(s.c, (s.h + 1) // 2, (s.w + 1) // 2), 0, 0
        case GlobalPool():
            return Shape(s.c, 1, 1), 0, 0  # flattened or kept as (c, 1, 1): same count
        case Linear(c_in, c_out):
            return Shape(c_out, 1, 1), c_in * c_out + c_out, c_in * c_out
        case Norm(c):
            return s, 2 * c, 0
    return s, 0, 0  # Act, MaxShift, Dropout: shape-preserving and free
