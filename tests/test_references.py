"""Reference networks: published counts, analytic == fvcore, loading user references,
relative budgets and floors, and the paired (interleaved) latency measurement."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from fvcore.nn import FlopCountAnalysis, parameter_count

from gensynth.baselines import load_reference
from gensynth.build import build_model
from gensynth.constraints import (
    Budgets,
    Constraints,
    Deployment,
    Relative,
    RelativeFloor,
    Rules,
    load_constraints,
)
from gensynth.cost import cost
from gensynth.errors import ConfigError
from gensynth.latency import measure_paired, median_interval
from gensynth.references import BUILTIN, builtin_plan
from gensynth.rules import Facts, violations
from tests.conftest import SEED_FILE, tiny_spec


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_counts_match_the_published_figures(name):
    _, pub = BUILTIN[name]
    k = cost(builtin_plan(name), 224)
    assert abs(k.params_m / pub.params_m - 1) <= 0.01, (k.params_m, pub.params_m)
    # within 1 %, or within the precision of a figure published as "0.39B" (EfficientNet-B0)
    tolerance = max(0.01 * pub.macs_m, pub.macs_precision_m)
    assert abs(k.macs / 1e6 - pub.macs_m) <= tolerance, (k.macs / 1e6, pub.macs_m)


@pytest.mark.parametrize("name", ["mobilenetv3_large", "mobilenetv3_small", "fbnet_c"])
def test_the_papers_references_are_within_one_percent(name):
    _, pub = BUILTIN[name]
    k = cost(builtin_plan(name), 224)
    assert abs(k.params_m / pub.params_m - 1) <= 0.01
    assert abs(k.macs / 1e6 / pub.macs_m - 1) <= 0.01


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_analytic_cost_equals_fvcore_and_trains(name):
    plan = builtin_plan(name, classes=7, in_ch=1)
    model = build_model(plan)
    x = torch.randn(2, 1, 64, 64)
    flops = FlopCountAnalysis(model.eval(), x[:1])
    flops.unsupported_ops_warnings(False)
    flops.uncalled_modules_warnings(False)
    ops = flops.by_operator()
    k = cost(plan, 64)
    assert k.params == parameter_count(model)[""]
    assert k.macs == ops.get("conv", 0) + ops.get("linear", 0)
    out = model.train()(x)
    assert out.shape == (2, 7)
    out.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def profile(tmp_path, **budgets) -> Constraints:
    return Constraints(
        "t",
        source=str(tmp_path / "c.yaml"),
        deployment=Deployment(resolution=32, classes=10),
        budgets=Budgets(**budgets),
    )


def test_spec_torchscript_and_onnx_files_are_references(tmp_path):
    from gensynth.latency import onnx_bytes

    spec = tiny_spec()
    (tmp_path / "net.json").write_text(spec.to_json())
    model = build_model(spec.replace(num_classes=10)).eval()
    torch.jit.trace(model, torch.zeros(1, 3, 32, 32)).save(str(tmp_path / "net.pt"))
    (tmp_path / "net.onnx").write_bytes(onnx_bytes(model, torch.zeros(1, 3, 32, 32)))
    c = profile(tmp_path)
    expected = cost(spec.replace(num_classes=10), 32)
    as_spec = load_reference("spec:net.json", c)
    assert as_spec.trainable and as_spec.facts["macs_g"] == pytest.approx(expected.macs_g)
    scripted = load_reference("torchscript:net.pt", c)
    assert scripted.facts["params_m"] == pytest.approx(expected.params_m)
    onnx = load_reference("onnx:net.onnx", c)
    assert 0 < onnx.facts["params_m"] <= expected.params_m  # the exporter folds BN away
    assert not onnx.trainable
    with pytest.raises(ConfigError, match="only be timed with latency.backend: onnxruntime"):
        onnx.runner(torch.zeros(1, 3, 32, 32), "torch", 1)
    with pytest.raises(ConfigError, match="file not found"):
        load_reference("spec:absent.json", c)


def test_timm_reference_without_timm_is_a_clear_error(tmp_path):
    try:
        import timm  # noqa: F401
    except Exception:  # noqa: BLE001
        with pytest.raises(ConfigError, match="needs timm"):
            load_reference("timm:mobilenetv3_large_100", profile(tmp_path))
    else:
        pytest.skip("timm is importable here; the error path cannot be shown")


def test_relative_budgets_and_floor_parse_and_decide(tmp_path):
    f = tmp_path / "rel.yaml"
    f.write_text(
        "budgets:\n"
        "  params_m: {at_most: 0.5, of: mobilenetv3_large}\n"
        "  latency_ms: {speedup: 2, over: fbnet_c}\n"
        "rules:\n"
        "  accuracy_floor: {reference: mobilenetv3_small, margin: 1.5}\n"
    )
    c = load_constraints(f)
    assert c.budgets.params_m == Relative("mobilenetv3_large", 0.5)
    assert c.budgets.latency_ms == Relative("fbnet_c", 0.5)
    assert c.rules.accuracy_floor == RelativeFloor("mobilenetv3_small", 1.5)
    assert c.references() == ["mobilenetv3_large", "fbnet_c", "mobilenetv3_small"]
    refs = {"mobilenetv3_large": {"params_m": 5.0}, "mobilenetv3_small": {"accuracy": 90.0}}
    facts = Facts(None, {"params_m": 3.0, "latency_ratio": 0.4, "accuracy": 89.0}, refs)
    assert violations("budgets", facts, c) == {"params": pytest.approx(0.2)}  # 3 / 2.5 - 1
    assert violations("latency", facts, c) == {"latency": pytest.approx(-0.2)}  # 0.4 / 0.5 - 1
    assert violations("accuracy", facts, c)["accuracy_floor"] < 0  # 89 >= 90 - 1.5


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "budgets: {params_m: {at_most: 0.5, of: mobilenet}}",
            "budgets.params_m.of: must be a built-in reference",
        ),
        (
            "budgets: {latency_ms: {speedup: 0, over: fbnet_c}}",
            "budgets.latency_ms.speedup: must be > 0",
        ),
        ("budgets: {latency_ms: {speedup: 2, over: onnxx:x.onnx}}", "did you mean 'onnx'"),
        (
            "budgets: {macs_g: {at_most: 1, of: fbnet_c, extra: 1}}",
            "budgets.macs_g.extra: unknown key",
        ),
        (
            "rules: {accuracy_floor: {reference: fbnet_c, margin: x}}",
            "rules.accuracy_floor.margin: must be a number",
        ),
    ],
)
def test_bad_relative_limits_are_one_line_errors(tmp_path, text, message):
    f = tmp_path / "bad.yaml"
    f.write_text(text + "\n")
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        load_constraints(f)


def test_median_interval_is_the_sign_test_interval():
    assert median_interval(list(range(1, 11))) == (2, 9)  # n = 10: k = 2 (P = 0.011 per tail)
    assert median_interval([5.0] * 12) == (5.0, 5.0)
    low, high = median_interval(list(range(100)))
    assert low < 49.5 < high and high - low < 25


def test_paired_measurement_reports_a_ratio_with_its_interval():
    a, b = torch.nn.Conv2d(3, 8, 3), torch.nn.Conv2d(3, 32, 5)
    p = measure_paired(a, b, (1, 3, 32, 32), min_pairs=6, max_pairs=12)
    assert 6 <= p.pairs <= 12 and p.low <= p.ratio <= p.high
    assert p.stopped in ("precise", "decided", "cap") and p.candidate_ms > 0
    decided = measure_paired(a, b, (1, 3, 32, 32), min_pairs=6, max_pairs=40, limit=1e9)
    assert decided.stopped in ("decided", "precise") and decided.pairs == 6


def test_inquisitor_times_against_the_budget_reference(tmp_path):
    from gensynth.inquisitor import Inquisitor

    c = dataclasses.replace(
        profile(tmp_path, latency_ms=Relative("mobilenetv3_small", 100.0)),
        rules=Rules(columnar_min_stages=None),
    )
    a = Inquisitor(c).assess(tiny_spec())
    assert {
        "latency_ratio",
        "latency_ratio_low",
        "latency_ratio_high",
        "reference_latency_ms",
    } <= set(a.metrics)
    assert a.violations["latency"] == pytest.approx(a.metrics["latency_ratio"] / 100.0 - 1)


def test_check_lists_the_relative_latency_rule():
    from click.testing import CliRunner

    from gensynth.cli import main

    edge = SEED_FILE.parent.parent / "constraints" / "edge.yaml"
    result = CliRunner().invoke(
        main, ["check", str(SEED_FILE), "--constraints", str(edge), "--no-train", "--keep-going"]
    )
    assert "throughput >= 4x fbnet_c's (paired)" in result.output
    assert "params <= 0.73x mobilenetv3_large's" in result.output


def test_references_are_trained_in_their_trainable_form(monkeypatch, tmp_path):
    from gensynth.data import load_dataset
    from gensynth.inquisitor import Inquisitor
    from gensynth.train import TrainResult

    seen = []

    def fake_train(make, data, proxy, *args, **kwargs):
        seen.append(make())
        return TrainResult(50.0, [50.0], 0.1, 1.0)

    monkeypatch.setattr("gensynth.inquisitor.train_seeds", fake_train)
    c = dataclasses.replace(
        profile(tmp_path), rules=Rules(accuracy_floor=RelativeFloor("mobilenetv3_small"))
    )
    i = Inquisitor(c, load_dataset(dataclasses.replace(c.proxy, max_images=50), 3))
    facts = i.measure_references()
    assert facts["mobilenetv3_small"]["accuracy"] == 50.0
    norms = [m for m in seen[0].modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and seen[0].training  # not the BN-folded deployment form
    assert seen[0](torch.zeros(2, 3, 16, 16)).shape == (2, 10)  # the proxy's classes


@pytest.mark.parametrize("name", ["mobilenetv3_large", "fbnet_c", "efficientnet_b0"])
def test_inverted_residuals_start_as_the_identity_like_timms(name):
    from gensynth.blocks import Add
    from gensynth.build import build_model
    from gensynth.references import builtin_plan

    model = build_model(builtin_plan(name, 10, 3))
    adds = [m for m in model.modules() if isinstance(m, Add)]
    assert adds
    for block in adds:
        norms = [m for m in block.body.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        assert torch.count_nonzero(norms[-1].weight) == 0  # timm's zero_init_last
        x = torch.randn(1, block.body[0].in_channels, 4, 4)
        block.eval()
        with torch.no_grad():
            assert torch.equal(block(x), x)
