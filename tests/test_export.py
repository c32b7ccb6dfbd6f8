"""Export: every format round-trips against the PyTorch model; errors are clear."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from click.testing import CliRunner

from gensynth.build import build_model
from gensynth.cli import main
from gensynth.corpus import corpus
from gensynth.errors import ExportError
from gensynth.export import export, standalone_source
from gensynth.spec import ArchSpec, load_spec
from tests.conftest import SEED_FILE, tiny_spec

SPECS = {
    "tiny-dcac": tiny_spec(),
    "tiny-ac": tiny_spec(entry="ac", block="bottleneck", expansion=2, interaction="mixed"),
    "tiny-maxblur": tiny_spec(entry="conv", downsample="maxblur"),
}


@pytest.fixture(params=list(SPECS))
def model_and_input(request):
    spec = SPECS[request.param]
    torch.manual_seed(0)
    model = build_model(spec).eval()
    x = torch.randn(2, 3, 24, 24)
    with torch.no_grad():
        return spec, model, x, model(x).numpy()


def test_onnx_matches_pytorch(model_and_input, tmp_path):
    spec, model, x, expected = model_and_input
    path = export(spec, "onnx", tmp_path / "m.onnx", 24, model.state_dict())
    onnx.checker.check_model(onnx.load(str(path)))
    got = ort.InferenceSession(str(path)).run(None, {"input": x.numpy()})[0]  # batch 2: dynamic
    assert np.abs(got - expected).max() <= 1e-4


def test_torchscript_matches_pytorch(model_and_input, tmp_path):
    spec, model, x, expected = model_and_input
    path = export(spec, "torchscript", tmp_path / "m.pt", 24, model.state_dict())
    with torch.no_grad():
        got = torch.jit.load(str(path))(x).numpy()
    assert np.abs(got - expected).max() <= 1e-4


def test_standalone_py_needs_only_torch_and_matches(model_and_input, tmp_path):
    spec, model, x, expected = model_and_input
    path = export(spec, "py", tmp_path / "m.py", 24, model.state_dict())
    assert "gensynth" not in "\n".join(
        line for line in path.read_text().splitlines() if line.startswith(("import", "from"))
    )
    torch.save(model.state_dict(), tmp_path / "w.pt")
    np.save(tmp_path / "x.npy", x.numpy())
    code = (
        "import sys, numpy, torch; sys.path.insert(0, sys.argv[1]); import m; "
        "net = m.build().eval(); net.load_state_dict(torch.load(sys.argv[1] + '/w.pt')); "
        "x = torch.from_numpy(numpy.load(sys.argv[1] + '/x.npy')); "
        "print(sum(p.numel() for p in net.parameters())); "
        "numpy.save(sys.argv[1] + '/y.npy', net(x).detach().numpy())"
    )
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert int(out.stdout) == sum(p.numel() for p in model.parameters())
    assert np.abs(np.load(tmp_path / "y.npy") - expected).max() <= 1e-4


def test_json_rebuilds_an_identical_network(tmp_path):
    spec = load_spec(SEED_FILE)
    path = export(spec, "json", tmp_path / "s.json")
    again = load_spec(path)
    assert again == spec
    a, b = build_model(spec).state_dict(), build_model(again).state_dict()
    assert {k: v.shape for k, v in a.items()} == {k: v.shape for k, v in b.items()}


def test_safetensors_round_trip_and_refusal(tmp_path):
    from safetensors.torch import load_file

    spec = tiny_spec()
    weights = build_model(spec).state_dict()
    path = export(spec, "safetensors", tmp_path / "w.safetensors", weights=weights)
    loaded = load_file(str(path))
    assert all(torch.equal(loaded[k], weights[k]) for k in weights)
    with pytest.raises(ExportError, match="kept no trained weights"):
        export(spec, "safetensors", tmp_path / "x.safetensors")
    with pytest.raises(ExportError, match="did you mean 'onnx'"):
        export(spec, "onx", tmp_path / "x")


def test_standalone_source_is_generated_from_the_real_modules():
    source = standalone_source(tiny_spec())
    assert "class DCAC(nn.Module)" in source and "PLAN = NetPlan(" in source
    assert 'return ""' not in source  # no stubs: the real helpers are copied
    compile(source, "standalone.py", "exec")


def _import(path: Path):
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(f"exported_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_standalone_py_offers_the_timm_interface(tmp_path):
    import subprocess
    import sys

    spec = SPECS["tiny-ac"]
    path = export(spec, "py", tmp_path / "net.py", 24)
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--select", "F", "--no-cache", str(path)],
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout  # no undefined names, no dead imports
    m = _import(path)
    net = m.build(num_classes=7, in_chans=1).eval()
    x = torch.randn(2, 1, 24, 24)
    assert net(x).shape == (2, 7) and (net.num_classes, net.in_chans) == (7, 1)
    features = net.forward_features(x)
    assert features.dim() == 4 and features.shape[1] == net.num_features
    pooled = net.forward_head(features, pre_logits=True)
    assert pooled.shape == (2, net.num_features)
    net.reset_classifier(3)
    assert net(x).shape == (2, 3)
    net.reset_classifier(0)
    assert torch.allclose(net(x), pooled)
    # the default build is the explored network: gensynth's own weights load into it
    m.build().load_state_dict(build_model(spec).state_dict())


def test_timm_export_registers_with_timm_when_present(tmp_path, monkeypatch):
    import sys
    import types

    from gensynth.export import timm_name

    registered = {}
    fake = types.ModuleType("timm.models")
    fake.register_model = lambda fn: registered.setdefault(fn.__name__, fn)
    monkeypatch.setitem(sys.modules, "timm", types.ModuleType("timm"))
    monkeypatch.setitem(sys.modules, "timm.models", fake)
    spec = SPECS["tiny-dcac"]
    path = export(spec, "timm", tmp_path / "net_timm.py", 24)
    _import(path)
    create = registered[timm_name(spec)]
    assert create(num_classes=4, in_chans=1)(torch.randn(1, 1, 24, 24)).shape == (1, 4)
    with pytest.raises(ValueError, match="no pretrained weights"):
        create(pretrained=True)
    monkeypatch.delitem(sys.modules, "timm.models")
    monkeypatch.setitem(sys.modules, "timm", None)  # timm absent: a plain module
    assert _import(path).build()(torch.randn(1, 3, 24, 24)).shape == (1, spec.num_classes)


def test_cli_export_spec_file(tmp_path):
    result = CliRunner().invoke(
        main,
        [
            "export",
            "--spec",
            str(SEED_FILE),
            "--format",
            "json",
            "--out",
            str(tmp_path / "seed.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (
        ArchSpec.from_dict(json.loads((tmp_path / "seed.json").read_text())).name
        == "attendnext-seed"
    )
    result = CliRunner().invoke(main, ["export", "--format", "onnx"])
    assert result.exit_code == 2 and "--study" in result.output


def test_cli_export_best_trial_of_a_study_with_its_weights(tmp_path):
    import dataclasses

    from safetensors.torch import load_file

    from gensynth.constraints import Rules
    from gensynth.explore import explore
    from gensynth.study import best_record
    from tests.test_explore import config

    cfg = config(tmp_path, trials=3)
    lax = dataclasses.replace(
        cfg.constraints,
        rules=Rules(columnar_min_stages=None, aads_min_fraction=None, accuracy_floor=1.0),
        budgets=dataclasses.replace(cfg.constraints.budgets, params_m=None, macs_g=None),
    )
    study = explore(dataclasses.replace(cfg, constraints=lax))
    best = best_record(study)
    assert best is not None and best.weights
    storage = ["--study", "tiny", "--storage", cfg.storage]
    for fmt in ("onnx", "py", "safetensors", "json"):
        out = tmp_path / f"best.{fmt}"
        result = CliRunner().invoke(
            main, ["export", *storage, "--trial", "best", "--format", fmt, "--out", str(out)]
        )
        assert result.exit_code == 0, result.output
        assert out.exists()
    weights = load_file(str(tmp_path / "best.safetensors"))
    spec = ArchSpec.from_dict(best.spec).replace(num_classes=10)
    build_model(spec).load_state_dict(weights)  # the proxy-trained network, 10 classes
    result = CliRunner().invoke(main, ["export", *storage, "--trial", "99", "--format", "json"])
    assert result.exit_code == 1 and "--trial: must be 'best' or a trial number" in result.output
    out = tmp_path / "summary.json"
    result = CliRunner().invoke(
        main, ["export", *storage, "--format", "json", "--out", str(out), "--json"]
    )
    summary = json.loads(result.output)
    assert summary["trial"] == best.number and summary["feasible"] is True
    assert summary["weights"] == "proxy-trained" and summary["path"] == str(out)


def static_shape_report(spec, resolution=32):
    """(ops that compute shapes at run time, tensors whose shape ONNX cannot infer)."""
    import onnx

    from gensynth.latency import onnx_bytes

    model = build_model(spec).eval()
    graph = onnx.load_from_string(
        onnx_bytes(model, torch.zeros(1, spec.in_channels, resolution, resolution))
    )
    dynamic = {n.op_type for n in graph.graph.node} & {"Shape", "ConstantOfShape"}
    inferred = onnx.shape_inference.infer_shapes(graph, strict_mode=True).graph
    unknown = [
        v.name
        for v in [*inferred.value_info, *inferred.output]
        if not v.type.tensor_type.HasField("shape")
        or any(not d.HasField("dim_value") for d in v.type.tensor_type.shape.dim)
    ]
    return dynamic, unknown


@pytest.mark.parametrize(
    "spec",
    [
        *(
            load_spec(p)
            for p in sorted((Path(__file__).parent.parent / "generators").glob("*seed*.yaml"))
        ),
        *corpus(50, seed=11),
    ],
    ids=lambda s: s.name,
)
def test_onnx_exports_have_fully_static_shapes(spec):
    dynamic, unknown = static_shape_report(spec)
    assert not dynamic and not unknown, (dynamic, unknown[:5])


def test_exporting_an_infeasible_trial_warns(tmp_path):
    import optuna

    from gensynth.study import open_storage

    storage = str(tmp_path / "s.journal")
    study = optuna.create_study(study_name="s", storage=open_storage(storage))
    attrs = {
        "spec": tiny_spec().to_dict(),
        "hash": tiny_spec().hash,
        "status": "infeasible",
        "reason": "budgets: violated params_m",
    }
    study.add_trial(optuna.trial.create_trial(value=-1000.0, user_attrs=attrs))
    out = tmp_path / "t.json"
    args = ["export", "--study", "s", "--storage", storage, "--trial", "0", "--format", "json"]
    result = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert result.exit_code == 0 and out.exists()
    assert "warning: trial 0 is not feasible (infeasible: budgets: violated params_m)" in (
        result.output
    )
