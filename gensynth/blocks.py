"""The torch modules that run a plan: BlurPool, DC-AC, the original AC and the block combiners.

`make_layer` and `make_block` look descriptors and block kinds up in two registries, so a
new layer or block kind is one entry here and one descriptor in `gensynth.plan`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from gensynth.errors import SpecError, did_you_mean
from gensynth.plan import (
    BINOMIAL,
    BLOCK_KINDS,
    Act,
    BlockPlan,
    Blur,
    Conv,
    Dropout,
    GlobalPool,
    HalfMaxPool,
    Layer,
    Linear,
    MaxShift,
    Norm,
    shared_prefix,
)

PAD_MODES = ("reflect", "replicate", "zero")


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

    def __init__(
        self, channels: int, size: int = 3, stride: int = 2, pad_mode: str = "reflect"
    ) -> None:
        super().__init__()
        if size not in BINOMIAL:
            raise SpecError(f"blur filter size must be one of 1..7, got {size}")
        if pad_mode not in PAD_MODES:
            raise SpecError(
                f"unknown pad mode {pad_mode!r}; expected one of: "
                f"{', '.join(PAD_MODES)}{did_you_mean(pad_mode, PAD_MODES)}"
            )
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
            if torch.onnx.is_in_onnx_export():  # static shapes in the exported graph
                x = edge_pad(edge_pad(x, lo, hi, mode, -1), lo, hi, mode, -2)
            else:  # the same values, 2-5x faster in eager (benchmarks/layers.py)
                x = F.pad(x, (lo, hi, lo, hi), mode="constant" if mode == "zero" else mode)
        return F.conv2d(x, self.kernel, stride=self.stride, groups=self.channels)


def edge_pad(x: torch.Tensor, lo: int, hi: int, mode: str, dim: int) -> torch.Tensor:
    """Pad one spatial dim by concatenating slices: the same values as F.pad's reflect,
    replicate or zero modes, but exported to ONNX with static shapes (Slice + Concat with
    constant indices, no run-time pad computation)."""
    n = x.shape[dim]
    if mode == "reflect":
        before = [x.narrow(dim, i, 1) for i in range(lo, 0, -1)]
        after = [x.narrow(dim, n - 1 - i, 1) for i in range(1, hi + 1)]
    elif mode == "replicate":
        before, after = [x.narrow(dim, 0, 1)] * lo, [x.narrow(dim, n - 1, 1)] * hi
    else:
        zero = x.narrow(dim, 0, 1) * 0.0
        before, after = [zero] * lo, [zero] * hi
    return torch.cat([*before, x, *after], dim=dim)


class MaxShiftPool(nn.Module):
    """Max over each 2x2 window at stride 1, the last row/column replicated (size kept).

    Two pairwise maxima of shifted slices: the same values as max_pool2d(2, stride 1) on a
    replicate-padded map, about 20x faster on CPU (benchmarks/layers.py).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([torch.maximum(x[..., :-1], x[..., 1:]), x[..., -1:]], dim=-1)
        return torch.cat([torch.maximum(x[..., :-1, :], x[..., 1:, :]), x[..., -1:, :]], dim=-2)


class HalfMaxPool2d(nn.Module):
    """Max-pool 2x2 at stride 2, ceil mode (the original attention condenser's query).

    In eager: pairwise maxima of the four strided slices of a map padded with -inf to an
    even size, the same values 4-8x faster than max_pool2d on CPU (benchmarks/layers.py);
    exported as ONNX MaxPool (static shapes, fast in ONNX Runtime)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.onnx.is_in_onnx_export():
            return F.max_pool2d(x, 2, stride=2, ceil_mode=True)
        h, w = x.shape[-2] % 2, x.shape[-1] % 2
        if h or w:
            x = F.pad(x, (0, w, 0, h), value=float("-inf"))
        rows = torch.maximum(x[..., ::2, :], x[..., 1::2, :])
        return torch.maximum(rows[..., ::2], rows[..., 1::2])


class GlobalAvgPool(nn.Module):
    def __init__(self, keepdim: bool = False) -> None:
        super().__init__()
        self.keepdim = keepdim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3), keepdim=self.keepdim)


ACTIVATION_MODULES: dict[str, Callable[[], nn.Module]] = {
    "silu": nn.SiLU,
    "relu": nn.ReLU,
    "hswish": nn.Hardswish,
}

LAYER_MODULES: dict[type, Callable[..., nn.Module]] = {
    Conv: lambda x: nn.Conv2d(
        x.c_in, x.c_out, x.k, x.stride, x.k // 2, groups=x.groups, bias=x.bias
    ),
    Norm: lambda x: nn.BatchNorm2d(x.c),
    Act: lambda x: ACTIVATION_MODULES[x.kind](),
    Blur: lambda x: BlurPool(x.c, x.k, x.stride),
    MaxShift: lambda x: MaxShiftPool(),
    HalfMaxPool: lambda x: HalfMaxPool2d(),
    GlobalPool: lambda x: GlobalAvgPool(x.keepdim),
    Dropout: lambda x: nn.Dropout(x.p),
    Linear: lambda x: nn.Linear(x.c_in, x.c_out),
}


def make_layer(layer: Layer | BlockPlan) -> nn.Module:
    """Instantiate one layer descriptor (or a nested block plan)."""
    if isinstance(layer, BlockPlan):
        return make_block(layer)
    factory = LAYER_MODULES.get(type(layer))
    if factory is None:
        raise TypeError(f"not a layer descriptor: {layer!r}")
    return factory(layer)


def make_branch(layers: Sequence[Layer | BlockPlan]) -> nn.Sequential:
    return nn.Sequential(*(make_layer(layer) for layer in layers))


def _zero_last_norm(branch: nn.Sequential) -> None:
    norms = [m for m in branch if isinstance(m, nn.BatchNorm2d)]
    nn.init.zeros_(norms[-1].weight)


class Residual(nn.Module):
    """silu(x + f(x)): the stage's repeated block. The body's last BN starts at zero, so a
    fresh block is the identity (trains deep stages quickly on short proxy runs)."""

    def __init__(self, body: nn.Sequential) -> None:
        super().__init__()
        self.body = body
        _zero_last_norm(body)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(x + self.body(x))


class Add(nn.Module):
    """x + f(x) with no activation after the sum (inverted-residual blocks). The body's
    last BN starts at zero, as timm initialises these networks (``zero_init_last``)."""

    def __init__(self, body: nn.Sequential) -> None:
        super().__init__()
        self.body = body
        _zero_last_norm(body)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ConvEntry(nn.Module):
    """silu(main(x) + shortcut(x)): a plain residual entry with a projection shortcut."""

    def __init__(self, main: nn.Module, shortcut: nn.Module) -> None:
        super().__init__()
        self.main, self.shortcut = main, shortcut
        self.condense: nn.Module = nn.Identity()  # make_block: the branches' shared start

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.condense(x)
        return F.silu(self.main(x) + self.shortcut(x))


class DCAC(nn.Module):
    """Double-condensing attention condenser: ``silu(gate(A(V)) * B(V))``.

    A (attention) condenses then embeds V; B (features) condenses V a second time and
    projects it with a 1x1 conv. The output stays condensed: no upsampling back to V's
    resolution. The gate is a softmax over channels or a sigmoid, each normalised to an
    average of 1 (softmax x C, sigmoid x 2): a fixed factor, not a learned scale, without
    which a stack of DC-ACs shrinks the signal by ~C per block and does not train.
    The attention branch's last BN starts at zero, so a fresh gate is exactly 1 everywhere
    (the identity, as with zero-initialised residual bodies): a softmax gate that starts
    heavy-tailed picks arbitrary channels per pixel and trains slowly on a short proxy.
    """

    def __init__(self, attention: nn.Sequential, feature: nn.Sequential, gate: str = "softmax"):
        super().__init__()
        self.attention, self.feature, self.gate = attention, feature, gate
        _zero_last_norm(attention)
        norms = [m for m in attention if isinstance(m, nn.BatchNorm2d)]
        self.channels = float(norms[-1].num_features)  # a constant, not a traced shape
        self.condense: nn.Module = nn.Identity()  # make_block: the branches' shared start

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.condense(x)
        a = self.attention(x)
        if self.gate == "softmax":
            a = torch.softmax(a, dim=1) * self.channels
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
        # nearest upsampling back to V's size: x2, then crop the ceil-mode extra row/column
        # (the same values as interpolate(size=...), with a static shape in ONNX)
        k = F.interpolate(self.query(x), scale_factor=2.0, mode="nearest")
        k = k.narrow(-2, 0, x.shape[-2]).narrow(-1, 0, x.shape[-1])
        return x * torch.sigmoid(self.expand(k)) * self.scale + x


class SqueezeExcite(nn.Module):
    """x * gate(f(x)), f = global pool -> 1x1 -> act -> 1x1; gate hsigmoid (MobileNetV3's
    SE) or sigmoid (EfficientNet's)."""

    def __init__(self, body: nn.Module, gate: str = "hsigmoid") -> None:
        super().__init__()
        self.body, self.gate = body, gate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.body(x)
        return x * (F.hardsigmoid(a) if self.gate == "hsigmoid" else torch.sigmoid(a))


BLOCK_MODULES: dict[str, Callable[[list[nn.Sequential], BlockPlan], nn.Module]] = {
    "seq": lambda b, plan: b[0],
    "residual": lambda b, plan: Residual(b[0]),
    "add": lambda b, plan: Add(b[0]),
    "sum": lambda b, plan: ConvEntry(b[0], b[1]),
    "dcac": lambda b, plan: DCAC(b[0], b[1], plan.gate),
    "ac": lambda b, plan: AttentionCondenser(b[0], b[1]),
    "se": lambda b, plan: SqueezeExcite(b[0], plan.gate),
}
assert set(BLOCK_MODULES) == set(BLOCK_KINDS)


def make_block(plan: BlockPlan) -> nn.Module:
    """Instantiate a block plan as a module."""
    factory = BLOCK_MODULES.get(plan.kind)
    if factory is None:
        raise SpecError(
            f"unknown block kind {plan.kind!r}; expected one of: "
            f"{', '.join(BLOCK_KINDS)}{did_you_mean(plan.kind, BLOCK_KINDS)}"
        )
    shared = shared_prefix(plan)
    branches = [make_branch(branch) for branch in plan.branches]
    for branch in branches:  # parameter-free layers: the state dict keeps its keys
        for i in range(shared):
            branch[i] = nn.Identity()
    module = factory(branches, plan)
    if shared:  # computed once (plan.shared_prefix): same values, less time
        module.condense = make_branch(plan.branches[0][:shared])
    return module
