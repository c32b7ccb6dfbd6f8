"""Every fixed layer kind gensynth builds against a plain alternative with the same values.

    python benchmarks/layers.py [--repeats 200]

torch eager, 1 thread, batch 1, at the resolutions a 224x224 network runs them. For each
pair: the largest absolute difference (the alternative must compute the same function),
then both timed interleaved (A B, B A, ...), median per-pair ratio with its IQR. gensynth
keeps the faster form; a line says which one it uses.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from gensynth.blocks import BlurPool, GlobalAvgPool, HalfMaxPool2d, MaxShiftPool, edge_pad

Run = Callable[[torch.Tensor], torch.Tensor]


def blur_slices(pool: BlurPool) -> Run:
    """The exported form: pads as slices + concat (static ONNX shapes)."""

    def run(x: torch.Tensor) -> torch.Tensor:
        lo, hi = pool.pad
        x = edge_pad(edge_pad(x, lo, hi, pool.pad_mode, -1), lo, hi, pool.pad_mode, -2)
        return F.conv2d(x, pool.kernel, stride=pool.stride, groups=pool.channels)

    return run


def max_pool_padded(x: torch.Tensor) -> torch.Tensor:
    """max_pool2d(2, stride 1) on a map whose last row and column are replicated."""
    return F.max_pool2d(F.pad(x, (0, 1, 0, 1), mode="replicate"), 2, stride=1)


def dcac_condense_twice(pool: BlurPool) -> Run:
    """A DC-AC's two branches each condensing V (what plan.shared_prefix saves)."""
    return lambda x: torch.cat([pool(x), pool(x)], 1)


def dcac_condense_once(pool: BlurPool) -> Run:
    def run(x: torch.Tensor) -> torch.Tensor:
        y = pool(x)
        return torch.cat([y, y], 1)

    return run


def pairs() -> list[tuple[str, tuple[int, ...], Run, Run, str]]:
    """(layer, input shape, gensynth's form, the alternative, which one gensynth keeps)."""
    out = []
    for c, r in ((16, 112), (32, 56), (64, 28), (128, 14)):
        pool = BlurPool(c)
        out.append((f"BlurPool {c}x{r}", (1, c, r, r), pool, blur_slices(pool), "F.pad"))
    for c, r in ((16, 112), (64, 28)):
        out.append(
            (f"MaxShift {c}x{r}", (1, c, r, r), MaxShiftPool(), max_pool_padded, "two maxima")
        )
    for c, r in ((32, 56), (128, 14)):
        pool = BlurPool(c)
        out.append(
            (
                f"DC-AC condense {c}x{r}",
                (1, c, r, r),
                dcac_condense_once(pool),
                dcac_condense_twice(pool),
                "once",
            )
        )
    out.append(
        (
            "HalfMaxPool 64x57",
            (1, 64, 57, 57),
            HalfMaxPool2d(),
            lambda x: F.max_pool2d(x, 2, stride=2, ceil_mode=True),
            "strided maxima",
        )
    )
    out.append(
        (
            "GlobalAvgPool 744x7",
            (1, 744, 7, 7),
            GlobalAvgPool(),
            lambda x: F.adaptive_avg_pool2d(x, 1).flatten(1),
            "mean",
        )
    )
    out.append(("SiLU 32x112", (1, 32, 112, 112), F.silu, lambda x: x * torch.sigmoid(x), "F.silu"))
    return out


def interleaved(a: Run, b: Run, x: torch.Tensor, repeats: int) -> tuple[float, float, list[float]]:
    for _ in range(10):
        a(x), b(x)
    ta, tb = [], []
    for i in range(repeats):
        for run, into in ((a, ta), (b, tb)) if i % 2 == 0 else ((b, tb), (a, ta)):
            start = time.perf_counter()
            run(x)
            into.append(time.perf_counter() - start)
    return (
        statistics.median(ta),
        statistics.median(tb),
        [x / y for x, y in zip(ta, tb, strict=True)],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, 1 thread, {args.repeats} interleaved pairs each")
    print(f"{'layer':24s} {'max |diff|':>10s} {'gensynth us':>11s} {'plain us':>9s}  ratio (IQR)")
    with torch.inference_mode():
        for name, shape, ours, plain, kept in pairs():
            ours = getattr(ours, "forward", ours)  # no module-call overhead on one side only
            x = torch.randn(*shape)
            diff = (ours(x) - plain(x)).abs().max().item()
            ta, tb, ratios = interleaved(ours, plain, x, args.repeats)
            q = statistics.quantiles(ratios, n=4)
            print(
                f"{name:24s} {diff:10.1e} {ta * 1e6:11.1f} {tb * 1e6:9.1f}  "
                f"{statistics.median(ratios):.2f} ({q[0]:.2f}-{q[2]:.2f})  keeps: {kept}"
            )


if __name__ == "__main__":
    main()
