"""Proxy training on the CPU vs CUDA: the seed on the shipped digits proxy, and a network on a
Fashion-MNIST proxy, each trained with the same recipe on both devices (when CUDA exists).

    python benchmarks/device.py [--fashion /usr/share/datasets/fashion-mnist] [--images 20000]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from gensynth.build import build_model
from gensynth.constraints import load_constraints
from gensynth.data import load_dataset
from gensynth.spec import load_spec
from gensynth.train import train


def run(spec, data, proxy, device: str) -> tuple[float, float]:
    torch.manual_seed(proxy.seed)
    model = build_model(spec.replace(num_classes=data.classes))
    start = time.perf_counter()
    result = train(model, data, proxy, device=device)
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, result.accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fashion", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    c = load_constraints("constraints/edge.yaml")
    seed = load_spec("generators/attendnext_seed.yaml")
    devices = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
    print(
        f"torch {torch.__version__}, CPU threads for training: {c.proxy.threads}, "
        f"CUDA: {torch.cuda.get_device_name(0) if len(devices) > 1 else 'none'}"
    )
    digits = load_dataset(c.proxy, 3)
    fashion_proxy = dataclasses.replace(
        c.proxy, dataset="idx", path=args.fashion, max_images=args.images, epochs=args.epochs
    )
    fashion = load_dataset(fashion_proxy, 3)
    for label, data, proxy in (
        ("seed, digits proxy (edge.yaml)", digits, c.proxy),
        (f"seed, Fashion-MNIST {args.images} images", fashion, fashion_proxy),
    ):
        times = {}
        for device in devices:
            run(seed, data, dataclasses.replace(proxy, epochs=1), device)  # warm-up
            seconds, accuracy = run(seed, data, proxy, device)
            times[device] = seconds
            print(f"{label}: {device}: {seconds:.1f} s, top-1 {accuracy:.1f} %")
        if "cuda" in times:
            print(f"{label}: CUDA speed-up {times['cpu'] / times['cuda']:.1f}x")


if __name__ == "__main__":
    main()
