"""Latency: both backends give a median with a spread; threads are restored."""

from __future__ import annotations

import pytest
import torch

from gensynth.build import build_model
from gensynth.errors import GensynthError
from gensynth.latency import measure_latency
from tests.conftest import tiny_spec


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_backends_measure_a_median_and_spread(backend):
    before = torch.get_num_threads()
    lat = measure_latency(
        build_model(tiny_spec()), (1, 3, 32, 32), backend, threads=1, warmup=1, runs=5
    )
    assert lat.min_ms <= lat.q1_ms <= lat.median_ms <= lat.q3_ms <= lat.max_ms
    assert lat.median_ms > 0 and lat.iqr_ms >= 0 and lat.runs == 5
    assert torch.get_num_threads() == before


def test_unknown_backend():
    with pytest.raises(GensynthError, match="did you mean 'onnxruntime'"):
        measure_latency(torch.nn.Identity(), (1, 3, 8, 8), "onnxruntim")
