"""The latency predictor on this machine: profile time, held-out error, prediction speed.

    python benchmarks/predictor.py --constraints constraints/edge.yaml \
        --out profiles/xeon-2core-onnxruntime.json
    python benchmarks/predictor.py --constraints constraints/edge.yaml --backend torch \
        --out profiles/xeon-2core-torch.json

Profiles the shipped design space with the constraints' backend (or --backend) and
threads (or reads a finished profile at --out), then prints: the wall time of profiling,
the predictor's error on the held-out networks (measured in the same random order as the
calibration ones, so host drift touches both), and how many specs per second it predicts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import time
from pathlib import Path

from gensynth.constraints import load_constraints
from gensynth.predictor import describe_correction, load_predictor
from gensynth.profile import run_profile
from gensynth.space import load_space
from gensynth.survey import RandomSuggester


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--constraints", default="constraints/edge.yaml")
    parser.add_argument("--generator", default="generators/attendnext.yaml")
    parser.add_argument("--out", required=True)
    parser.add_argument("--speed-specs", type=int, default=2000)
    parser.add_argument("--backend", choices=("torch", "onnxruntime"), default=None)
    parser.add_argument("--block-networks", type=int, default=None)
    args = parser.parse_args()
    c, space, out = load_constraints(args.constraints), load_space(args.generator), Path(args.out)
    if args.backend:
        c = dataclasses.replace(c, latency=dataclasses.replace(c.latency, backend=args.backend))
    finished = out.exists() and "error" in json.loads(out.read_text())
    start = time.perf_counter()
    more = {"block_networks": args.block_networks} if args.block_networks else {}
    data = json.loads(out.read_text()) if finished else run_profile(c, space, out, **more)
    took = time.perf_counter() - start
    p, e, f = data["provenance"], data["error"], data["fit_error"]
    print(
        f"profile: {out} ({p['cpu']}, {p['backend']} {p['backend_version']}, {p['threads']} "
        f"thread(s), input {'x'.join(map(str, p['input']))})"
    )
    if not finished:
        print(f"profiling took {took / 60:.1f} min")
    print(
        f"held-out: n={e['n']}, mean abs error {e['mape_pct']:.1f} %, worst {e['worst_pct']:.1f}"
        f" %, Kendall tau {e['kendall_tau']:.3f}"
    )
    y = data["yardstick"]
    print(
        f"yardstick: {y['spec']['name']} ({y['ms']:.2f} ms); a network's rounds lie "
        f"{e['spread_pct']:.1f} % apart (median)"
    )
    print(
        f"calibration (fit): n={f['n']}, mean abs error {f['mape_pct']:.1f} %, Kendall tau "
        f"{f['kendall_tau']:.3f}"
    )
    print(f"network correction: {describe_correction(data['correction_terms'])}")
    ms = sorted(n["ms"] for n in data["networks"].values())
    print(f"measured latencies: {ms[0]:.1f} to {ms[-1]:.1f} ms (median {ms[len(ms) // 2]:.1f})")
    refs = ", ".join(f"{k} {v['ms']:.1f}" for k, v in data["references"].items())
    print(f"references (ms): {refs}")
    predictor, rng = load_predictor(out), random.Random(1)
    specs = [space.sample(RandomSuggester(rng), name=f"s{i}") for i in range(args.speed_specs)]
    specs = [s.replace(num_classes=c.deployment.classes) for s in specs]
    start = time.perf_counter()
    for s in specs:
        predictor.predict(s)
    rate = len(specs) / (time.perf_counter() - start)
    print(f"prediction: {rate:,.0f} specs/s ({len(specs)} random specs of the space)")


if __name__ == "__main__":
    main()
