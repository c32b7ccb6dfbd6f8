"""Reference networks as runnable models, and their facts (size, cost, proxy accuracy).

A reference is named in a constraints file: a built-in (`gensynth references` lists them),
``spec:PATH`` (a gensynth spec), ``onnx:PATH`` or ``torchscript:PATH`` (a user's current
production model; paths relative to the constraints file) or ``timm:NAME`` (when timm is
installed). Size and cost are counted once per study; proxy accuracy is trained once per
study with the study's own recipe and stored in it, so every candidate meets the same bar.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gensynth.build import build_model, shipped_form
from gensynth.constraints import Constraints, Relative, RelativeFloor
from gensynth.cost import cost
from gensynth.errors import ConfigError
from gensynth.latency import onnx_session_runner, runner
from gensynth.plan import NetPlan, network_plan
from gensynth.references import BUILTIN, builtin_plan
from gensynth.spec import load_spec


@dataclass
class Reference:
    """A loaded reference: a torch module (or, for ONNX files, only a runner) and its facts."""

    name: str
    model: nn.Module | None
    onnx: bytes | None = None
    plan: NetPlan | None = None  # for built-ins and specs: what cost() and draw() read
    facts: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def trainable(self) -> bool:
        return self.plan is not None

    def runner(self, x: torch.Tensor, backend: str, threads: int) -> Callable[[], object]:
        if self.onnx is not None:
            if backend != "onnxruntime":
                raise ConfigError(
                    f"reference {self.name!r} is an ONNX file: it can only be "
                    f"timed with latency.backend: onnxruntime, got {backend!r}"
                )
            return onnx_session_runner(self.onnx, x, threads)
        return runner(self.model, x, backend, threads)


def load_reference(name: str, c: Constraints, classes: int | None = None) -> Reference:
    """Load a reference at the deployment's input channels and (by default) classes."""
    d = c.deployment
    classes = classes or d.classes
    base = Path(c.source).parent if c.source else Path(".")
    kind, _, rest = name.partition(":")
    if name in BUILTIN:
        plan = builtin_plan(name, classes, d.channels)
        return _from_plan(name, plan, d.resolution)
    path = base / rest
    if kind != "timm" and not path.is_file():
        raise ConfigError(f"{c.source}: reference {name!r}: file not found: {path}")
    if kind == "spec":
        spec = load_spec(path).replace(in_channels=d.channels, num_classes=classes)
        return _from_plan(name, network_plan(spec), d.resolution)
    if kind == "torchscript":
        try:
            model = torch.jit.load(str(path), map_location="cpu").eval()
        except (RuntimeError, ValueError) as exc:
            raise ConfigError(
                f"{c.source}: reference {name!r}: not a TorchScript file "
                f"({str(exc).splitlines()[0]})"
            ) from None
        return Reference(name, model, facts=_counted(model, d.channels, d.resolution))
    if kind == "onnx":
        return _from_onnx(name, path, c)
    return _from_timm(name, rest, c, classes)


def _from_plan(name: str, plan: NetPlan, resolution: int) -> Reference:
    facts = cost(plan, resolution).facts()
    model = shipped_form(build_model(plan), (1, plan.in_channels, resolution, resolution))
    return Reference(name, model, plan=plan, facts=facts)


def _counted(model: nn.Module, channels: int, resolution: int) -> dict[str, float]:
    """Params of any module; conv + linear MACs through fvcore where it can trace it."""
    facts = {"params_m": sum(p.numel() for p in model.parameters()) / 1e6}
    try:
        from fvcore.nn import FlopCountAnalysis

        flops = FlopCountAnalysis(model, torch.zeros(1, channels, resolution, resolution))
        flops.unsupported_ops_warnings(False)
        flops.uncalled_modules_warnings(False)
        ops = flops.by_operator()
        facts["macs_g"] = (ops.get("conv", 0) + ops.get("linear", 0)) / 1e9
    except Exception:  # noqa: BLE001 - a model fvcore cannot trace simply has no MAC count
        pass
    return facts


def _from_onnx(name: str, path: Path, c: Constraints) -> Reference:
    import onnx

    data = path.read_bytes()
    try:
        graph = onnx.load_from_string(data).graph
    except Exception as exc:  # noqa: BLE001 - protobuf raises its own decode errors
        raise ConfigError(f"{c.source}: reference {name!r}: not an ONNX file ({exc})") from None
    params = sum(int(torch.tensor(list(t.dims)).prod()) if t.dims else 1 for t in graph.initializer)
    return Reference(name, None, onnx=data, facts={"params_m": params / 1e6})


def _from_timm(name: str, model_name: str, c: Constraints, classes: int) -> Reference:
    try:
        import timm
    except Exception:  # noqa: BLE001 - timm missing, or broken beside a CPU-only torch
        raise ConfigError(
            f"{c.source}: reference {name!r} needs timm, which is not importable "
            f"here (pip install timm; it needs torchvision)"
        ) from None
    try:
        model = timm.create_model(
            model_name, pretrained=False, num_classes=classes, in_chans=c.deployment.channels
        ).eval()
    except RuntimeError as exc:
        raise ConfigError(f"{c.source}: reference {name!r}: {exc}") from None
    d = c.deployment
    return Reference(name, model, facts=_counted(model, d.channels, d.resolution))


def reference_facts(
    c: Constraints,
    train_accuracy: Callable[[Reference], float] | None = None,
    names: list[str] | None = None,
    train_names: list[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Facts of every reference the profile names (and of ``names``): params, MACs, peak
    activation at the deployment input, and proxy accuracy (with ``train_accuracy``) for the
    accuracy floor's reference and ``train_names`` where they can be trained."""
    floor = c.rules.accuracy_floor
    trained = {floor.reference} if isinstance(floor, RelativeFloor) else set()
    trained |= set(train_names or [])
    out: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys([*c.references(), *(names or [])]):
        ref = load_reference(name, c)
        facts = dict(ref.facts)
        if train_accuracy is not None and ref.trainable and name in trained:
            facts["accuracy"] = train_accuracy(ref)
        out[name] = facts
    return out


def check_references(c: Constraints, facts: dict[str, dict[str, Any]]) -> None:
    """Refuse budgets a reference cannot answer (e.g. MACs of an ONNX file, accuracy of a
    file that cannot be trained) before any trial runs."""
    for field in dataclasses.fields(c.budgets):
        limit = getattr(c.budgets, field.name)
        if (
            isinstance(limit, Relative)
            and field.name != "latency_ms"
            and field.name not in facts.get(limit.reference, {})
        ):
            raise ConfigError(
                f"{c.source}: budgets.{field.name}: reference "
                f"{limit.reference!r} has no {field.name} to compare with "
                f"(use a built-in, spec: or torchscript: reference)"
            )
    floor = c.rules.accuracy_floor
    if isinstance(floor, RelativeFloor) and "accuracy" not in facts.get(floor.reference, {}):
        raise ConfigError(
            f"{c.source}: rules.accuracy_floor.reference: {floor.reference!r} "
            f"cannot be trained on the proxy task (use a built-in or spec: "
            f"reference)"
        )
