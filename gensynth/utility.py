"""The utility U: NetScore (Wong 2018) and the objective vector of a Pareto search."""

from __future__ import annotations

import math

from gensynth.constraints import Utility
from gensynth.units import DIRECTIONS

MACS_PER_UNIT = {"G": 1e9, "M": 1e6}


def netscore(
    accuracy: float,
    params_m: float,
    macs: float,
    alpha: float = 2.0,
    beta: float = 0.5,
    gamma: float = 0.5,
) -> float:
    """``20 log10(a^alpha / (p^beta m^gamma))``: a in %, p in millions, m in the caller's unit.

    Example:
        >>> round(netscore(75.8, 1.0, 1.0), 3) == round(40 * math.log10(75.8), 3)
        True
    """
    if accuracy <= 0 or params_m <= 0 or macs <= 0:
        raise ValueError(
            f"NetScore needs positive inputs, got a={accuracy}, p={params_m}, m={macs}"
        )
    return 20.0 * (
        alpha * math.log10(accuracy) - beta * math.log10(params_m) - gamma * math.log10(macs)
    )


def utility_netscore(metrics: dict[str, float], utility: Utility) -> float:
    """NetScore of assessed metrics (accuracy %, params M, MACs in the file's unit)."""
    macs = metrics["macs_g"] * 1e9 / MACS_PER_UNIT[utility.macs_unit]
    return netscore(
        metrics["accuracy"], metrics["params_m"], macs, utility.alpha, utility.beta, utility.gamma
    )


def objective_names(utility: Utility) -> list[str]:
    """The study's objectives by name (Optuna's metric names; dashboards show them)."""
    return ["netscore"] if utility.kind == "netscore" else list(utility.objectives)


def objective_directions(utility: Utility) -> list[str]:
    return [DIRECTIONS[m] for m in objective_names(utility)]


def placeholder(direction: str) -> float:
    """Objective of a candidate stopped before it could be scored: worse than any real one."""
    return -1e3 if direction == "maximize" else 1e6
