"""Export an architecture: json (the spec), onnx, torchscript, a standalone .py, safetensors."""

from __future__ import annotations

import importlib.util
import inspect
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

from gensynth import blocks, build, errors, plan
from gensynth.build import build_model, deployment_form
from gensynth.errors import ExportError, did_you_mean
from gensynth.latency import onnx_bytes
from gensynth.plan import network_plan
from gensynth.spec import ArchSpec

FORMATS = {
    "json": ".json",
    "onnx": ".onnx",
    "torchscript": ".pt",
    "py": ".py",
    "timm": ".py",
    "safetensors": ".safetensors",
}
TOLERANCE = 1e-4
# What the standalone .py file needs from gensynth, copied from the real source (so it
# cannot drift from the network gensynth builds and times).
_PLAN_SOURCES = [
    errors.GensynthError,
    errors.SpecError,
    errors.did_you_mean,
    plan.Conv,
    plan.Norm,
    plan.Act,
    plan.Blur,
    plan.MaxShift,
    plan.HalfMaxPool,
    plan.GlobalPool,
    plan.Dropout,
    plan.Linear,
    plan.BlockPlan,
    plan.Section,
    plan.NetPlan,
    plan.with_io,
    plan._swap,
    plan.shared_prefix,
]
_MODULE_SOURCES = [
    blocks.BlurPool,
    blocks.edge_pad,
    blocks.MaxShiftPool,
    blocks.HalfMaxPool2d,
    blocks.GlobalAvgPool,
    blocks.make_layer,
    blocks.make_branch,
    blocks._zero_last_norm,
    blocks.Residual,
    blocks.Add,
    blocks.ConvEntry,
    blocks.DCAC,
    blocks.AttentionCondenser,
    blocks.SqueezeExcite,
    blocks.make_block,
    build.GenNet,
]


def export(
    spec: ArchSpec,
    fmt: str,
    out: str | Path,
    resolution: int = 224,
    weights: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write ``spec`` (with ``weights`` when given) in ``fmt`` and verify the result.

    ONNX, TorchScript and .py outputs are checked against the PyTorch model on one random
    input (max abs difference <= 1e-4); the JSON is checked to rebuild the same spec.

    Example:
        >>> export(spec, "onnx", "model.onnx", resolution=224)  # doctest: +SKIP
    """
    if fmt not in FORMATS:
        raise ExportError(
            f"unknown format {fmt!r}; expected one of: {', '.join(FORMATS)}"
            f"{did_you_mean(fmt, FORMATS)}"
        )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "json":
        out.write_text(spec.to_json() + "\n")
        if ArchSpec.from_dict(json.loads(out.read_text())) != spec:
            raise ExportError(f"{out}: the written spec does not read back identically")
        return out
    if fmt == "safetensors":
        if weights is None:
            raise ExportError(
                "this architecture kept no trained weights (explore keeps them for "
                "feasible trials that improved the best); export json or onnx"
            )
        from safetensors.torch import save_file

        save_file(
            {k: v.contiguous() for k, v in weights.items()},
            str(out),
            metadata={"spec": spec.to_json()},
        )
        return out
    model = build_model(spec).eval()
    if weights is not None:
        model.load_state_dict(weights)
    x = torch.randn(1, spec.in_channels, resolution, resolution)
    with torch.no_grad():
        expected = model(x).numpy()
    writers = {
        "onnx": _write_onnx,
        "torchscript": _write_torchscript,
        "py": _write_py,
        "timm": lambda *args: _write_py(*args, timm=True),
    }
    source = fmt in ("py", "timm")  # trainable source: BatchNorm kept
    shipped = model if source else deployment_form(model)  # BN folded into the convs
    got = writers[fmt](shipped, spec, x, out)
    diff = float(np.abs(got - expected).max())
    if not diff <= TOLERANCE:
        raise ExportError(f"{out}: {fmt} output differs from PyTorch by {diff:.2e} (> {TOLERANCE})")
    return out


def _write_onnx(model: torch.nn.Module, spec: ArchSpec, x: torch.Tensor, out: Path) -> np.ndarray:
    import onnx
    import onnxruntime as ort

    graph = onnx.load_from_string(onnx_bytes(model, x, dynamic_batch=True))
    meta = {
        "gensynth.spec": spec.to_json(),
        "gensynth.hash": spec.hash,
        "num_classes": str(spec.num_classes),
        "input": f"N x {spec.in_channels} x {x.shape[-2]} x {x.shape[-1]} float32 (NCHW), "
        f"normalised like the proxy data: (x - mean) / std per channel",
    }
    onnx.helper.set_model_props(graph, meta)
    onnx.checker.check_model(graph, full_check=True)
    out.write_bytes(graph.SerializeToString())
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x.numpy()})[0]


def _write_torchscript(
    model: torch.nn.Module, spec: ArchSpec, x: torch.Tensor, out: Path
) -> np.ndarray:
    with warnings.catch_warnings():  # the small-map padding choice is fixed at this resolution
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(model, x)
    traced.save(str(out))
    with torch.no_grad():
        return torch.jit.load(str(out))(x).numpy()


def _write_py(
    model: torch.nn.Module, spec: ArchSpec, x: torch.Tensor, out: Path, timm: bool = False
) -> np.ndarray:
    out.write_text(standalone_source(spec, timm=timm))
    module = _import_file(out)
    net = module.build().eval()
    if sum(p.numel() for p in net.parameters()) != sum(p.numel() for p in model.parameters()):
        raise ExportError(f"{out}: the standalone model has a different parameter count")
    net.load_state_dict(model.state_dict())
    with torch.no_grad():
        return net(x).numpy()


def standalone_source(spec: ArchSpec, timm: bool = False) -> str:
    """Python source that rebuilds the network with nothing but torch installed; with
    ``timm``, it also registers the network with timm (when timm is importable)."""
    parts = [
        _HEADER.format(name=spec.name, hash=spec.hash),
        f"BINOMIAL = {plan.BINOMIAL!r}\nPAD_MODES = {blocks.PAD_MODES!r}\n"
        f"BLOCK_KINDS = {plan.BLOCK_KINDS!r}\n",
    ]
    parts += [inspect.getsource(obj) for obj in _PLAN_SOURCES]
    at = _PLAN_SOURCES.index(plan.BlockPlan) + 2  # after the header and the constants
    parts.insert(at, _assignments(plan, {"Layer"}))  # the union the later annotations name
    parts += [inspect.getsource(obj) for obj in _MODULE_SOURCES]
    parts += [_assignments(blocks, {"ACTIVATION_MODULES", "LAYER_MODULES", "BLOCK_MODULES"})]
    parts += [f"PLAN = {network_plan(spec)!r}\n", _FOOTER]
    if timm:
        parts += [_TIMM.format(name=timm_name(spec), hash=spec.hash)]
    return "\n\n".join(parts)


def timm_name(spec: ArchSpec) -> str:
    """The name the timm export registers: ``gensynth_`` + the spec name as an identifier."""
    return "gensynth_" + "".join(ch if ch.isalnum() else "_" for ch in spec.name).lower()


def _assignments(module: object, names: set[str]) -> str:
    """The source of a module's top-level assignments to ``names`` (as written there)."""
    import ast

    source = inspect.getsource(module)
    found = []
    for node in ast.parse(source).body:
        targets = [node.target] if isinstance(node, ast.AnnAssign) else getattr(node, "targets", [])
        if any(getattr(t, "id", None) in names for t in targets):
            found.append(ast.get_source_segment(source, node))
    return "\n\n".join(found) + "\n"


def _import_file(path: Path):
    name = f"gensynth_export_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while it executes
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


_HEADER = '''"""{name} (gensynth spec hash {hash}): a standalone PyTorch model.

Generated by `gensynth export --format py`; it needs only torch. Usage:

    from this_file import build
    model = build()                           # the explored network, fresh weights
    model.load_state_dict(state_dict)         # e.g. from the .safetensors export
    model = build(num_classes=5, in_chans=1)  # your task: new classifier / first conv
    features = model.forward_features(x)      # the last stage's feature map
    model.reset_classifier(0)                 # pooled features out (timm's interface)
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
'''

_FOOTER = '''def build(num_classes: int | None = None, in_chans: int | None = None) -> GenNet:
    """The network; ``num_classes`` / ``in_chans`` change the classifier's outputs / the first
    convolution's inputs (those two layers then start from fresh weights)."""
    classifier = PLAN.sections[-1].blocks[-1].branches[-1][-1]
    return GenNet(with_io(PLAN, in_chans or PLAN.in_channels, num_classes or classifier.c_out))
'''

_TIMM = '''try:  # registered with timm when timm is installed: timm.create_model("{name}")
    from timm.models import register_model
except ImportError:
    register_model = None

if register_model is not None:

    @register_model
    def {name}(pretrained: bool = False, **kwargs: Any) -> GenNet:
        """gensynth spec {hash}. No weights are bundled: load the .safetensors export."""
        if pretrained:
            raise ValueError("{name}: no pretrained weights are bundled with this export")
        return build(kwargs.get("num_classes"), kwargs.get("in_chans"))
'''
