"""build_model: the seed and a random corpus build and run at proxy and deployment sizes."""

from __future__ import annotations

import pytest
import torch

from gensynth.build import build_model
from gensynth.corpus import corpus
from tests.test_blocks import assert_trains


@pytest.mark.parametrize("resolution", [224, 32, 33, 17, 8, 3])
def test_seed_runs_at_every_size(seed_spec, resolution):
    net = build_model(seed_spec.replace(num_classes=10)).eval()
    with torch.no_grad():
        out = net(torch.randn(1, 3, resolution, resolution))
    assert out.shape == (1, 10) and torch.isfinite(out).all()


def test_seed_trains_at_proxy_size(seed_spec):
    assert_trains(build_model(seed_spec.replace(num_classes=10)), torch.randn(2, 3, 32, 32))


@pytest.mark.parametrize("spec", corpus(40, seed=2), ids=lambda s: s.name)
def test_random_specs_build_and_train(spec):
    x = torch.randn(2, spec.in_channels, 20, 20)
    assert assert_trains(build_model(spec), x).shape == (2, spec.num_classes)


def test_build_is_deterministic_under_a_seed(seed_spec):
    torch.manual_seed(0)
    a = build_model(seed_spec).state_dict()
    torch.manual_seed(0)
    b = build_model(seed_spec).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
