"""The inquisitor: cheapest stage first, early stops by the right rule, failures recorded."""

from __future__ import annotations

import dataclasses

import pytest

from gensynth.constraints import Budgets, Constraints, Deployment, LatencyConfig, Proxy, Rules
from gensynth.data import load_dataset
from gensynth.inquisitor import Inquisitor
from tests.conftest import tiny_spec

FAST = Constraints(
    "fast",
    deployment=Deployment(resolution=32, classes=10),
    latency=LatencyConfig(warmup=1, runs=3),
    proxy=Proxy(resolution=16, epochs=2, max_images=300),
)


def test_feasible_without_training_skips_accuracy():
    a = Inquisitor(FAST).assess(tiny_spec())
    assert a.status == "feasible" and a.skipped == ["accuracy"]
    assert list(a.timings) == ["structure", "cost", "budgets", "program", "latency", "accuracy"]
    assert {"params_m", "macs_g", "peak_activation_mb", "latency_ms"} <= set(a.metrics)
    assert a.spec.num_classes == 10  # costs are taken at the deployment's classes


def test_structure_stop_never_builds_or_trains():
    a = Inquisitor(FAST).assess(tiny_spec(downsample="strided_pointwise"))
    assert (a.status, a.stage) == ("infeasible", "structure")
    assert "no_strided_pointwise" in a.reason and "latency_ms" not in a.metrics


def test_budget_stop_before_program_check():
    c = dataclasses.replace(FAST, budgets=Budgets(params_m=1e-4))
    a = Inquisitor(c).assess(tiny_spec())
    assert (a.status, a.stage) == ("infeasible", "budgets") and a.violations["params"] > 0
    assert "program" not in a.timings


def test_latency_budget_is_decided_after_measuring():
    c = dataclasses.replace(FAST, budgets=Budgets(latency_ms=1e-6))
    a = Inquisitor(c).assess(tiny_spec())
    assert (a.status, a.stage) == ("infeasible", "latency")


def test_exception_in_a_stage_becomes_a_recorded_failure(monkeypatch):
    import torch

    def broken(spec):  # the candidate's own failure: a shape error raised inside torch
        return torch.nn.Conv2d(3, 8, 3)(torch.zeros(1, 4, 8, 8))

    monkeypatch.setattr("gensynth.inquisitor.build_model", broken)
    a = Inquisitor(FAST).assess(tiny_spec())
    assert (a.status, a.stage) == ("failed", "program")
    assert a.reason.startswith("program: RuntimeError: Given groups=1, weight of size")


def test_a_bug_in_gensynth_propagates_instead_of_failing_the_trial(monkeypatch):
    def buggy(spec):
        return spec.no_such_attribute

    monkeypatch.setattr("gensynth.inquisitor.build_model", buggy)
    with pytest.raises(AttributeError):
        Inquisitor(FAST).assess(tiny_spec())


def test_accuracy_floor_decides_after_training_and_netscore_is_set():
    data = load_dataset(FAST.proxy, 3)
    strict = dataclasses.replace(FAST, rules=Rules(accuracy_floor=99.9))
    a = Inquisitor(strict, data).assess(tiny_spec())
    assert len(a.history) == 2 and a.metrics["accuracy"] == a.history[-1]
    assert "netscore" in a.metrics
    assert (a.status, a.stage) == ("infeasible", "accuracy")
    assert a.violations["accuracy_floor"] > 0


def test_proxy_seeds_train_the_candidate_and_the_floor_reference_and_judge_the_mean():
    proxy = dataclasses.replace(FAST.proxy, seeds=2)
    c = dataclasses.replace(FAST, proxy=proxy, rules=Rules(accuracy_floor=99.9))
    data = load_dataset(proxy, 3)
    a = Inquisitor(c, data).assess(tiny_spec())
    single = Inquisitor(FAST, data).assess(tiny_spec())
    assert a.metrics["accuracy"] == a.history[-1] and "accuracy_sd" not in single.metrics
    # seed 0's run is the single-seed assessment; the mean and sd take in seed 1's
    second = 2 * a.metrics["accuracy"] - single.metrics["accuracy"]
    assert a.metrics["accuracy_sd"] == pytest.approx(
        abs(second - single.metrics["accuracy"]) / 2**0.5
    )
    assert a.violations["accuracy_floor"] > 0 and a.stage == "accuracy"
    # the floor's reference: the same recipe, so the mean of the same two seeds
    ref = type("Ref", (), {"name": "mobilenetv3_small"})()
    alone = [
        Inquisitor(
            dataclasses.replace(FAST, proxy=dataclasses.replace(proxy, seed=s, seeds=1)), data
        )
        for s in (0, 1)
    ]
    expected = (alone[0].train_reference(ref) + alone[1].train_reference(ref)) / 2
    assert Inquisitor(c, data).train_reference(ref) == pytest.approx(expected)


def test_pruning_callback_stops_training():
    data = load_dataset(FAST.proxy, 3)
    heard = []

    def report(epoch, acc, metrics):
        heard.append((epoch, acc, metrics))
        return True

    a = Inquisitor(FAST, data).assess(tiny_spec(), report=report)
    assert a.status == "pruned" and len(a.history) == 1
    ((epoch, acc, metrics),) = heard  # the candidate's metrics so far, with this epoch's top-1
    assert epoch == 0 and metrics["accuracy"] == acc == a.history[0] and metrics["params_m"] > 0


@pytest.mark.parametrize("entry", ["dcac", "ac", "conv"])
def test_every_entry_kind_passes_the_program_check(entry):
    # an `ac` entry condenses once (a DC-AC twice): 2 of 3 downsamplings anti-aliased here
    lax = dataclasses.replace(FAST, rules=Rules(aads_min_fraction=0.6))
    assert Inquisitor(lax).assess(tiny_spec(entry=entry)).status == "feasible"


def test_keep_going_runs_every_stage_and_lists_every_violation():
    c = dataclasses.replace(FAST, budgets=Budgets(params_m=1e-4, latency_ms=1e-6))
    a = Inquisitor(c).assess(tiny_spec(columns=1, downsample="strided_conv"), keep_going=True)
    assert a.status == "infeasible" and "latency_ms" in a.metrics
    assert {"aads", "params", "latency"} <= {k for k, v in a.violations.items() if v > 0}
    assert a.reason.count("violated") == 3
