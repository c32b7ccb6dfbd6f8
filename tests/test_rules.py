"""Indicator rules: decided on the spec, cross-checked on the built module's real layers."""

from __future__ import annotations

import dataclasses

import pytest
from torch import nn

from gensynth.blocks import BlurPool
from gensynth.build import build_model
from gensynth.constraints import Budgets, Rules
from gensynth.corpus import corpus
from gensynth.rules import (
    aads_fraction,
    accuracy_violations,
    budget_violations,
    strided_pointwise_count,
    structure_violations,
)


def _strided(m):
    if isinstance(m, BlurPool):
        return m.stride > 1, m.size >= 2
    if isinstance(m, nn.Conv2d):
        return m.stride[0] > 1, False
    return False, False


def module_counts(spec):
    """(strided 1x1 convs, anti-aliased halvings, all halvings) read off the real module: a
    plain Sequential block halves once per strided layer, any other block halves once, and
    is anti-aliased only if all of its strided layers are blurs of size >= 2."""
    net = build_model(spec)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d) and m.stride[0] > 1]
    pointwise = sum(m.kernel_size == (1, 1) for m in convs)
    halvings = []
    blocks = [*net.stem, *(b for stage in net.stages for b in stage), *net.head]
    for block in blocks:
        if type(block) is nn.Sequential:
            halvings += [aa for s, aa in map(_strided, block) if s]
            continue
        found = [aa for s, aa in map(_strided, block.modules()) if s]
        if found:
            halvings.append(all(found))
    return pointwise, sum(halvings), len(halvings)


@pytest.mark.parametrize("spec", corpus(60, seed=5), ids=lambda s: s.name)
def test_structure_rules_agree_with_the_built_module(spec):
    pointwise, aa, total = module_counts(spec)
    assert strided_pointwise_count(spec) == pointwise
    assert aads_fraction(spec) == pytest.approx(aa / total if total else 1.0)


def with_stages(spec, **changes):
    return spec.replace(stages=tuple(dataclasses.replace(s, **changes) for s in spec.stages))


def test_seed_passes_every_structure_rule(seed_spec):
    v = structure_violations(seed_spec, Rules())
    assert set(v) == {"columnar", "no_strided_pointwise", "aads"}
    assert all(x <= 0 for x in v.values())
    assert aads_fraction(seed_spec) == 4 / 5  # 5 halvings; only the stem's strided conv aliases


@pytest.mark.parametrize(
    "change, rules",
    [
        (dict(downsample="strided_pointwise"), ["no_strided_pointwise", "aads"]),  # aliased too
        (dict(downsample="strided_conv"), ["aads"]),
    ],
)
def test_forbidden_downsampling_is_caught_by_the_right_rule(seed_spec, change, rules):
    v = structure_violations(with_stages(seed_spec, **change), Rules())
    assert [k for k, x in v.items() if x > 0] == rules


def test_single_column_network_violates_columnar(seed_spec):
    single = with_stages(seed_spec, columns=1).replace(stem=seed_spec.stem)
    v = structure_violations(single, Rules())
    assert v["columnar"] == pytest.approx(1.0)
    two_wide = single.replace(stages=(dataclasses.replace(seed_spec.stages[0]), *single.stages[1:]))
    assert structure_violations(two_wide, Rules())["columnar"] == pytest.approx(0.5)


def test_violation_grows_with_distance(seed_spec):
    some = seed_spec.replace(
        stages=(
            *seed_spec.stages[:3],
            dataclasses.replace(seed_spec.stages[3], downsample="strided_conv"),
        )
    )
    every = with_stages(seed_spec, downsample="strided_conv")
    assert (
        0
        < structure_violations(some, Rules(aads_min_fraction=0.9))["aads"]
        < structure_violations(every, Rules(aads_min_fraction=0.9))["aads"]
    )


def test_budgets_and_accuracy_rules():
    budgets = Budgets(params_m=2.0, macs_g=None, latency_ms=10.0)
    v = budget_violations({"params_m": 3.0, "macs_g": 9.0, "latency_ms": 5.0}, budgets)
    assert v == {"params": pytest.approx(0.5), "latency": pytest.approx(-0.5)}
    rules = Rules(accuracy_floor=80.0, shift_consistency_min=90.0)
    v = accuracy_violations({"accuracy": 60.0, "shift_consistency": 95.0}, rules)
    assert v["accuracy_floor"] == pytest.approx(0.25) and v["shift_consistency"] < 0
    assert accuracy_violations({}, rules) == {}


def test_blur_of_size_one_is_plain_subsampling_not_anti_aliased(seed_spec):
    sharp = with_stages(seed_spec, blur_size=1)
    assert aads_fraction(sharp) == pytest.approx(1 / 5)  # only the stem's avg pool remains
    assert structure_violations(sharp, Rules())["aads"] > 0


def test_aads_is_decided_per_halving_not_per_operation(seed_spec):
    # two of five halvings aliased: 3/5 < 0.75 fails (counting operations gave 6/8 = 0.75)
    two = seed_spec.replace(
        stages=(
            *seed_spec.stages[:3],
            dataclasses.replace(seed_spec.stages[3], downsample="strided_conv"),
        )
    )
    assert aads_fraction(two) == pytest.approx(3 / 5)
    assert structure_violations(two, Rules())["aads"] > 0


def test_columnar_counts_the_grouped_convs_the_plan_builds():
    from gensynth.rules import stage_columns
    from gensynth.spec import ArchSpec, Stage, Stem

    # an `ac` entry with width 6 over 4 columns would be rejected by the spec; a width the
    # columns divide but the stage input does not gives fewer groups in the entry's convs
    spec = ArchSpec(
        "odd", stem=Stem(6, 1), stages=(Stage(8, 1, 4, entry="ac"), Stage(8, 2, 4, entry="dcac"))
    )
    assert stage_columns(spec) == [2, 4]  # gcd(6, 4) = 2 groups in the first stage's AC
