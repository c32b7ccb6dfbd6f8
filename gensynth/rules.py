"""Indicator rules 1_r(N): each named, each a violation v (v <= 0 holds, v > 0 violated)."""

from __future__ import annotations

from collections.abc import Iterator

from gensynth.blocks import Blur, Conv, Layer
from gensynth.build import network_plan
from gensynth.constraints import Budgets, Rules
from gensynth.spec import ArchSpec

# Rule names, in the order the inquisitor decides them (cheapest first).
STRUCTURE_RULES = ("columnar", "no_strided_pointwise", "aads")
BUDGET_RULES = {"params": "params_m", "macs": "macs_g", "peak_activation": "peak_activation_mb",
                "latency": "latency_ms"}
ACCURACY_RULES = {"accuracy_floor": "accuracy", "shift_consistency": "shift_consistency"}
RULES = (*STRUCTURE_RULES, *BUDGET_RULES, *ACCURACY_RULES)


def describe(rule: str, rules: Rules, budgets: Budgets) -> str:
    """The rule with its limits from the constraints file, in words."""
    if rule in BUDGET_RULES:
        unit = {"params": "M", "macs": "G MACs", "peak_activation": "MB", "latency": "ms"}[rule]
        return f"{rule} <= {getattr(budgets, BUDGET_RULES[rule])} {unit}"
    return {
        "columnar": f">= {rules.columnar_min_stages} stages with >= "
                    f"{rules.columnar_min_columns} parallel columns",
        "no_strided_pointwise": "no 1x1 convolution with stride > 1",
        "aads": f">= {rules.aads_min_fraction} of downsamplings anti-aliased",
        "accuracy_floor": f"proxy top-1 >= {rules.accuracy_floor} %",
        "shift_consistency": f"shift consistency >= {rules.shift_consistency_min} %",
    }[rule]


def enabled(rule: str, rules: Rules, budgets: Budgets) -> bool:
    if rule in BUDGET_RULES:
        return getattr(budgets, BUDGET_RULES[rule]) is not None
    return {"columnar": rules.columnar_min_stages is not None,
            "no_strided_pointwise": rules.no_strided_pointwise,
            "aads": rules.aads_min_fraction is not None,
            "accuracy_floor": rules.accuracy_floor is not None,
            "shift_consistency": rules.shift_consistency_min is not None}[rule]


def layers(spec: ArchSpec) -> Iterator[Layer]:
    """Every layer of the network plan (pure data; nothing is built)."""
    for section in network_plan(spec):
        for block in section.blocks:
            for branch in block.branches:
                yield from branch


def strided_pointwise_count(spec: ArchSpec) -> int:
    return sum(isinstance(x, Conv) and x.k == 1 and x.stride > 1 for x in layers(spec))


def aads_fraction(spec: ArchSpec) -> float:
    """Share of spatial downsampling operations that are anti-aliased (BlurPool-based).

    Every operation that strides counts: the stem conv when strided, each condenser (a
    DC-AC condenses twice: attention and feature branch), strided 3x3 and 1x1 convs.
    """
    ops = [x for x in layers(spec) if isinstance(x, (Conv, Blur)) and x.stride > 1]
    return sum(isinstance(x, Blur) for x in ops) / len(ops) if ops else 1.0


def structure_violations(spec: ArchSpec, rules: Rules) -> dict[str, float]:
    """The rules decided on the spec alone (microseconds)."""
    v: dict[str, float] = {}
    if rules.columnar_min_stages is not None:
        wide = sum(s.columns >= rules.columnar_min_columns for s in spec.stages)
        v["columnar"] = (rules.columnar_min_stages - wide) / rules.columnar_min_stages
    if rules.no_strided_pointwise:
        v["no_strided_pointwise"] = float(strided_pointwise_count(spec))
    if rules.aads_min_fraction is not None:
        v["aads"] = rules.aads_min_fraction - aads_fraction(spec)
    return v


def budget_violations(metrics: dict[str, float], budgets: Budgets) -> dict[str, float]:
    """value / budget - 1 for every budget set whose metric is known."""
    v = {}
    for rule, metric in BUDGET_RULES.items():
        budget = getattr(budgets, metric)
        if budget is not None and metric in metrics:
            v[rule] = metrics[metric] / budget - 1.0
    return v


def accuracy_violations(metrics: dict[str, float], rules: Rules) -> dict[str, float]:
    """(floor - value) / floor for the accuracy floor and the shift-consistency minimum."""
    v = {}
    for rule, (metric, floor) in {
        "accuracy_floor": ("accuracy", rules.accuracy_floor),
        "shift_consistency": ("shift_consistency", rules.shift_consistency_min),
    }.items():
        if floor is not None and metric in metrics:
            v[rule] = (floor - metrics[metric]) / max(floor, 1e-9)
    return v
