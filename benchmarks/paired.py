"""Paired latency under load: are reference-relative verdicts a property of the architecture?

Times a panel of specs (the seed and samples of the shipped design space) against a
reference network, interleaved in one process (gensynth's `measure_paired`), once on an
idle core and once with a CPU-bound process sharing that core (a stand-in for a slower,
busier host). Prints, per spec, the ratio idle and loaded and the verdict against a budget,
then the median and worst change of the ratio and the share of verdicts that agree.

    python benchmarks/paired.py --specs 20 --reference fbnet_c --speedup 1.2
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import optuna
import torch

from gensynth.baselines import load_reference
from gensynth.build import build_model, shipped_form
from gensynth.constraints import load_constraints
from gensynth.latency import measure_paired
from gensynth.space import load_space
from gensynth.spec import load_spec

HOG = "import os\nos.sched_setaffinity(0, {%d})\nwhile True:\n    pass\n"


def panel(n: int, seed: int) -> list:
    """The seed prototype and n-1 distinct samples of the shipped space (random sampler)."""
    space = load_space("generators/attendnext.yaml")
    specs = [load_spec("generators/attendnext_seed.yaml")]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    while len(specs) < n:
        spec = space.sample(study.ask(), name=f"s{len(specs)}")
        if spec.hash not in {s.hash for s in specs}:
            specs.append(spec)
    return specs


def measure(models, ref, shape, backend) -> list:
    """Each ratio to +-5 % (95% CI) or 60 pairs: the precise measurement, not the early verdict."""
    return [measure_paired(m, ref, shape, backend, 1, 3, max_pairs=60) for m in models]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", type=int, default=20)
    parser.add_argument("--reference", default="fbnet_c")
    parser.add_argument("--speedup", type=float, default=1.2, help="budget: >= S x throughput")
    parser.add_argument("--backend", default="torch", choices=["torch", "onnxruntime"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    torch.set_num_threads(1)
    c = load_constraints("constraints/edge.yaml")
    shape = (1, 3, 224, 224)
    x = torch.randn(*shape)
    ref = load_reference(args.reference, c).runner(x, args.backend, 1)
    specs = panel(args.specs, args.seed)
    models = [
        shipped_form(build_model(s.replace(num_classes=1000)), (1, 3, 224, 224)) for s in specs
    ]  # what the inquisitor times
    limit = 1 / args.speedup
    warm = time.time() + 3.0  # settle clocks and caches before the first measurement
    while time.time() < warm:
        ref()
    start = time.time()
    idle = measure(models, ref, shape, args.backend)
    hog = subprocess.Popen([sys.executable, "-c", HOG % core])
    try:
        time.sleep(0.5)
        loaded = measure(models, ref, shape, args.backend)
    finally:
        hog.kill()
    print(
        f"reference {args.reference}, backend {args.backend}, 1 thread, core {core}, "
        f"budget ratio <= {limit:.3f} ({args.speedup}x throughput); {time.time() - start:.0f} s"
    )
    print("spec   ratio idle (95% CI)      ratio loaded (95% CI)    change   verdicts")
    changes, agree = [], 0
    for spec, a, b in zip(specs, idle, loaded, strict=True):
        change = b.ratio / a.ratio - 1
        changes.append(abs(change))
        va, vb = a.ratio <= limit, b.ratio <= limit
        agree += va == vb
        print(
            f"{spec.name:6s} {a.ratio:.3f} ({a.low:.3f}-{a.high:.3f}) n={a.pairs:2d}   "
            f"{b.ratio:.3f} ({b.low:.3f}-{b.high:.3f}) n={b.pairs:2d}   {change:+.1%}   "
            f"{'ok' if va else 'over'}/{'ok' if vb else 'over'}"
        )
    slow = statistics.median(p.candidate_ms for p in loaded) / statistics.median(
        p.candidate_ms for p in idle
    )
    print(f"absolute ms under load: {slow:.2f}x the idle median (what a host-speed verdict sees)")
    print(
        f"ratio change: median {statistics.median(changes):.1%}, worst {max(changes):.1%}; "
        f"verdicts agree for {agree}/{len(specs)} = {agree / len(specs):.0%}"
    )


if __name__ == "__main__":
    main()
