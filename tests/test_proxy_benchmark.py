"""benchmarks/proxy.py's noise ceiling: the tau a proxy can reach against a noisy truth."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "proxy.py"
_SPEC = importlib.util.spec_from_file_location("proxy_benchmark", _PATH)
proxy = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(proxy)


def truth(spread: float, noise: float, networks: int = 12, seeds: int = 3) -> dict:
    rng = np.random.default_rng(1)
    means = 85.0 + spread * np.arange(networks) / networks
    return {f"n{i}": list(m + rng.normal(0.0, noise, seeds)) for i, m in enumerate(means)}


def test_a_noiseless_truth_is_ranked_perfectly():
    runs = {f"n{i}": [80.0 + i] * 3 for i in range(8)}
    got = proxy.noise_ceiling(runs, list(runs), draws=50)
    assert got["perfect"] == pytest.approx((1.0, 1.0, 1.0, 0.0))
    assert got["one run"] == pytest.approx((1.0, 1.0, 1.0, 0.0))


def test_the_ceiling_falls_as_the_truth_gets_noisier():
    steady = proxy.noise_ceiling(runs := truth(6.0, 0.2), list(runs), draws=300)
    noisy = proxy.noise_ceiling(runs := truth(6.0, 2.0), list(runs), draws=300)
    assert noisy["perfect"][0] < steady["perfect"][0] - 0.2
    assert noisy["one run"][0] < steady["one run"][0] - 0.2
    assert noisy["one run"][3] > steady["one run"][3]  # falls below 0.7 more often
    for got in (steady, noisy):
        median, low, high, below = got["one run"]
        assert low <= median <= high
        assert 0.0 <= below <= 1.0
        # one more run is itself noisy: it ranks no better than knowing the expected values
        assert median <= got["perfect"][0]


def test_the_ceiling_is_seeded_and_can_be_taken_over_a_subset():
    runs = truth(3.0, 0.5)
    first = proxy.noise_ceiling(runs, list(runs)[:6], draws=100)
    assert first == proxy.noise_ceiling(runs, list(runs)[:6], draws=100)
    assert first != proxy.noise_ceiling(runs, list(runs), draws=100)


def test_truth_that_is_all_noise_leaves_nothing_to_rank():
    runs = {f"n{i}": [85.0 + d for d in (-0.5, 0.0, 0.5)] for i in range(10)}  # equal means
    got = proxy.noise_ceiling(runs, list(runs), draws=300)
    assert abs(got["one run"][0]) < 0.15
    assert got["one run"][3] > 0.9  # below 0.7 nearly always
