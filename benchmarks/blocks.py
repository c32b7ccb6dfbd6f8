"""Latency of stage-entry blocks at equal width and resolution: DC-AC vs the original
attention condenser vs a plain bottleneck entry, on torch (eager) and ONNX Runtime.

    python benchmarks/blocks.py [--threads 1] [--runs 30]

Every block maps (c_in, r, r) to (c_out, r/2, r/2) with 4 columns, bottleneck embedding,
mixed interaction and BlurPool downsampling; only the entry kind differs.
"""

from __future__ import annotations

import argparse

import torch

from gensynth.blocks import make_block
from gensynth.cost import Shape, plan_cost
from gensynth.latency import measure_latency
from gensynth.plan import stage_plan
from gensynth.spec import Stage

ENTRIES = {
    ("dcac", "softmax"): "DC-AC softmax",
    ("dcac", "sigmoid"): "DC-AC sigmoid",
    ("ac", "softmax"): "AC (original)",
    ("conv", "softmax"): "plain bottleneck",
}
CASES = [(32, 64, 56), (64, 128, 28), (128, 256, 14)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    torch.manual_seed(0)
    print(
        f"batch 1, {args.threads} thread(s), median of {args.runs} runs after 5 warm-up; "
        "MACs of conv + blur layers"
    )
    print(f"{'input -> output':<24}{'block':<18}{'MACs (M)':>10}{'torch ms':>10}{'ort ms':>9}")
    for c_in, c_out, r in CASES:
        for (entry, gate), label in ENTRIES.items():
            stage = Stage(
                width=c_out // 2,
                depth=1,
                columns=4,
                block="bottleneck",
                entry=entry,
                interaction="mixed",
                stride=2,
                downsample="blur",
                expansion=2,
                gate=gate,
            )
            plans = stage_plan(stage, c_in)
            block = torch.nn.Sequential(*map(make_block, plans)).eval()
            _, layers = plan_cost(plans, Shape(c_in, r, r))
            macs = sum(x.macs for x in layers) / 1e6
            times = [
                measure_latency(
                    block, (1, c_in, r, r), backend, args.threads, 5, args.runs
                ).median_ms
                for backend in ("torch", "onnxruntime")
            ]
            io = f"{c_in}x{r}x{r} -> {c_out}x{r // 2}x{r // 2}"
            print(f"{io:<24}{label:<18}{macs:>10.2f}{times[0]:>10.3f}{times[1]:>9.3f}")


if __name__ == "__main__":
    main()
