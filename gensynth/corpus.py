"""Seeded random valid specs covering every option: the oracle corpus for tests and benchmarks."""

from __future__ import annotations

import random

from gensynth.spec import (
    BLOCKS,
    DOWNSAMPLES,
    ENTRIES,
    GATES,
    INTERACTIONS,
    STEM_CONV_DOWNSAMPLES,
    ArchSpec,
    Head,
    Stage,
    Stem,
)


def random_spec(rng: random.Random, max_width: int = 96, name: str = "random") -> ArchSpec:
    """One random spec; small widths so that building and tracing it stays cheap."""
    columns = rng.choice((1, 2, 3, 4))
    stem = Stem(
        width=columns * rng.randint(1, 6),
        columns=columns,
        conv_downsample=rng.choice(STEM_CONV_DOWNSAMPLES),
        downsample=rng.choice((*DOWNSAMPLES, "none")),
        blur_size=rng.randint(1, 7),
    )
    stages = tuple(_random_stage(rng, max_width) for _ in range(rng.randint(1, 4)))
    head = Head(width=rng.choice((None, 8 * rng.randint(1, 8))), dropout=rng.choice((0.0, 0.1)))
    return ArchSpec(
        name,
        in_channels=rng.choice((1, 3)),
        num_classes=rng.randint(2, 20),
        stem=stem,
        stages=stages,
        head=head,
    )


def _random_stage(rng: random.Random, max_width: int) -> Stage:
    columns = rng.choice((1, 2, 3, 4, 6, 8))
    block = rng.choice(BLOCKS)
    return Stage(
        width=columns * rng.randint(1, max(1, max_width // columns)),
        depth=rng.randint(1, 3),
        columns=columns,
        block=block,
        entry=rng.choice(ENTRIES),
        interaction=rng.choice(INTERACTIONS),
        stride=rng.choice((1, 2)),
        downsample=rng.choice(DOWNSAMPLES),
        expansion=rng.randint(1, 3) if block == "bottleneck" else 1,
        gate=rng.choice(GATES),
        reduction=rng.choice((1, 2, 4, 8)),
        blur_size=rng.randint(1, 7),
    )


def corpus(n: int, seed: int = 0, max_width: int = 96) -> list[ArchSpec]:
    """``n`` random specs from a fixed seed (the same list on every machine)."""
    rng = random.Random(seed)
    return [random_spec(rng, max_width, name=f"random-{i}") for i in range(n)]
