"""Reference networks, written as plans from their papers' architecture tables (pure data).

The paper judged AttendNeXt against these: throughput relative to FBNet-C, size against
MobileNetV3-L, accuracy against a reference. Each builder follows the published table
(inverted residuals, squeeze-excitation, h-swish as published) and is checked against
the published parameter and MAC counts at 224x224, 1000 classes (tests/test_references.py).
A reference named in a constraints file may also be a gensynth spec, an ONNX or a
TorchScript file, or a timm model (see `gensynth.referencing` for loading those).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gensynth.plan import (
    Act,
    BlockPlan,
    Conv,
    GlobalPool,
    Layer,
    Linear,
    NetPlan,
    Norm,
    Section,
    strides,
)


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round channels to a multiple of divisor, never more than 10% down (MobileNet rule)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def inverted_residual(
    c_in: int,
    c_out: int,
    k: int,
    stride: int,
    mid: int,
    act: str,
    se: int = 0,
    se_gate: str = "hsigmoid",
    se_act: str = "relu",
) -> BlockPlan:
    """Expand 1x1 (skipped when mid == c_in) -> depthwise kxk -> [SE] -> project 1x1 (linear);
    the input is added back when the shapes allow (stride 1, c_in == c_out)."""
    layers: list[Layer | BlockPlan] = []
    if mid != c_in:
        layers += [Conv(c_in, mid, 1), Norm(mid), Act(act)]
    layers += [Conv(mid, mid, k, stride, groups=mid), Norm(mid), Act(act)]
    if se:
        squeeze = (
            GlobalPool(keepdim=True),
            Conv(mid, se, 1, bias=True),
            Act(se_act),
            Conv(se, mid, 1, bias=True),
        )
        layers.append(BlockPlan("se", (squeeze,), gate=se_gate, label="SE"))
    layers += [Conv(mid, c_out, 1), Norm(c_out)]
    kind = "add" if stride == 1 and c_in == c_out else "seq"
    return BlockPlan(kind, (tuple(layers),), label=f"IR k{k} e{mid / c_in:.3g}")


def _sections(name: str, stem: tuple, rows: list[BlockPlan], head: tuple, in_ch: int) -> NetPlan:
    """Stem, one stage section per resolution, head (so reports can show stages)."""
    stages: list[list[BlockPlan]] = [[]]
    for block in rows:
        strided = any(strides(x) for x in block.branches[0] if not isinstance(x, BlockPlan))
        if strided and stages[-1]:
            stages.append([])
        stages[-1].append(block)
    sections = [Section("stem", (BlockPlan("seq", (stem,), label="stem"),), 1, 1)]
    sections += [Section(f"stage{i}", tuple(s), 1, len(s)) for i, s in enumerate(stages, 1)]
    sections.append(Section("head", (BlockPlan("seq", (head,), label="head"),), 1, 1))
    return NetPlan(name, in_ch, tuple(sections))


# MobileNetV3 (Howard et al. 2019), Tables 1 and 2: k, expansion, out, SE, activation, stride.
MOBILENETV3_LARGE = [
    (3, 16, 16, False, "relu", 1),
    (3, 64, 24, False, "relu", 2),
    (3, 72, 24, False, "relu", 1),
    (5, 72, 40, True, "relu", 2),
    (5, 120, 40, True, "relu", 1),
    (5, 120, 40, True, "relu", 1),
    (3, 240, 80, False, "hswish", 2),
    (3, 200, 80, False, "hswish", 1),
    (3, 184, 80, False, "hswish", 1),
    (3, 184, 80, False, "hswish", 1),
    (3, 480, 112, True, "hswish", 1),
    (3, 672, 112, True, "hswish", 1),
    (5, 672, 160, True, "hswish", 2),
    (5, 960, 160, True, "hswish", 1),
    (5, 960, 160, True, "hswish", 1),
]
MOBILENETV3_SMALL = [
    (3, 16, 16, True, "relu", 2),
    (3, 72, 24, False, "relu", 2),
    (3, 88, 24, False, "relu", 1),
    (5, 96, 40, True, "hswish", 2),
    (5, 240, 40, True, "hswish", 1),
    (5, 240, 40, True, "hswish", 1),
    (5, 120, 48, True, "hswish", 1),
    (5, 144, 48, True, "hswish", 1),
    (5, 288, 96, True, "hswish", 2),
    (5, 576, 96, True, "hswish", 1),
    (5, 576, 96, True, "hswish", 1),
]


def _mobilenetv3(
    name: str, table: list, last: int, features: int, classes: int, in_ch: int
) -> NetPlan:
    stem = (Conv(in_ch, 16, 3, 2), Norm(16), Act("hswish"))
    rows, c = [], 16
    for k, exp, out, se, act, stride in table:
        squeeze = make_divisible(exp / 4) if se else 0
        rows.append(inverted_residual(c, out, k, stride, exp, act, squeeze))
        c = out
    head = (
        Conv(c, last, 1),
        Norm(last),
        Act("hswish"),
        GlobalPool(keepdim=True),
        Conv(last, features, 1, bias=True),
        Act("hswish"),
        GlobalPool(),
        Linear(features, classes),
    )
    return _sections(name, stem, rows, head, in_ch)


def mobilenetv3_large(classes: int = 1000, in_ch: int = 3) -> NetPlan:
    return _mobilenetv3("mobilenetv3_large", MOBILENETV3_LARGE, 960, 1280, classes, in_ch)


def mobilenetv3_small(classes: int = 1000, in_ch: int = 3) -> NetPlan:
    return _mobilenetv3("mobilenetv3_small", MOBILENETV3_SMALL, 576, 1024, classes, in_ch)


# FBNet-C (Wu et al. 2019, Figure 4): per stage (kernel, expansion, out, repeats, stride).
FBNET_C = [
    [(3, 1, 16, 1, 1)],
    [(3, 6, 24, 1, 2), (3, 1, 24, 2, 1)],
    [(5, 6, 32, 1, 2), (5, 3, 32, 1, 1), (5, 6, 32, 1, 1), (3, 6, 32, 1, 1)],
    [(5, 6, 64, 1, 2), (5, 3, 64, 1, 1), (5, 6, 64, 2, 1)],
    [(5, 6, 112, 3, 1), (5, 3, 112, 1, 1)],
    [(5, 6, 184, 4, 2)],
    [(3, 6, 352, 1, 1)],
]
# MobileNetV2 (Sandler et al. 2018, Table 2): expansion t, out c, repeats n, stride s.
MOBILENETV2 = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]
# EfficientNet-B0 (Tan & Le 2019, Table 1): expansion, kernel, stride, out, repeats.
EFFICIENTNET_B0 = [
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
]


def _classic_head(c: int, features: int, classes: int, act: str) -> tuple:
    return (Conv(c, features, 1), Norm(features), Act(act), GlobalPool(), Linear(features, classes))


def fbnet_c(classes: int = 1000, in_ch: int = 3) -> NetPlan:
    """FBNet-C: ReLU inverted residuals without SE; the e1 blocks keep their 1x1 expansion."""
    stem = (Conv(in_ch, 16, 3, 2), Norm(16), Act("relu"))
    rows, c = [], 16
    for stage in FBNET_C:
        for k, e, out, repeats, stride in stage:
            for i in range(repeats):
                block = inverted_residual(c, out, k, stride if i == 0 else 1, c * e, "relu")
                if e == 1:  # FBNet's e1 blocks still run a 1x1 conv before the depthwise
                    block = _with_expansion(block, c)
                rows.append(block)
                c = out
    return _sections("fbnet_c", stem, rows, _classic_head(c, 1984, classes, "relu"), in_ch)


def _with_expansion(block: BlockPlan, c: int) -> BlockPlan:
    layers = (Conv(c, c, 1), Norm(c), Act("relu"), *block.branches[0])
    return BlockPlan(block.kind, (layers,), label=block.label)


def mobilenetv2(classes: int = 1000, in_ch: int = 3) -> NetPlan:
    stem = (Conv(in_ch, 32, 3, 2), Norm(32), Act("relu"))
    rows, c = [], 32
    for t, out, n, s in MOBILENETV2:
        for i in range(n):
            rows.append(inverted_residual(c, out, 3, s if i == 0 else 1, c * t, "relu"))
            c = out
    return _sections("mobilenetv2", stem, rows, _classic_head(c, 1280, classes, "relu"), in_ch)


def efficientnet_b0(classes: int = 1000, in_ch: int = 3) -> NetPlan:
    """EfficientNet-B0: SiLU MBConv with sigmoid SE squeezing to 1/4 of the block's input."""
    stem = (Conv(in_ch, 32, 3, 2), Norm(32), Act("silu"))
    rows, c = [], 32
    for e, k, s, out, n in EFFICIENTNET_B0:
        for i in range(n):
            rows.append(
                inverted_residual(
                    c, out, k, s if i == 0 else 1, c * e, "silu", max(1, c // 4), "sigmoid", "silu"
                )
            )
            c = out
    return _sections("efficientnet_b0", stem, rows, _classic_head(c, 1280, classes, "silu"), in_ch)


@dataclass(frozen=True)
class Published:
    """Counts the papers (or their reference implementations) publish at 224x224, 1000 classes."""

    params_m: float
    macs_m: float
    top1: float  # ImageNet top-1 %, for the report's comparison table
    source: str
    macs_precision_m: float = 0.0  # half a unit of the published figure's last digit


BUILTIN: dict[str, tuple[Callable[..., NetPlan], Published]] = {
    "mobilenetv3_large": (mobilenetv3_large, Published(5.48, 217, 75.2, "Howard et al. 2019")),
    "mobilenetv3_small": (mobilenetv3_small, Published(2.54, 56.5, 67.4, "Howard et al. 2019")),
    "fbnet_c": (fbnet_c, Published(5.57, 385, 74.9, "Wu et al. 2019")),
    "mobilenetv2": (mobilenetv2, Published(3.50, 300, 72.0, "Sandler et al. 2018")),
    "efficientnet_b0": (efficientnet_b0, Published(5.29, 390, 77.1, "Tan & Le 2019", 5.0)),
}
SOURCE_KINDS = ("spec", "onnx", "torchscript", "timm")


def builtin_plan(name: str, classes: int = 1000, in_ch: int = 3) -> NetPlan:
    return BUILTIN[name][0](classes, in_ch)
