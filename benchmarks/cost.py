"""Specs per second: analytic cost vs fvcore tracing, side by side on the same corpus.

python benchmarks/cost.py [--n 100] [--resolution 64]
"""

from __future__ import annotations

import argparse
import time

import torch
from fvcore.nn import FlopCountAnalysis, parameter_count

from gensynth.build import build_model
from gensynth.corpus import corpus
from gensynth.cost import cost


def by_fvcore(spec, resolution):
    net = build_model(spec).eval()
    flops = FlopCountAnalysis(net, torch.zeros(1, spec.in_channels, resolution, resolution))
    flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    ops = flops.by_operator()
    return parameter_count(net)[""], ops.get("conv", 0) + ops.get("linear", 0)


def by_analysis(spec, resolution):
    c = cost(spec, resolution)
    return c.params, c.macs


def rate(fn, specs, resolution):
    start = time.perf_counter()
    results = [fn(spec, resolution) for spec in specs]
    return len(specs) / (time.perf_counter() - start), results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--resolution", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(1)
    specs = corpus(args.n, seed=0)
    analytic_rate, analytic = rate(by_analysis, specs, args.resolution)
    fv_rate, traced = rate(by_fvcore, specs, args.resolution)
    assert analytic == traced, "analytic and fvcore counts disagree"
    print(f"corpus: {args.n} random specs (seed 0) at {args.resolution}x{args.resolution}")
    print(f"{'method':<22}{'specs/s':>12}")
    print(f"{'analytic (gensynth)':<22}{analytic_rate:>12.1f}")
    print(f"{'fvcore build + trace':<22}{fv_rate:>12.1f}")
    print(f"speed-up: {analytic_rate / fv_rate:.0f}x (target >= 100x); counts identical")


if __name__ == "__main__":
    main()
