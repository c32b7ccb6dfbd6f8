"""Training throughput: gensynth's proxy loop vs a plain hand-written PyTorch loop.

    python benchmarks/train.py [--epochs 2] [--repeats 3]

Same model (the seed prototype at 10 classes), same digits data at 32x32, same optimizer
and batch size, same thread count; runs are interleaved and the best of each is kept.
gensynth is measured with augmentation off (pure loop overhead) and on (its default).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time

import torch
import torch.nn.functional as F

from gensynth.build import build_model
from gensynth.constraints import Proxy
from gensynth.data import load_dataset
from gensynth.spec import load_spec
from gensynth.train import train


def plain_loop(model, data, proxy: Proxy) -> float:
    """The loop a person writes by hand; returns training images per second."""
    torch.set_num_threads(proxy.threads)
    opt = torch.optim.AdamW(model.parameters(), lr=proxy.lr, weight_decay=proxy.weight_decay)
    total = math.ceil(len(data.train_y) / proxy.batch_size) * proxy.epochs
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, total)
    gen = torch.Generator().manual_seed(0)
    seen, busy = 0, 0.0
    for _ in range(proxy.epochs):
        model.train()
        start = time.perf_counter()
        order = torch.randperm(len(data.train_y), generator=gen)
        for i in range(0, len(order), proxy.batch_size):
            idx = order[i : i + proxy.batch_size]
            loss = F.cross_entropy(model(data.train_x[idx]), data.train_y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            seen += len(idx)
        busy += time.perf_counter() - start
    return seen / busy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    proxy = Proxy(epochs=args.epochs, threads=2)
    no_aug = dataclasses.replace(proxy, augment_shift=0)
    data = load_dataset(proxy)
    spec = load_spec("generators/attendnext_seed.yaml").replace(num_classes=data.classes)
    runs: dict[str, list[float]] = {
        "plain PyTorch loop": [],
        "gensynth (no augment)": [],
        "gensynth (shift 2 px)": [],
    }
    for _ in range(args.repeats):
        torch.manual_seed(0)
        runs["plain PyTorch loop"].append(plain_loop(build_model(spec), data, proxy))
        torch.manual_seed(0)
        runs["gensynth (no augment)"].append(train(build_model(spec), data, no_aug).images_per_s)
        torch.manual_seed(0)
        runs["gensynth (shift 2 px)"].append(train(build_model(spec), data, proxy).images_per_s)
    base = max(runs["plain PyTorch loop"])
    print(
        f"seed prototype, digits 32x32, batch {proxy.batch_size}, {proxy.threads} threads, "
        f"{args.epochs} epochs, best of {args.repeats} (evaluation time excluded)"
    )
    print(f"{'loop':<24}{'images/s':>10}{'overhead':>10}")
    for name, values in runs.items():
        best = max(values)
        print(f"{name:<24}{best:>10.1f}{(base / best - 1) * 100:>9.1f}%")
    print("target: gensynth overhead <= 10%")


if __name__ == "__main__":
    main()
