"""Indicator rules 1_r(N) as one table: each rule is one entry (name, stage, unit, enabled,
describe, violation). A violation v <= 0 holds, v > 0 is violated, larger is further."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from gensynth.constraints import Budgets, Constraints, Relative, RelativeFloor, Rules
from gensynth.plan import Conv, Layer, block_layers, halvings, network_plan, walk_layers
from gensynth.spec import ArchSpec

STAGES = ("structure", "cost", "budgets", "program", "latency", "accuracy")
# Stages decided by the spec alone (no network built): a candidate stopped here is screened,
# not counted toward --trials (the sampler still learns from it).
SCREEN_STAGES = STAGES[:3]
BUILD_STAGE = STAGES[3]  # the first stage that builds the network


@dataclass(frozen=True)
class Facts:
    """What a violation is computed from: the spec, the measured metrics and the references'
    metrics (name -> {params_m, macs_g, peak_activation_mb, accuracy})."""

    spec: ArchSpec | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    references: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    name: str
    stage: str  # the inquisitor stage that decides it
    metric: str  # the metric it reads ('' for structure rules that read the spec)
    unit: str  # the unit of its limit, for messages
    enabled: Callable[[Constraints], bool]
    describe: Callable[[Constraints], str]
    violation: Callable[[Facts, Constraints], float | None]  # None: not known yet


# --- structure, read off the plan ------------------------------------------------------------
def layers(spec: ArchSpec) -> Iterator[Layer]:
    """Every layer of the network plan (pure data; nothing is built)."""
    return walk_layers(network_plan(spec))


def strided_pointwise_count(spec: ArchSpec) -> int:
    return sum(isinstance(x, Conv) and x.k == 1 and x.stride > 1 for x in layers(spec))


def aads_fraction(spec: ArchSpec) -> float:
    """Share of the network's resolution halvings that are anti-aliased (see plan.halvings:
    a DC-AC halves once, and counts as anti-aliased only if both its condensers blur)."""
    found = halvings(network_plan(spec))
    return sum(found) / len(found) if found else 1.0


def stage_columns(spec: ArchSpec) -> list[int]:
    """Per stage, the columns the plan really builds: the fewest groups of its 3x3 convs."""
    counts = []
    for section in network_plan(spec).sections[1:-1]:
        groups = [
            x.groups
            for b in section.blocks
            for x in block_layers(b)
            if isinstance(x, Conv) and x.k == 3
        ]
        counts.append(min(groups, default=1))
    return counts


def _columnar(f: Facts, c: Constraints) -> float:
    r = c.rules
    wide = sum(n >= r.columnar_min_columns for n in stage_columns(f.spec))
    return (r.columnar_min_stages - wide) / r.columnar_min_stages


# --- budgets and floors ----------------------------------------------------------------------
def _budget(metric: str) -> Callable[[Facts, Constraints], float | None]:
    def violation(f: Facts, c: Constraints) -> float | None:
        limit = getattr(c.budgets, metric)
        if isinstance(limit, Relative):
            if metric == "latency_ms":  # the paired ratio measured against that reference
                ratio = f.metrics.get("latency_ratio")
                return None if ratio is None else ratio / limit.ratio - 1.0
            ref = f.references.get(limit.reference, {}).get(metric)
            value = f.metrics.get(metric)
            return None if ref is None or value is None else value / (limit.ratio * ref) - 1.0
        return None if metric not in f.metrics else f.metrics[metric] / limit - 1.0

    return violation


def floor_value(
    floor: float | RelativeFloor, references: dict[str, dict[str, float]]
) -> float | None:
    """The accuracy floor in % (a relative floor needs its reference's proxy accuracy)."""
    if isinstance(floor, RelativeFloor):
        acc = references.get(floor.reference, {}).get("accuracy")
        return None if acc is None else acc - floor.margin
    return floor


def _floor(f: Facts, c: Constraints) -> float | None:
    floor = floor_value(c.rules.accuracy_floor, f.references)
    if floor is None or "accuracy" not in f.metrics:
        return None
    return (floor - f.metrics["accuracy"]) / max(floor, 1e-9)


def _shift(f: Facts, c: Constraints) -> float | None:
    floor = c.rules.shift_consistency_min
    value = f.metrics.get("shift_consistency")
    return None if value is None else (floor - value) / max(floor, 1e-9)


def _describe_limit(name: str, limit: float | Relative | None, unit: str) -> str:
    if isinstance(limit, Relative):
        if name == "latency":
            return f"throughput >= {1 / limit.ratio:.3g}x {limit.reference}'s (paired)"
        return f"{name} <= {limit.ratio:.3g}x {limit.reference}'s"
    return f"{name} <= {limit} {unit}"


def _describe_floor(c: Constraints) -> str:
    floor = c.rules.accuracy_floor
    if isinstance(floor, RelativeFloor):
        margin = f" - {floor.margin:g} points" if floor.margin else ""
        return f"proxy top-1 >= {floor.reference}'s (same proxy recipe){margin}"
    return f"proxy top-1 >= {floor} %"


def _budget_rule(name: str, field_name: str, unit: str, stage: str = "budgets") -> Rule:
    return Rule(
        name,
        stage,
        field_name,
        unit,
        enabled=lambda c: getattr(c.budgets, field_name) is not None,
        describe=lambda c: _describe_limit(name, getattr(c.budgets, field_name), unit),
        violation=_budget(field_name),
    )


RULES: tuple[Rule, ...] = (
    Rule(
        "columnar",
        "structure",
        "",
        "stages",
        enabled=lambda c: c.rules.columnar_min_stages is not None,
        describe=lambda c: (
            f">= {c.rules.columnar_min_stages} stages with >= "
            f"{c.rules.columnar_min_columns} parallel columns"
        ),
        violation=_columnar,
    ),
    Rule(
        "no_strided_pointwise",
        "structure",
        "strided_pointwise",
        "convs",
        enabled=lambda c: c.rules.no_strided_pointwise,
        describe=lambda c: "no 1x1 convolution with stride > 1",
        violation=lambda f, c: float(strided_pointwise_count(f.spec)),
    ),
    Rule(
        "aads",
        "structure",
        "aads_fraction",
        "share",
        enabled=lambda c: c.rules.aads_min_fraction is not None,
        describe=lambda c: f">= {c.rules.aads_min_fraction} of resolution halvings anti-aliased",
        violation=lambda f, c: c.rules.aads_min_fraction - aads_fraction(f.spec),
    ),
    _budget_rule("params", "params_m", "M"),
    _budget_rule("macs", "macs_g", "G MACs"),
    _budget_rule("peak_activation", "peak_activation_mb", "MB"),
    _budget_rule("latency", "latency_ms", "ms", stage="latency"),
    Rule(
        "accuracy_floor",
        "accuracy",
        "accuracy",
        "%",
        enabled=lambda c: c.rules.accuracy_floor is not None,
        describe=_describe_floor,
        violation=_floor,
    ),
    Rule(
        "shift_consistency",
        "accuracy",
        "shift_consistency",
        "%",
        enabled=lambda c: c.rules.shift_consistency_min is not None,
        describe=lambda c: f"shift consistency >= {c.rules.shift_consistency_min} %",
        violation=_shift,
    ),
)
RULE_NAMES = tuple(r.name for r in RULES)
BY_NAME = {r.name: r for r in RULES}


def violations(stage: str, facts: Facts, c: Constraints) -> dict[str, float]:
    """The violations of the enabled rules decided at ``stage`` that can be computed now."""
    out = {}
    for rule in RULES:
        if rule.stage == stage and rule.enabled(c):
            v = rule.violation(facts, c)
            if v is not None:
                out[rule.name] = v
    return out


def enabled_rules(c: Constraints) -> list[Rule]:
    return [r for r in RULES if r.enabled(c)]


# --- the former per-rule functions, for callers that hold only part of a profile -------------
def structure_violations(spec: ArchSpec, rules: Rules) -> dict[str, float]:
    """The rules decided on the spec alone (microseconds)."""
    return violations("structure", Facts(spec), Constraints("rules", rules=rules))


def budget_violations(
    metrics: dict[str, float], budgets: Budgets, references: dict[str, Any] | None = None
) -> dict[str, float]:
    """value / budget - 1 for every budget set whose metric is known (latency included)."""
    c = Constraints("budgets", budgets=budgets)
    facts = Facts(None, metrics, references or {})
    return {**violations("budgets", facts, c), **violations("latency", facts, c)}


def accuracy_violations(
    metrics: dict[str, float], rules: Rules, references: dict[str, Any] | None = None
) -> dict[str, float]:
    """(floor - value) / floor for the accuracy floor and the shift-consistency minimum."""
    facts = Facts(None, metrics, references or {})
    return violations("accuracy", facts, Constraints("rules", rules=rules))
