"""Why a profile times everything as a ratio to a yardstick network: host drift, measured.

    python benchmarks/drift.py [--backend onnxruntime] [--networks 30] [--rounds 3]

Samples ``--networks`` networks of the shipped space that edge.yaml's spec-only rules
accept (as `gensynth profile` does), picks the one of median MACs as the yardstick, and
times every network in ``--rounds`` rounds, each in a new random order, two ways back to
back: the median of 10 calls after 3 warm-up calls (absolute ms), and the median of 10
per-pair ratios to the yardstick run interleaved with it (A B, B A, ...; what the profile
stores). For each pair of rounds it prints how far the two ways' values moved: the mean
absolute difference in % and Kendall tau between the rounds' rankings.
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
from pathlib import Path

import torch
from scipy.stats import kendalltau

from gensynth.build import build_model, shipped_form
from gensynth.constraints import load_constraints
from gensynth.latency import measure_paired, runner, time_calls
from gensynth.profile import sample_specs, yardstick_of
from gensynth.space import load_space

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("torch", "onnxruntime"), default="onnxruntime")
    parser.add_argument("--networks", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    c = load_constraints(ROOT / "constraints" / "edge.yaml")
    specs = sample_specs(c, load_space(ROOT / "generators" / "attendnext.yaml"), args.networks, 5)
    d = c.deployment
    shape = (d.batch, d.channels, d.resolution, d.resolution)
    torch.set_num_threads(1)
    x = torch.randn(*shape)
    runs = [runner(shipped_form(build_model(s), shape), x, args.backend, 1) for s in specs]
    unit = runs[specs.index(yardstick_of(specs, d.resolution))]
    absolute: list[list[float]] = []
    relative: list[list[float]] = []
    for r in range(args.rounds):
        a, b = [0.0] * len(specs), [0.0] * len(specs)
        for i in random.Random(r).sample(range(len(specs)), len(specs)):
            a[i] = statistics.median(time_calls(runs[i], 3, 10))
            b[i] = measure_paired(runs[i], unit, shape, args.backend, 1, 2, 0.0, None, 10, 10).ratio
        absolute.append(a)
        relative.append(b)
        print(f"round {r + 1}/{args.rounds} done", flush=True)
    print(f"\n{args.backend}, {len(specs)} networks, 1 thread, {'x'.join(map(str, shape[1:]))}")
    print(
        f"{'rounds':8s} {'absolute ms: moved':>20s} {'tau':>6s} {'ratio: moved':>14s} {'tau':>6s}"
    )
    for i, j in itertools.combinations(range(args.rounds), 2):
        row = []
        for values in (absolute, relative):
            u, v = values[i], values[j]
            moved = statistics.mean(abs(p - q) / q * 100 for p, q in zip(u, v, strict=True))
            row += [moved, kendalltau(u, v).statistic]
        print(f"{i + 1} vs {j + 1}:  {row[0]:17.1f} % {row[1]:6.2f} {row[2]:12.1f} % {row[3]:6.2f}")


if __name__ == "__main__":
    main()
