"""A dry run of a design space under a profile: how large it is, what share of it each
spec-only rule and budget accepts, the cost ranges, and the seed's verdict (no torch)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from gensynth.constraints import Constraints
from gensynth.cost import cost
from gensynth.references import BUILTIN, builtin_plan
from gensynth.rules import RULES, Facts, violations
from gensynth.space import DesignSpace, IntRange
from gensynth.spec import ArchSpec

SPEC_ONLY = ("structure", "budgets")


class RandomSuggester:
    """Answers the generator's suggestions uniformly at random (a seeded stand-in trial)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def suggest_int(self, name: str, low: int, high: int, step: int = 1, log: bool = False) -> int:
        if log:
            return round(math.exp(self.rng.uniform(math.log(low), math.log(high))))
        return low + step * self.rng.randrange((high - low) // step + 1)

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        return self.rng.choice(list(choices))


@dataclass
class Survey:
    size: int  # configurations the space can express (an upper bound: widths round)
    samples: int
    distinct: int
    accepted: dict[str, float] = field(default_factory=dict)  # rule -> share passing
    all_accepted: float = 0.0  # share passing every spec-only rule and budget
    ranges: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # p5/p50/p95
    seed: dict[str, float] | None = None  # the seed's spec-only violations


def survey(space: DesignSpace, c: Constraints, samples: int = 2000, seed: int = 0) -> Survey:
    """Sample the space and decide every spec-only rule and budget on each sample."""
    rng = random.Random(seed)
    refs = reference_facts(c)
    found, metrics = [], {"params_m": [], "macs_g": [], "peak_activation_mb": []}
    hashes = set()
    for i in range(samples):
        spec = space.sample(RandomSuggester(rng), name=f"s{i}")
        spec = spec.replace(in_channels=c.deployment.channels, num_classes=c.deployment.classes)
        hashes.add(spec.hash)
        v = spec_only(spec, c, refs, metrics)
        found.append(v)
    enabled = [r.name for r in RULES if r.stage in SPEC_ONLY and r.enabled(c)]
    result = Survey(space_size(space), samples, len(hashes))
    result.accepted = {name: sum(v.get(name, 0) <= 0 for v in found) / samples for name in enabled}
    result.all_accepted = sum(all(x <= 0 for x in v.values()) for v in found) / samples
    result.ranges = {k: _percentiles(xs) for k, xs in metrics.items()}
    if space.seed is not None:
        spec = space.seed.replace(
            in_channels=c.deployment.channels, num_classes=c.deployment.classes
        )
        result.seed = spec_only(spec, c, refs, None)
    return result


def spec_only(
    spec: ArchSpec, c: Constraints, refs: dict, metrics: dict | None = None
) -> dict[str, float]:
    """The violations of every spec-only rule and budget (<= 0: holds)."""
    m = cost(spec, c.deployment.resolution).facts()
    if metrics is not None:
        for key, value in m.items():
            metrics[key].append(value)
    facts = Facts(spec, m, refs)
    return {**violations("structure", facts, c), **violations("budgets", facts, c)}


def reference_facts(c: Constraints) -> dict[str, dict[str, float]]:
    """Params / MACs / activation of the built-in references the budgets name (analytic)."""
    out = {}
    for name in c.references():
        if name in BUILTIN:
            plan = builtin_plan(name, c.deployment.classes, c.deployment.channels)
            out[name] = cost(plan, c.deployment.resolution).facts()
    return out


def _percentiles(xs: list[float]) -> tuple[float, float, float]:
    ordered = sorted(xs)
    pick = [ordered[min(len(ordered) - 1, int(q * len(ordered)))] for q in (0.05, 0.5, 0.95)]
    return pick[0], pick[1], pick[2]


def _count(domain: Any) -> int:
    if isinstance(domain, IntRange):
        return (domain.high - domain.low) // domain.step + 1
    return len(domain)


def space_size(space: DesignSpace) -> int:
    """Configurations the space can express: stem x, per stage count k, the product of each
    stage's conditional options (an upper bound: widths are rounded to the column count)."""
    st = space.stage
    stem = math.prod(_count(d) for d in space.stem.values())
    head = math.prod(_count(d) for d in space.head.values())
    per_stage = []
    for widths in space.stage_widths:
        total = 0
        for block in st["block"]:
            for entry in st["entry"]:
                for stride in st["stride"]:
                    n = _count(st["columns"]) * _count(widths) * _count(st["depth"])
                    n *= _count(st["interaction"]) * _count(st["blur_size"])
                    n *= _count(st["downsample"]) if stride == 2 else 1
                    n *= _count(st["expansion"]) if block == "bottleneck" else 1
                    n *= _count(st["gate"]) if entry == "dcac" else 1
                    n *= _count(st["reduction"]) if entry == "ac" else 1
                    total += n
        per_stage.append(total)
    count = space.stage_count
    stacks = sum(math.prod(per_stage[:k]) for k in range(count.low, count.high + 1, count.step))
    return stem * head * stacks


def describe_limits(c: Constraints) -> dict[str, str]:
    """Each enabled spec-only rule and budget, in words (for the table)."""
    return {r.name: r.describe(c) for r in RULES if r.stage in SPEC_ONLY and r.enabled(c)}
