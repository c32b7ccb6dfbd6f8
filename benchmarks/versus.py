"""The chosen architecture side by side with the reference networks, on both backends.

Reads a study (run the README's main command first), takes its chosen architecture (as
exported: BN folded), and times it interleaved against each reference network on torch
eager and on ONNX Runtime, 1 thread, batch 1, at the deployment resolution. Proxy top-1 of
the references comes from the study (trained with the same recipe); references the study
did not train are trained here with it. One table per backend: params, MACs, proxy top-1,
GMAC/s, throughput relative to FBNet-C and to MobileNetV3-L (95% CI).

    python benchmarks/versus.py --study edge [--storage studies/edge.journal]

Then the accuracy comparison at the study's higher fidelity: the chosen architecture's
confirmation (the study's top-k retrained for 2x the epochs with two other seeds) beside
MobileNetV3-L trained with exactly that recipe (``--confirm-against``; "" skips it).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics

import torch

from gensynth.baselines import load_reference
from gensynth.build import build_model, shipped_form
from gensynth.confirm import retrain
from gensynth.constraints import Constraints, Deployment, Proxy
from gensynth.data import load_dataset
from gensynth.latency import measure_paired, runner
from gensynth.references import BUILTIN
from gensynth.study import best_record, load_study
from gensynth.train import train

ANCHORS = ("fbnet_c", "mobilenetv3_large")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default="edge")
    parser.add_argument("--storage", default=None)
    parser.add_argument("--references", default=",".join(BUILTIN))
    parser.add_argument("--confirm-against", default="mobilenetv3_large")
    args = parser.parse_args()
    torch.set_num_threads(1)
    study = load_study(args.study, args.storage)
    record = study.user_attrs["constraints"]
    proxy = Proxy(**record["proxy"])
    c = Constraints(args.study, deployment=Deployment(**record["deployment"]), proxy=proxy)
    best = best_record(study)
    d = c.deployment
    shape = (1, d.channels, d.resolution, d.resolution)
    facts = study.user_attrs.get("references", {})
    chosen = shipped_form(build_model(best.arch()), shape)
    names = args.references.split(",")
    refs = {n: load_reference(n, c) for n in names}
    data = None
    for name in names:  # proxy top-1 with the study's recipe, for those it did not train
        if "accuracy" not in facts.get(name, {}):
            data = data or load_dataset(proxy, c.deployment.channels)
            torch.manual_seed(proxy.seed)
            model = build_model(load_reference(name, c, classes=data.classes).plan)
            facts.setdefault(name, {})["accuracy"] = train(model, data, proxy).accuracy
            torch.set_num_threads(1)
    print(
        f"study {args.study}: chosen trial {best.number} ({best.metrics['params_m']:.3f} M "
        f"params, {best.metrics['macs_g'] * 1e3:.1f} M MACs, proxy top-1 "
        f"{best.metrics.get('accuracy', float('nan')):.1f} %); input {shape}, 1 thread"
    )
    for backend in ("torch", "onnxruntime"):
        x = torch.randn(*shape)
        runs = {
            "chosen": runner(chosen, x, backend, 1),
            **{n: r.runner(x, backend, 1) for n, r in refs.items()},
        }
        for run in runs.values():  # settle clocks and caches
            for _ in range(5):
                run()
        rel = {
            (a, b): measure_paired(runs[a], runs[b], shape, backend, 1, max_pairs=60)
            for a in runs
            for b in ANCHORS
            if a != b
        }
        print(f"\n{backend} (throughput relative to the anchor = 1 / paired latency ratio; 95% CI)")
        print(
            "network            M params  M MACs  proxy top-1  GMAC/s  vs fbnet_c         "
            "vs mobilenetv3_large"
        )
        for name in runs:
            p = best.metrics if name == "chosen" else refs[name].facts
            acc = p.get("accuracy", facts.get(name, {}).get("accuracy"))
            ms = statistics.median(
                [v.candidate_ms for (a, _), v in rel.items() if a == name]
                or [v.reference_ms for (_, b), v in rel.items() if b == name]
            )
            cells = []
            for anchor in ANCHORS:
                if name == anchor:
                    cells.append("1.00x".ljust(18))
                    continue
                m = rel[(name, anchor)]
                cells.append(f"{1 / m.ratio:.2f}x ({1 / m.high:.2f}-{1 / m.low:.2f})".ljust(18))
            print(
                f"{name:18s} {p['params_m']:8.3f} {p['macs_g'] * 1e3:7.1f} "
                f"{'-' if acc is None else f'{acc:.1f} %':>11s} "
                f"{p['macs_g'] / ms * 1e3:7.1f}  {cells[0]} {cells[1]}"
            )
    if args.confirm_against:
        confirmed(study, best.number, c, args.confirm_against)


def confirmed(study, number: int, c: Constraints, reference: str) -> None:
    """The chosen trial's confirmation beside ``reference`` trained with the same recipe."""
    table = study.user_attrs.get("confirmation") or {}
    row = next((r for r in table.get("rows", []) if r["number"] == number), None)
    if row is None:
        print(f"\ntrial {number} was not confirmed (explore --no-confirm?): no comparison")
        return
    proxy = dataclasses.replace(c.proxy, epochs=table["epochs"])
    data = load_dataset(proxy, c.deployment.channels)
    plan = load_reference(reference, c, classes=data.classes).plan
    accuracies = retrain(lambda: build_model(plan), data, proxy, tuple(table["seeds"]))
    print(
        f"\nconfirmation recipe ({table['epochs']} epochs, seeds "
        f"{', '.join(map(str, table['seeds']))}; proxy top-1 mean +- sd):\n"
        f"  chosen (trial {number})  {row['mean']:.1f} +- {row['sd']:.1f} %  {row['accuracies']}\n"
        f"  {reference:22s} {statistics.fmean(accuracies):.1f} +- "
        f"{statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0:.1f} %  {accuracies}"
    )


if __name__ == "__main__":
    main()
