"""Shared fixtures: the shipped seed, tiny specs, and deterministic torch settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gensynth.spec import ArchSpec, Stage, Stem, load_spec

ROOT = Path(__file__).resolve().parent.parent
SEED_FILE = ROOT / "generators" / "attendnext_seed.yaml"

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def seed_spec() -> ArchSpec:
    return load_spec(SEED_FILE)


def tiny_spec(**stage_changes) -> ArchSpec:
    """A two-stage, few-channel spec; keyword arguments change the second stage."""
    second = dict(width=16, depth=2, columns=4, stride=2) | stage_changes
    # the stem conv runs at stride 1 and blurs, so every halving is anti-aliased (AADS 3/3)
    stem = Stem(8, 2, conv_downsample="blur")
    return ArchSpec("tiny", num_classes=5, stem=stem, stages=(Stage(8, 1, 2), Stage(**second)))
