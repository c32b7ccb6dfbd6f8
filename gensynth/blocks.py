"""Blocks as data (layer descriptors and block plans) and the torch modules that run them.

A block plan is pure data: tuples of layer descriptors such as ``Conv(c_in, c_out, k)``.
`make_block` turns a plan into an ``nn.Module``; `gensynth.cost` walks the same plan to
count parameters and MACs without building anything, so the two cannot drift apart.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gensynth.errors import SpecError, did_you_mean
from gensynth.spec import DOWNSAMPLES

BINOMIAL = {1: [1.0], 2: [1, 1], 3: [1, 2, 1], 4: [1, 3, 3, 1], 5: [1, 4, 6, 4, 1],
            6: [1, 5, 10, 10, 5, 1], 7: [1, 6, 15, 20, 15, 6, 1]}
PAD_MODES = ("reflect", "replicate", "zero")


# --- layer descriptors (pure data) -------------------------------------------------------
@dataclass(frozen=True)
class Conv:
    """Convolution without bias (a BN follows); padding k//2."""

    c_in: int
    c_out: int
    k: int
    stride: int = 1
    groups: int = 1


@dataclass(frozen=True)
class Norm:
    c: int


@dataclass(frozen=True)
class Act:
    """SiLU."""


@dataclass(frozen=True)
class Blur:
    """BlurPool: fixed binomial depthwise filter of size k, stride 2 (AADS)."""

    c: int
    k: int = 3
    stride: int = 2


@dataclass(frozen=True)
class MaxShift:
    """Max-pool 2x2 at stride 1 (replicate-padded so the size is kept); MaxBlurPool's first half."""

    c: int


@dataclass(frozen=True)
class HalfMaxPool:
    """Max-pool 2x2 stride 2 (ceil mode): the attention condenser's query."""

    c: int


@dataclass(frozen=True)
class GlobalPool:
    """Global average pool and flatten."""


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
    """One block: how its branches are combined, and the layers of each branch.

    kinds: ``seq`` (one branch), ``residual`` (silu(x + a)), ``sum`` (silu(a + b)),
    ``dcac`` (silu(gate(a) * b)), ``ac`` (v * sigmoid(b(up(a(v)))) * s + v).
    """

    kind: str
    branches: tuple[tuple[Layer, ...], ...]
    gate: str = "softmax"
    label: str = ""


# --- plans ---------------------------------------------------------------------------
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
        raise SpecError(f"unknown downsample {kind!r}; expected one of: "
                        f"{', '.join(DOWNSAMPLES)}{did_you_mean(kind, DOWNSAMPLES)}")
    return plans[kind]()


def embed(block: str, c_in: int, width: int, c_out: int, columns: int, interaction: str,
          down: Callable[[int], tuple[Layer, ...]]) -> tuple[Layer, ...]:
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
        return (*down(c_in), Conv(c_in, c_out, 3, 1, math.gcd(c_in, columns)), Norm(c_out), Act(),
                Conv(c_out, c_out, 3, 1, columns), Norm(c_out), *mix)
    if block == "bottleneck":
        return (pointwise(c_in, width), Norm(width), Act(), *down(width),
                Conv(width, width, 3, 1, columns), Norm(width), Act(),
                pointwise(width, c_out), Norm(c_out))
    raise SpecError(f"unknown block {block!r}; expected one of: basic, bottleneck"
                    f"{did_you_mean(block, ('basic', 'bottleneck'))}")


def project(c_in: int, c_out: int, down: tuple[Layer, ...]) -> tuple[Layer, ...]:
    """Condense then a dense 1x1 projection: the place where columns meet."""
    return (*down, Conv(c_in, c_out, 1), Norm(c_out))


def attention_condenser(c: int, columns: int, reduction: int) -> BlockPlan:
    """The original attention condenser (TinySpeech/AttendNets), kept for ablation."""
    inner = max(1, c // reduction)
    query = (HalfMaxPool(c), Conv(c, c, 3, 1, math.gcd(c, columns)), Norm(c), Act(),
             Conv(c, inner, 1), Norm(inner), Act())
    return BlockPlan("ac", (query, (Conv(inner, c, 1), Norm(c))), label="AC")


# --- modules -------------------------------------------------------------------------
class BlurPool(nn.Module):
    """Anti-aliased downsampling: binomial low-pass filter then subsample (Zhang 2019).

    Args:
        channels: number of input (= output) channels.
        size: binomial filter size, 1..7.
        stride: subsampling factor.
        pad_mode: reflect, replicate or zero. Maps too small to reflect fall back to replicate.

    Example:
        >>> BlurPool(8)(torch.ones(1, 8, 5, 5)).shape
        torch.Size([1, 8, 3, 3])
    """

    def __init__(self, channels: int, size: int = 3, stride: int = 2,
                 pad_mode: str = "reflect") -> None:
        super().__init__()
        if size not in BINOMIAL:
            raise SpecError(f"blur filter size must be one of 1..7, got {size}")
        if pad_mode not in PAD_MODES:
            raise SpecError(f"unknown pad mode {pad_mode!r}; expected one of: "
                            f"{', '.join(PAD_MODES)}{did_you_mean(pad_mode, PAD_MODES)}")
        taps = torch.tensor(BINOMIAL[size], dtype=torch.float32)
        kernel = torch.outer(taps, taps)
        kernel = (kernel / kernel.sum()).expand(channels, 1, size, size).contiguous()
        self.register_buffer("kernel", kernel, persistent=False)
        self.channels, self.size, self.stride, self.pad_mode = channels, size, stride, pad_mode
        self.pad = ((size - 1) // 2, math.ceil((size - 1) / 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lo, hi = self.pad
        if hi:
            mode = self.pad_mode
            if mode == "reflect" and min(x.shape[-2:]) <= hi:
                mode = "replicate"  # reflect needs pad < size
            x = F.pad(x, (lo, hi, lo, hi), mode="constant" if mode == "zero" else mode)
        return F.conv2d(x, self.kernel, stride=self.stride, groups=self.channels)


class MaxBlurPool(nn.Module):
    """MaxPool(2, stride 1) then BlurPool: the AADS replacement for a strided max-pool."""

    def __init__(self, channels: int, size: int = 3) -> None:
        super().__init__()
        self.shift, self.blur = _MaxShift(), BlurPool(channels, size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blur(self.shift(x))


class _MaxShift(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(F.pad(x, (0, 1, 0, 1), mode="replicate"), 2, stride=1)


class _HalfMaxPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(x, 2, stride=2, ceil_mode=True)


class _GlobalPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


def make_layer(layer: Layer) -> nn.Module:
    """Instantiate one layer descriptor."""
    match layer:
        case Conv(c_in, c_out, k, stride, groups):
            return nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False)
        case Norm(c):
            return nn.BatchNorm2d(c)
        case Act():
            return nn.SiLU(inplace=False)
        case Blur(c, k, stride):
            return BlurPool(c, k, stride)
        case MaxShift():
            return _MaxShift()
        case HalfMaxPool():
            return _HalfMaxPool()
        case GlobalPool():
            return _GlobalPool()
        case Dropout(p):
            return nn.Dropout(p)
        case Linear(c_in, c_out):
            return nn.Linear(c_in, c_out)
    raise TypeError(f"not a layer descriptor: {layer!r}")


def make_branch(layers: Sequence[Layer]) -> nn.Sequential:
    return nn.Sequential(*(make_layer(layer) for layer in layers))


class Residual(nn.Module):
    """silu(x + f(x)): the stage's repeated block. The body's last BN starts at zero, so a
    fresh block is the identity (trains deep stages quickly on short proxy runs)."""

    def __init__(self, body: nn.Sequential) -> None:
        super().__init__()
        self.body = body
        norms = [m for m in body if isinstance(m, nn.BatchNorm2d)]
        nn.init.zeros_(norms[-1].weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(x + self.body(x))


class ConvEntry(nn.Module):
    """silu(main(x) + shortcut(x)): a plain residual entry with a projection shortcut."""

    def __init__(self, main: nn.Module, shortcut: nn.Module) -> None:
        super().__init__()
        self.main, self.shortcut = main, shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(self.main(x) + self.shortcut(x))


class DCAC(nn.Module):
    """Double-condensing attention condenser: ``silu(gate(A(V)) * B(V))``.

    A (attention) condenses then embeds V; B (features) condenses V a second time and
    projects it with a 1x1 conv. The output stays condensed: no upsampling back to V's
    resolution. The gate is a softmax over channels or a sigmoid, each normalised to an
    average of 1 (softmax x C, sigmoid x 2): a fixed factor, not a learned scale, without
    which a stack of DC-ACs shrinks the signal by ~C per block and does not train.
    """

    def __init__(self, attention: nn.Module, feature: nn.Module, gate: str = "softmax") -> None:
        super().__init__()
        self.attention, self.feature, self.gate = attention, feature, gate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.attention(x)
        if self.gate == "softmax":
            a = torch.softmax(a, dim=1) * a.shape[1]
        else:
            a = 2.0 * torch.sigmoid(a)
        return F.silu(a * self.feature(x))


class AttentionCondenser(nn.Module):
    """Original attention condenser: ``V * sigmoid(A) * S + V`` at V's own resolution."""

    def __init__(self, query: nn.Module, expand: nn.Module) -> None:
        super().__init__()
        self.query, self.expand = query, expand
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = F.interpolate(self.query(x), size=x.shape[-2:], mode="nearest")
        return x * torch.sigmoid(self.expand(k)) * self.scale + x


BLOCK_KINDS = ("seq", "residual", "sum", "dcac", "ac")


def make_block(plan: BlockPlan) -> nn.Module:
    """Instantiate a block plan as a module."""
    b = [make_branch(branch) for branch in plan.branches]
    if plan.kind == "seq":
        return b[0]
    if plan.kind == "residual":
        return Residual(b[0])
    if plan.kind == "sum":
        return ConvEntry(b[0], b[1])
    if plan.kind == "dcac":
        return DCAC(b[0], b[1], plan.gate)
    if plan.kind == "ac":
        return AttentionCondenser(b[0], b[1])
    raise SpecError(f"unknown block kind {plan.kind!r}; expected one of: "
                    f"{', '.join(BLOCK_KINDS)}{did_you_mean(plan.kind, BLOCK_KINDS)}")
