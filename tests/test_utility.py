"""NetScore: identities, unit switch, a hand-computed value."""

from __future__ import annotations

import math

import pytest

from gensynth.constraints import Utility
from gensynth.utility import netscore, objective_directions, utility_netscore


@pytest.mark.parametrize("a", [10.0, 75.8, 99.0])
def test_unit_costs_leave_forty_log_a(a):
    assert netscore(a, 1.0, 1.0) == pytest.approx(40 * math.log10(a))


def test_switching_macs_to_millions_subtracts_exactly_30():
    metrics = {"accuracy": 75.8, "params_m": 3.84, "macs_g": 0.517}
    g = utility_netscore(metrics, Utility(macs_unit="G"))
    m = utility_netscore(metrics, Utility(macs_unit="M"))
    assert g - m == pytest.approx(30.0)


def test_hand_computed_value():
    # a=80, p=4, m=0.5: 20*(2*1.90309 - 0.5*0.60206 - 0.5*(-0.30103)) = 73.1133
    assert netscore(80.0, 4.0, 0.5) == pytest.approx(73.1133, abs=1e-4)
    assert netscore(80.0, 4.0, 0.5, alpha=1, beta=1, gamma=0) == pytest.approx(
        20 * math.log10(80 / 4)
    )


def test_non_positive_inputs_are_refused():
    with pytest.raises(ValueError, match="positive"):
        netscore(0.0, 1.0, 1.0)


def test_directions():
    assert objective_directions(Utility()) == ["maximize"]
    assert objective_directions(Utility(kind="pareto", objectives=("accuracy", "latency_ms"))) == [
        "maximize",
        "minimize",
    ]
