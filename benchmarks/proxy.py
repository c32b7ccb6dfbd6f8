"""Proxy fidelity: does the shipped proxy rank architectures the way longer training does?

    python benchmarks/proxy.py [--samples 8] [--recipes NAME ...] [--report-only]
    python benchmarks/proxy.py --panel-seed 1 --space-only --recipes long shipped ...

Panel: the seed prototypes (attendnext_seed.yaml and the space's seed), the five built-in
reference networks, and ``--samples`` random specs of the shipped design space that pass
edge.yaml's spec-only rules and budgets, chosen evenly spaced in log MACs from the
cheapest to the dearest of 2,000 such specs (the space's cost range). 10 classes, 3 input
channels.

Each network is trained with
- the shipped proxy recipe (constraints/edge.yaml: digits, 32 px, 6 epochs, ...) with
  seeds 0, 1, 2 (the seed-to-seed noise; the references too: the floor's),
- the ground truth: the same recipe on Fashion-MNIST (IDX files from Debian's
  dataset-fashion-mnist) with ``--long-images`` images (3/4 of them from the training
  split, 1/4 from the test split for validation) for ``--long-epochs`` epochs, seeds
  ``--long-seeds`` (their mean; with two or more, the ground truth's agreement with itself
  is printed too): >= 10x the proxy's training images x epochs,
- cheaper and dearer proxy variants (the curve of rank agreement vs proxy cost): digits
  for 3 and 12 epochs; the recipe on Fashion-MNIST with 4,000 validation images (the
  ground truth's) and 2,000-16,000 training images for 1-4 epochs, the best of
  them at <= 1/10 of the ground truth's cost (``FASHION_PROXY``) with seeds 0, 1, 2; at
  8,000 image passes, batches of 32 (seeds 0, 1, 2) and 16, lr 0.01 after a warm-up, and
  24, 40 (seeds 0, 1, 2, the references too) or 48 px images (the ground truth stays at
  32 px), and 40 px with batches of 32 (seeds 0, 1, 2, the references too); the shipped
  digits recipe at 40 px (seeds 0, 1, 2); the ground truth's own recipe with 2 and 4 of
  its 7 epochs.

Every recipe reads its data once, split by seed 0 (so all Fashion-MNIST recipes validate
on the same 4,000 test images and train on the first N of one order of the training
split); a run's seed changes its initialisation, batch order and augmentation. A mean of
k seeds is what ``proxy.seeds: k`` gives (the same runs side by side).

``--panel-seed N`` draws other samples (a held-out panel, kept in proxy-panelN.json);
``--space-only`` leaves out the seed prototypes and references, which do not change with
the draw; ``--recipes`` trains only the recipes named.

It prints Kendall's tau (tau-b) between each proxy's ranking and the ground truth's, the
overlap of their top 3, the same tau over gensynth's own networks alone (what a search
ranks), the proxy's per-network standard deviation over seeds, the ground truth's agreement
with itself and a noise ceiling (the tau that a perfect proxy, and one more run at the
truth's full cost, would get against a truth this noisy: simulated from its seeds), and the
training cost of each recipe (image passes, wall seconds on this host). Each run also keeps
its validation loss (mean cross-entropy), and the same runs are ranked by it as well as by
top-1. Two baselines that train nothing rank the panel by size (parameters, MACs): a proxy
that does not beat them is not measuring much. Results are kept in ``--out`` and reused, so
an interrupted run resumes; ``--again`` trains the ``--recipes`` named again (on another
host, or after a change to the code; interrupted, it starts them over); ``--report-only``
reports what is stored without training.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import kendalltau

from gensynth.baselines import load_reference
from gensynth.build import build_model
from gensynth.constraints import Proxy, load_constraints
from gensynth.cost import cost
from gensynth.data import load_dataset
from gensynth.references import BUILTIN
from gensynth.space import load_space
from gensynth.spec import ArchSpec, load_spec
from gensynth.survey import RandomSuggester, reference_facts, spec_only
from gensynth.train import train

ROOT = Path(__file__).resolve().parent.parent
FASHION = "/usr/share/datasets/fashion-mnist"


def panel(samples: int, seed: int, fixed: bool = True) -> dict[str, ArchSpec | str]:
    """name -> spec (or a built-in reference's name); ``fixed``: with the two seed
    prototypes and the five references (the same whatever ``seed`` draws)."""
    c = load_constraints(ROOT / "constraints" / "edge.yaml")
    space = load_space(ROOT / "generators" / "attendnext.yaml")
    refs = reference_facts(c)
    rng, found = random.Random(seed), {}
    for i in range(200_000):
        spec = space.sample(RandomSuggester(rng), name=f"sample{i}")
        if spec.hash not in found and all(v <= 0 for v in spec_only(spec, c, refs).values()):
            found[spec.hash] = spec
        if len(found) >= 2000:
            break
    # evenly spaced in log MACs from the cheapest to the dearest found (quantiles of the
    # sampled distribution would leave out its cheap tail, where capacity differs most)
    ordered = sorted(found.values(), key=lambda s: cost(s).macs)
    logs = [math.log(cost(s).macs) for s in ordered]
    picks = []
    for k in range(samples):
        target = logs[0] + k * (logs[-1] - logs[0]) / (samples - 1)
        free = [i for i in range(len(ordered)) if ordered[i] not in picks]
        picks.append(ordered[min(free, key=lambda i: abs(logs[i] - target))])
    out: dict[str, ArchSpec | str] = {}
    if fixed:
        out["attendnext_seed"] = load_spec(ROOT / "generators" / "attendnext_seed.yaml")
        out["attendnext_edge_seed"] = space.seed
        out.update({name: name for name in BUILTIN})
    out.update({s.name: s for s in picks})
    return out


def model_of(entry: ArchSpec | str, classes: int) -> torch.nn.Module:
    if isinstance(entry, str):
        c = load_constraints(ROOT / "constraints" / "edge.yaml")
        return build_model(load_reference(entry, c, classes=classes).plan)
    return build_model(entry.replace(num_classes=classes, in_channels=3))


# the best image count / epochs split at <= 1/10 of the truth's cost, and the base of the
# batch, learning-rate and resolution variants
FASHION_PROXY = "fashion 8k+4k val 1 ep"


def recipes(
    shipped: Proxy, long_images: int, long_epochs: int, long_seeds: tuple[int, ...] = (0,)
) -> dict[str, tuple[Proxy, tuple]]:
    """name -> (recipe, seeds). 'long' is the ground truth; 'shipped' the proxy under test."""
    # the ground truth is fixed (not derived from the recipe under test): AdamW 0.003, cosine,
    # batch 64, 32 px, shift augmentation (Proxy's defaults), more images, more epochs
    long = Proxy(dataset="idx", path=FASHION, max_images=long_images, epochs=long_epochs)

    def fashion(images: int, epochs: int, **changes) -> Proxy:
        # the shipped recipe on Fashion-MNIST: ``images`` training images and 4,000
        # validation images of its test split (the ground truth's own 4,000: the same
        # seeded order), ``epochs`` epochs, and any other ``changes``
        return dataclasses.replace(
            shipped,
            dataset="idx",
            path=FASHION,
            max_images=images + 4000,
            val_fraction=4000 / (images + 4000),
            epochs=epochs,
            **changes,
        )

    out = {
        "shipped": (shipped, (0, 1, 2)),
        "long": (long, long_seeds),
        "digits 3 ep": (dataclasses.replace(shipped, epochs=3), (0,)),
        "digits 12 ep": (dataclasses.replace(shipped, epochs=12), (0,)),
        # the same recipe on a harder real dataset (a user's --data), at about the same cost;
        # its 600 validation images leave a binomial sd of ~1.5 points per network
        "fashion 2400 img 6 ep": (
            dataclasses.replace(shipped, dataset="idx", path=FASHION, max_images=2400),
            (0,),
        ),
    }
    # with 4,000 validation images: the same 8,000 image passes spent as more images or as
    # more epochs, and the curve over cost (4,000 to 16,000 passes)
    for images, epochs in ((4000, 1), (2000, 4), (4000, 2), (8000, 1), (16000, 1)):
        name = f"fashion {images // 1000}k+4k val {epochs} ep"
        out[name] = (fashion(images, epochs), (0, 1, 2) if name == FASHION_PROXY else (0,))
    # the same 8,000 passes with the other knobs: more optimiser steps (smaller batches: the
    # large networks that a 1-epoch proxy under-rates are the slow starters), a larger
    # learning rate after a warm-up, a smaller or larger resolution
    for label, changes in (
        ("batch 32", {"batch_size": 32}),
        ("batch 16", {"batch_size": 16}),
        ("lr 0.01 warm-up 0.2", {"lr": 0.01, "warmup_epochs": 0.2}),
        ("24 px", {"resolution": 24}),
        ("40 px", {"resolution": 40}),
        ("48 px", {"resolution": 48}),
        # the two knobs that helped, together: 40 px (the whole panel) and batch 32 (the
        # space's own networks)
        ("40 px batch 32", {"resolution": 40, "batch_size": 32}),
    ):
        name = f"fashion 8k+4k val 1 ep {label}"
        three = label in ("batch 32", "40 px", "40 px batch 32")
        out[name] = (fashion(8000, 1, **changes), (0, 1, 2) if three else (0,))
    # the shipped recipe at 40 px: the deep references (stride 32) keep 2x2 at their end
    out["digits 40 px"] = (dataclasses.replace(shipped, resolution=40), (0, 1, 2))
    # the ground truth's own recipe with fewer epochs (its images, its validation set): the
    # curve of rank agreement vs cost from a tenth of the truth's cost up to the truth itself
    for epochs in (2, 4):
        if epochs < long_epochs:
            out[f"long {epochs} ep"] = (dataclasses.replace(long, epochs=epochs), (0,))
    return out


# recipes whose seeds 1 and 2 are run on the references too (a whole-panel mean of 3)
ALL_SEEDS = (
    "long",
    "shipped",
    "fashion 8k+4k val 1 ep 40 px",
    "fashion 8k+4k val 1 ep 40 px batch 32",
)


@torch.no_grad()
def validation_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean cross-entropy (nats per image) on the validation images: a smoother score of
    the same run than its top-1 (every image counts by how sure the network is)."""
    model.eval()
    total = sum(
        F.cross_entropy(model(x[i : i + 256]), y[i : i + 256], reduction="sum").item()
        for i in range(0, len(x), 256)
    )
    return total / len(x)


TARGET = 0.7  # the tau the issue asks of the shipped proxy
DRAWS = 4000  # simulated ground truths behind each noise ceiling


def noise_ceiling(
    runs: dict[str, list[float]], among: list[str], draws: int = DRAWS
) -> dict[str, tuple[float, float, float, float]]:
    """What tau a proxy can reach against a ground truth this noisy: simulated from the
    truth's own runs (network -> top-1 of each seed). Each network's expected top-1 is its
    mean shrunk so that the means spread no more than the noise allows (their variance less
    the pooled seed variance / k); a run is that plus Gaussian noise with the pooled sd.
    Returns label -> (median, 5th, 95th percentile, share of draws below ``TARGET``) of tau
    against a k-seed truth mean, over ``draws`` draws (seeded: the same numbers each report)
    for the networks ``among``:
    - "perfect": a proxy that knew every network's expected ground truth exactly,
    - "one run": one more run at the ground truth's full cost (an independent seed)."""
    names = list(runs)
    k = min(len(r) for r in runs.values())
    means = np.array([statistics.mean(runs[n]) for n in names])
    noise = math.sqrt(statistics.mean(statistics.variance(runs[n]) for n in names))
    spread = max(means.var(ddof=1) - noise**2 / k, 0.0)
    shrink = math.sqrt(spread / means.var(ddof=1)) if spread > 0 else 0.0
    expected = means.mean() + (means - means.mean()) * shrink
    pick = [names.index(n) for n in among]
    rng = np.random.default_rng(0)
    got: dict[str, list[float]] = {"perfect": [], "one run": []}
    for _ in range(draws):
        sim = expected[:, None] + rng.normal(0.0, noise, (len(names), k + 1))
        truth = sim[pick, :k].mean(axis=1)
        got["perfect"].append(kendalltau(expected[pick], truth).statistic)
        got["one run"].append(kendalltau(sim[pick, k], truth).statistic)
    return {
        label: (
            float(np.median(t)),
            float(np.quantile(t, 0.05)),
            float(np.quantile(t, 0.95)),
            float(np.mean(np.array(t) < TARGET)),
        )
        for label, t in got.items()
    }


def ceiling(sim: dict[str, tuple[float, float, float, float]]) -> str:
    """noise_ceiling()'s answer as one line."""
    perfect, one = (
        f"{median:.2f} [{low:.2f}, {high:.2f}], below {TARGET} in {100 * below:.0f} %"
        for median, low, high, below in (sim["perfect"], sim["one run"])
    )
    return f"perfect proxy {perfect}; one more full-cost run {one}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--long-images", type=int, default=16_000)
    parser.add_argument("--long-epochs", type=int, default=7)
    parser.add_argument("--long-seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--panel-seed",
        type=int,
        default=0,
        help="draws the samples; another seed gives a held-out panel (kept in proxy-panelN.json)",
    )
    parser.add_argument(
        "--space-only",
        action="store_true",
        help="the samples only (no seed prototypes or references)",
    )
    parser.add_argument(
        "--recipes", nargs="+", metavar="NAME", help="train these recipes only (default: all)"
    )
    parser.add_argument("--out", help="results file (default: benchmarks/results/proxy.json)")
    parser.add_argument(
        "--again",
        action="store_true",
        help="retrain the --recipes named even where results are stored (another host, new code)",
    )
    parser.add_argument(
        "--report-only", action="store_true", help="train nothing: report the stored results"
    )
    args = parser.parse_args()
    if args.again and not args.recipes:
        sys.exit("--again needs --recipes: name the recipes to train again")
    if not Path(FASHION, "train-images-idx3-ubyte.gz").is_file():
        sys.exit(f"needs Fashion-MNIST in {FASHION}: apt-get install dataset-fashion-mnist")
    shipped = load_constraints(ROOT / "constraints" / "edge.yaml").proxy
    plan = recipes(shipped, args.long_images, args.long_epochs, tuple(args.long_seeds))
    unknown = set(args.recipes or ()) - set(plan)
    if unknown:
        sys.exit(f"--recipes: unknown {sorted(unknown)}; known: {', '.join(plan)}")
    nets = panel(args.samples, seed=args.panel_seed, fixed=not args.space_only)
    stem = "proxy" if args.panel_seed == 0 else f"proxy-panel{args.panel_seed}"
    out = Path(args.out or ROOT / "benchmarks" / "results" / f"{stem}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    done = json.loads(out.read_text()) if out.is_file() else {}
    sizes = {}  # each network's size (10 classes), for the size baseline
    for name, entry in nets.items():
        facts = cost(model_plan(entry))
        sizes[f"network|{name}"] = {"params": facts.params, "macs": facts.macs}
    stored = dict(done)
    done.update(sizes)
    if stored and done != stored:  # (with nothing stored, the first result writes them)
        out.write_text(json.dumps(done, indent=1))
    chosen = [] if args.report_only else [r for r in plan if r in (args.recipes or plan)]
    again = set(chosen) if args.again else set()
    for recipe in chosen:
        proxy, seeds = plan[recipe]
        data = load_dataset(proxy, 3)
        passes = len(data.train_y) * proxy.epochs
        print(
            f"{recipe}: {data.name}, {len(data.train_y)} train / {len(data.val_y)} val images, "
            f"{proxy.epochs} epochs ({passes} image passes)",
            flush=True,
        )
        for name, entry in sorted(nets.items(), key=lambda kv: isinstance(kv[1], str)):
            # gensynth's networks first: the slow references last
            # seed-to-seed noise on gensynth's networks (the references: seed 0, for time)
            mine = seeds if recipe in ALL_SEEDS or not isinstance(entry, str) else seeds[:1]
            for seed in mine:
                key = f"{recipe}|{name}|{seed}"
                if key in done and recipe not in again:
                    continue
                torch.manual_seed(seed)
                model = model_of(entry, data.classes)
                start = time.perf_counter()
                result = train(model, data, dataclasses.replace(proxy, seed=seed))
                seconds = time.perf_counter() - start
                done[key] = {
                    "accuracy": result.accuracy,
                    "loss": validation_loss(model, data.val_x, data.val_y),
                    "seconds": seconds,
                    "passes": passes,
                }
                out.write_text(json.dumps(done, indent=1))
                print(
                    f"  {name:24s} seed {seed}: {result.accuracy:5.1f} %, "
                    f"loss {done[key]['loss']:.3f} ({seconds:.1f} s)",
                    flush=True,
                )
    report(done, nets, plan)
    pooled(sorted(out.parent.glob("proxy*.json")), plan)


def report(done: dict, nets: dict, plan: dict) -> None:
    def acc(recipe: str, name: str, seed: int = 0) -> float:
        return done[f"{recipe}|{name}|{seed}"]["accuracy"]

    def neg_loss(recipe: str, name: str, seed: int = 0) -> float:
        return -done[f"{recipe}|{name}|{seed}"]["loss"]  # higher is better, like top-1

    def runs(recipe: str, n: str) -> list[float]:
        seeds = plan[recipe][1]
        return [acc(recipe, n, s) for s in seeds if f"{recipe}|{n}|{s}" in done]

    def tau(scores: dict[str, float], among: list[str]) -> float:
        return kendalltau([scores[n] for n in among], [truth[n] for n in among]).statistic

    names = [n for n in nets if f"long|{n}|0" in done]
    if len(names) < 3:
        sys.exit("no ground truth stored yet: run without --report-only first")
    # gensynth's own networks (the seed prototypes and the space's samples): what a search
    # ranks; the references only set the floor and budgets
    mine = [n for n in names if not isinstance(nets[n], str)]
    long_seeds = plan["long"][1]
    # the ground truth: the mean over its seeds where every network has them all, else seed 0
    full = all(len(runs("long", n)) == len(long_seeds) for n in names)
    truth = {n: statistics.mean(runs("long", n)) if full else acc("long", n) for n in names}
    top = {n for _, n in sorted(((truth[n], n) for n in names), reverse=True)[:3]}
    print(
        f"\n{'network':24s} {'M MACs':>7s} {'shipped, seed 0':>15s} {'sd (3 seeds)':>12s}"
        f" {'long (mean of ' + str(len(long_seeds) if full else 1) + ')':>18s}"
    )
    for n in names:
        got = runs("shipped", n) or [math.nan]
        sd = f"{statistics.stdev(got):.2f}" if len(got) > 1 else "-"
        macs = done[f"network|{n}"]["macs"] / 1e6  # sizes: stored by main()
        print(f"{n:24s} {macs:7.1f} {got[0]:13.1f} % {sd:>12s} {truth[n]:16.1f} %")
    print()
    for recipe, (_, seeds) in plan.items():
        sds = [statistics.stdev(runs(recipe, n)) for n in names if len(runs(recipe, n)) > 1]
        if recipe != "long" and len(seeds) > 1 and sds:
            print(
                f"{recipe}: seed-to-seed sd over {len(sds)} networks ({len(seeds)} seeds): "
                f"median {statistics.median(sds):.2f}, max {max(sds):.2f} points"
            )
    both = [n for n in names if len(runs("long", n)) > 1]
    if len(both) > 2:  # the ceiling: how well the ground truth agrees with itself
        a, b = ({n: acc("long", n, s) for n in both} for s in long_seeds[:2])
        sd = statistics.median(statistics.stdev(runs("long", n)) for n in both)
        agree = kendalltau([a[n] for n in both], [b[n] for n in both]).statistic
        print(
            f"ground truth seed {long_seeds[0]} vs seed {long_seeds[1]} on {len(both)} networks: "
            f"Kendall tau {agree:.2f}; seed-to-seed sd median {sd:.2f} points"
        )
        stored = [s for s in long_seeds if all(f"long|{n}|{s}" in done for n in both)]
        for x, y in itertools.combinations(stored, 2):  # any further pairs of seeds
            if (x, y) != tuple(long_seeds[:2]):
                pair = [[acc("long", n, s) for n in both] for s in (x, y)]
                print(f"  seed {x} vs seed {y}: Kendall tau {kendalltau(*pair).statistic:.2f}")
        ours = [n for n in both if n in mine]
        if 2 < len(ours) < len(both):
            agree = kendalltau([a[n] for n in ours], [b[n] for n in ours]).statistic
            print(f"  on gensynth's {len(ours)} networks alone: Kendall tau {agree:.2f}")
        if len(stored) > 2:
            # a run at the truth's full cost judged like a proxy: one seed against the mean of
            # the others (not itself): the most a proxy can be expected to reach
            for s in stored:
                one = {n: acc("long", n, s) for n in both}
                rest = {
                    n: statistics.mean(acc("long", n, o) for o in stored if o != s) for n in both
                }
                whole = kendalltau([one[n] for n in both], [rest[n] for n in both]).statistic
                line = f"  seed {s} vs the others' mean: Kendall tau {whole:.2f}"
                if 2 < len(ours) < len(both):
                    own = kendalltau([one[n] for n in ours], [rest[n] for n in ours]).statistic
                    line += f" ({own:.2f} on gensynth's {len(ours)})"
                print(line)
        if len(stored) > 1:
            # the same ceiling from a noise model, with its spread: where 0.7 lies
            truth_runs = {n: [acc("long", n, s) for s in stored] for n in both}
            print(
                f"noise ceiling vs the truth's mean of {len(stored)} (simulated from its seed "
                f"noise; median [5th, 95th percentile] of {DRAWS} draws):"
            )
            groups = [("", both)] + (
                [(f"gensynth's {len(ours)}", ours)] if 2 < len(ours) < len(both) else []
            )
            for group, among in groups:
                label = group or f"{len(among)} networks"
                print(f"  {label:16s} {ceiling(noise_ceiling(truth_runs, among))}")
    truth_passes = done[f"long|{names[0]}|0"]["passes"]
    print(
        f"\n{'proxy recipe':44s} {'image passes':>12s} {'cost':>6s} {'seconds':>8s} {'tau':>6s} "
        f"{'tau, gensynth':>13s} top-3"
    )
    for recipe in plan:
        if recipe == "long" or not all(f"{recipe}|{n}|0" in done for n in names):
            continue
        rows = [(f"{recipe} (seed 0)", {n: acc(recipe, n) for n in names}, 1)]
        k = len(plan[recipe][1])
        if k > 1 and all(len(runs(recipe, n)) == k for n in mine):
            # (the references: seed 0 only, for time, except in ALL_SEEDS)
            mean = {n: statistics.mean(runs(recipe, n)) for n in names}
            rows.append((f"{recipe} (mean of {k})", mean, k))
        if all("loss" in done[f"{recipe}|{n}|0"] for n in names):
            # the same runs ranked by validation loss instead of top-1
            rows.append(("  by loss (seed 0)", {n: neg_loss(recipe, n) for n in names}, 1))
            if len(rows) > 2:  # a mean of k, over the same stored runs as top-1's
                stored = {
                    n: [s for s in plan[recipe][1] if f"{recipe}|{n}|{s}" in done] for n in names
                }
                if all("loss" in done[f"{recipe}|{n}|{s}"] for n in names for s in stored[n]):
                    mean = {
                        n: statistics.mean(neg_loss(recipe, n, s) for s in stored[n]) for n in names
                    }
                    rows.append((f"  by loss (mean of {k})", mean, k))
        seconds = sum(done[f"{recipe}|{n}|0"]["seconds"] for n in names)  # seed 0's
        for label, scores, k in rows:
            best = {n for _, n in sorted(((scores[n], n) for n in names), reverse=True)[:3]}
            passes = k * done[f"{recipe}|{names[0]}|0"]["passes"]
            print(
                f"{label:44s} {passes:12d} {passes / truth_passes:6.2f} {seconds:8.0f} "
                f"{tau(scores, names):6.2f} "
                f"{tau(scores, mine) if len(mine) > 2 else math.nan:13.2f} {len(best & top)}/3"
            )
    seconds = sum(done[f"long|{n}|0"]["seconds"] for n in names)
    print(f"{'ground truth (long), seed 0':44s} {truth_passes:12d} {1:6.2f} {seconds:8.0f}")
    for label, size in (("size: parameters", "params"), ("size: MACs", "macs")):
        # no training at all: the bigger network ranked higher (what a proxy must beat)
        scores = {n: done[f"network|{n}"][size] for n in names}
        best = {n for _, n in sorted(((scores[n], n) for n in names), reverse=True)[:3]}
        print(
            f"{label:44s} {0:12d} {0:6.2f} {0:8.0f} {tau(scores, names):6.2f} "
            f"{tau(scores, mine) if len(mine) > 2 else math.nan:13.2f} {len(best & top)}/3"
        )
    print(
        "(cost: image passes per network as a share of one ground-truth run; a mean of k seeds "
        "costs k runs; by loss: the runs above ranked by validation cross-entropy, lowest first)"
    )
    if len(mine) < len(names):
        print(f"(tau, gensynth: over the {len(mine)} seed prototypes and samples alone)")


def pooled(files: list[Path], plan: dict) -> None:
    """Tau over gensynth's networks of every stored panel together (more networks: a
    steadier tau than one panel's)."""
    if len(files) < 2:
        return
    # (recipe, file, network) -> seed -> (top-1, -loss or None); (file, network) -> size
    runs: dict[tuple[str, str, str], dict[int, tuple[float, float | None]]] = {}
    sizes: dict[tuple[str, str], dict] = {}
    for f in files:
        for key, value in json.loads(f.read_text()).items():
            parts = key.split("|")
            if len(parts) == 2:  # network|NAME: its size
                sizes[f.name, parts[1]] = value
            elif parts[1] not in BUILTIN:
                recipe, name, seed = parts
                loss = -value["loss"] if "loss" in value else None
                runs.setdefault((recipe, f.name, name), {})[int(seed)] = (value["accuracy"], loss)
    long_seeds = plan["long"][1]
    if len(long_seeds) < 2:
        return
    nets = sorted(
        (f, n) for r, f, n in runs if r == "long" and set(long_seeds) <= set(runs[r, f, n])
    )
    used = sorted({f for f, _ in nets})  # panels with every ground-truth seed stored
    if len(used) < 2:
        return
    truth = [statistics.mean(runs["long", f, n][s][0] for s in long_seeds) for f, n in nets]
    print(f"\npooled over {len(used)} panels ({', '.join(used)}): gensynth's {len(nets)} networks")
    a, b = ([runs["long", f, n][s][0] for f, n in nets] for s in long_seeds[:2])
    agree = kendalltau(a, b).statistic
    print(f"  ground truth seed {long_seeds[0]} vs {long_seeds[1]}: tau {agree:.2f}")
    truth_runs = {f"{f}|{n}": [runs["long", f, n][s][0] for s in long_seeds] for f, n in nets}
    print(f"  noise ceiling: {ceiling(noise_ceiling(truth_runs, list(truth_runs)))}")
    if all(net in sizes for net in nets):
        for size in ("params", "macs"):
            got = kendalltau([sizes[net][size] for net in nets], truth).statistic
            print(f"  size ({size}, no training): tau {got:.2f}")
    for recipe, (_, seeds) in plan.items():
        stored = [runs.get((recipe, f, n), {}) for f, n in nets]
        if recipe == "long" or not all(0 in r for r in stored):
            continue
        for which, label in ((0, ""), (1, " by loss")):
            if any(r[0][which] is None for r in stored):
                continue
            first = kendalltau([r[0][which] for r in stored], truth).statistic
            line = f"  {recipe}{label}: tau {first:.2f} (seed 0)"
            if len(seeds) > 1 and all(
                set(seeds) <= set(r) and all(r[s][which] is not None for s in seeds) for r in stored
            ):
                singles = [
                    kendalltau([r[s][which] for r in stored], truth).statistic for s in seeds[1:]
                ]
                means = [statistics.mean(r[s][which] for s in seeds) for r in stored]
                others = ", ".join(map(str, seeds[1:]))
                line += (
                    f", {', '.join(f'{t:.2f}' for t in singles)} (seeds {others}),"
                    f" {kendalltau(means, truth).statistic:.2f} (mean of {len(seeds)})"
                )
            print(line)


def model_plan(entry: ArchSpec | str):
    if isinstance(entry, str):
        from gensynth.references import builtin_plan

        return builtin_plan(entry, 10, 3)
    return entry.replace(num_classes=10)


if __name__ == "__main__":
    main()
