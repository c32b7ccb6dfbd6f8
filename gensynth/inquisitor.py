"""The inquisitor I: assesses one spec, cheapest stage first, and never trains the infeasible."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from gensynth.baselines import check_references, load_reference, reference_facts
from gensynth.build import build_model, calibrate_norms, deployment_form
from gensynth.constraints import Constraints, Relative
from gensynth.cost import cost
from gensynth.data import ProxyData
from gensynth.errors import GensynthError
from gensynth.latency import measure_latency, measure_paired
from gensynth.predictor import check_setup, load_predictor
from gensynth.rules import (
    BUILD_STAGE,
    STAGES,
    Facts,
    aads_fraction,
    strided_pointwise_count,
    violations,
)
from gensynth.spec import ArchSpec
from gensynth.train import train_seeds
from gensynth.units import unit
from gensynth.utility import utility_netscore

# per training epoch: (epoch, proxy top-1 %, the candidate's metrics so far) -> stop?
EpochReport = Callable[[int, float, dict[str, float]], bool]

# Failures of a candidate itself: raised on purpose by gensynth, or by the framework running
# it (shape and numerics errors, out of memory). Anything else is a bug and propagates.
FRAMEWORKS = ("torch", "onnx", "onnxruntime", "numpy")


class CandidateError(GensynthError):
    """A candidate network failed a program check (non-finite output, missing gradient)."""


@dataclass
class Assessment:
    """Everything the inquisitor learned about one spec."""

    spec: ArchSpec
    status: str = "running"  # feasible | infeasible | failed | pruned
    stage: str = STAGES[0]  # the last stage entered
    reason: str = ""  # why it stopped early ('' when it went through)
    violations: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    history: list[float] = field(default_factory=list)  # proxy top-1 % per epoch
    skipped: list[str] = field(default_factory=list)  # stages not run (e.g. accuracy)
    state_dict: dict[str, torch.Tensor] | None = field(default=None, repr=False)

    @property
    def feasible(self) -> bool:
        return self.status == "feasible"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.spec.name,
            "hash": self.spec.hash,
            "status": self.status,
            "stage": self.stage,
            "reason": self.reason,
            "violations": self.violations,
            "metrics": self.metrics,
            "units": {k: unit(k) for k in self.metrics},
            "timings_s": self.timings,
            "history": self.history,
            "skipped": self.skipped,
            "spec": self.spec.to_dict(),
        }


class Inquisitor:
    """Assess specs against one constraints file.

    Args:
        constraints: the deployment profile.
        data: the proxy dataset; None skips the accuracy stage (and the accuracy rules).
        keep_weights: keep the proxy-trained state dict in the assessment (for export).

    Example:
        >>> from gensynth.constraints import load_constraints  # doctest: +SKIP
        >>> c = load_constraints("constraints/edge.yaml")  # doctest: +SKIP
        >>> Inquisitor(c).assess(spec).status  # doctest: +SKIP
        'feasible'
    """

    def __init__(
        self,
        constraints: Constraints,
        data: ProxyData | None = None,
        keep_weights: bool = False,
        reference_facts: dict[str, dict[str, float]] | None = None,
        device: str = "cpu",
    ) -> None:
        self.c, self.data, self.keep_weights = constraints, data, keep_weights
        self.device = device  # where proxy training runs (latency: the deployment backend)
        self.reference_facts = reference_facts if reference_facts is not None else {}
        self._latency_reference: Any = None  # the loaded reference a relative budget names
        self.predictor = None  # latency predicted from a device profile, when one is named
        if constraints.latency.predictor:
            self.predictor = load_predictor(constraints.latency.predictor)
            check_setup(constraints, self.predictor.provenance)

    def measure_references(self, names: list[str] | None = None) -> dict[str, dict[str, float]]:
        """Count (and, with proxy data, train once) the references the profile names; keep
        the facts for the rules. A study stores them, so this runs once per study."""
        train_ref = self.train_reference if self.data is not None else None
        self.reference_facts = reference_facts(self.c, train_ref, names)
        if self.data is not None:
            check_references(self.c, self.reference_facts)
        return self.reference_facts

    def train_reference(self, ref: Any) -> float:
        """Proxy top-1 of a reference, trained with exactly the candidates' recipe."""
        plan = load_reference(ref.name, self.c, classes=self.data.classes).plan
        # the trainable form (with BN), not the folded one; proxy.seeds of them, their mean
        result = train_seeds(lambda: build_model(plan), self.data, self.c.proxy, device=self.device)
        return result.accuracy

    def deployed(self, spec: ArchSpec) -> ArchSpec:
        d = self.c.deployment
        return spec.replace(in_channels=d.channels, num_classes=d.classes)

    def assess(
        self,
        spec: ArchSpec,
        report: EpochReport | None = None,
        keep_going: bool = False,
        gate: Callable[[], None] | None = None,
        on_stage: Callable[[str], None] | None = None,
    ) -> Assessment:
        """Run the stages in order; stop at the first violated rule or failure.

        With ``keep_going`` a violated rule does not stop the later stages (for `check`);
        failures and pruning still do. The search never keeps going. ``gate`` is called
        once, after what the spec alone decides and before the network is first built (the
        search claims its trial slot there); what it raises propagates. ``on_stage`` hears
        each stage's name as it starts (progress). ``report(epoch, top-1, metrics)`` hears
        each training epoch with the candidate's metrics so far; True stops training (pruned).
        """
        a, ctx = Assessment(self.deployed(spec)), {"report": report}
        steps: list[Callable[[Assessment, dict], None]] = [
            self._structure,
            self._cost,
            self._budgets,
            self._program,
            self._latency,
            self._accuracy,
        ]
        for name, step in zip(STAGES, steps, strict=True):
            if name == BUILD_STAGE and gate is not None:
                gate()
            if on_stage is not None:
                on_stage(name)
            a.stage, start = name, time.perf_counter()
            try:
                step(a, ctx)
            except Exception as exc:
                if not candidate_failure(exc):
                    raise  # a bug in gensynth, not a property of the candidate
                a.status, a.reason = "failed", f"{name}: {type(exc).__name__}: {exc}"
            a.timings[name] = round(time.perf_counter() - start, 6)
            if a.status in ("failed", "pruned") or (a.status == "infeasible" and not keep_going):
                return a
        if a.status == "running":
            a.status = "feasible"
        return a

    # --- stages, cheapest first -----------------------------------------------------
    def _structure(self, a: Assessment, ctx: dict) -> None:
        a.metrics["aads_fraction"] = aads_fraction(a.spec)
        a.metrics["strided_pointwise"] = strided_pointwise_count(a.spec)
        self._decide(a)

    def _cost(self, a: Assessment, ctx: dict) -> None:
        a.metrics.update(cost(a.spec, self.c.deployment.resolution).facts())

    def _budgets(self, a: Assessment, ctx: dict) -> None:
        """Budgets known from the analytic cost (latency is decided once measured)."""
        self._decide(a)

    def _program(self, a: Assessment, ctx: dict) -> None:
        """Build; forward at deployment and proxy size; backward gives finite gradients."""
        d, p = self.c.deployment, self.c.proxy
        shape = (2, d.channels, d.resolution, d.resolution)
        model = calibrate_norms(build_model(a.spec), shape)  # timed like a trained net
        with torch.no_grad():
            out = model(torch.randn(1, d.channels, d.resolution, d.resolution))
        _require(torch.isfinite(out).all(), "non-finite output at deployment resolution")
        if self.predictor is None:  # BN folded: what ships is what is timed
            ctx["deployed"] = deployment_form(model)
        proxy = build_model(self.proxy_spec(a.spec)).train()
        proxy(torch.randn(2, d.channels, p.resolution, p.resolution)).square().mean().backward()
        for name, param in proxy.named_parameters():
            _require(param.grad is not None, f"parameter {name} gets no gradient")
            _require(torch.isfinite(param.grad).all(), f"non-finite gradient in {name}")

    def _latency(self, a: Assessment, ctx: dict) -> None:
        """Absolute ms, or (for a relative budget) the ratio to the reference, timed
        interleaved until known to +-5 % or the verdict is certain."""
        d, lat = self.c.deployment, self.c.latency
        shape = (d.batch, d.channels, d.resolution, d.resolution)
        limit = self.c.budgets.latency_ms
        if self.predictor is not None:  # the profiled device's latency, not this host's
            ms = self.predictor.predict(a.spec)
            a.metrics.update(latency_ms=ms, latency_predicted=1.0)
            if isinstance(limit, Relative):
                ratio = ms / self.predictor.reference_ms(limit.reference)
                a.metrics.update(
                    latency_ratio=ratio,
                    latency_ratio_low=ratio,
                    latency_ratio_high=ratio,
                    reference_latency_ms=self.predictor.reference_ms(limit.reference),
                )
        elif isinstance(limit, Relative):
            ref = self.latency_reference(shape)
            p = measure_paired(
                ctx.pop("deployed"),
                ref,
                shape,
                lat.backend,
                lat.threads,
                lat.warmup,
                limit=limit.ratio,
                max_pairs=max(10, lat.runs * 4),
            )
            a.metrics.update(
                latency_ms=p.candidate_ms,
                latency_iqr_ms=p.candidate_iqr_ms,
                latency_ratio=p.ratio,
                latency_ratio_low=p.low,
                latency_ratio_high=p.high,
                reference_latency_ms=p.reference_ms,
            )
        else:
            m = measure_latency(
                ctx.pop("deployed"), shape, lat.backend, lat.threads, lat.warmup, lat.runs
            )
            a.metrics.update(latency_ms=m.median_ms, latency_iqr_ms=m.iqr_ms)
        self._decide(a)

    def latency_reference(self, shape: tuple[int, ...]) -> Any:
        """The runner of the latency budget's reference (loaded and exported once)."""
        if self._latency_reference is None:
            ref = load_reference(self.c.budgets.latency_ms.reference, self.c)
            lat = self.c.latency
            self._latency_reference = ref.runner(torch.randn(*shape), lat.backend, lat.threads)
        return self._latency_reference

    def _accuracy(self, a: Assessment, ctx: dict) -> None:
        if self.data is None:
            a.skipped.append("accuracy")
            return
        spec = self.proxy_spec(a.spec)
        outer = ctx["report"]
        report = (
            None
            if outer is None
            else lambda epoch, acc: outer(epoch, acc, {**a.metrics, "accuracy": acc})
        )
        result = train_seeds(
            lambda: build_model(spec),
            self.data,
            self.c.proxy,
            report,
            self.keep_weights,
            self.device,
        )
        a.history, a.state_dict = result.history, result.state_dict
        a.metrics.update(accuracy=result.accuracy, train_seconds=result.seconds)
        if len(result.accuracies) > 1:  # proxy.seeds > 1: the mean's spread over seeds
            a.metrics["accuracy_sd"] = statistics.stdev(result.accuracies)
        if result.shift_consistency is not None:
            a.metrics["shift_consistency"] = result.shift_consistency
        if result.accuracy > 0:  # the utility is known as soon as accuracy is
            a.metrics["netscore"] = utility_netscore(a.metrics, self.c.utility)
        if result.pruned:
            a.status, a.reason = "pruned", f"accuracy: pruned after epoch {len(a.history)}"
            return
        self._decide(a)

    # --- helpers --------------------------------------------------------------------
    def proxy_spec(self, spec: ArchSpec) -> ArchSpec:
        classes = self.data.classes if self.data is not None else self.c.deployment.classes
        return spec.replace(num_classes=classes)

    def _decide(self, a: Assessment) -> None:
        """Evaluate the rules of the current stage (the rules table says which)."""
        found = violations(a.stage, Facts(a.spec, a.metrics, self.reference_facts), self.c)
        a.violations.update(found)
        broken = [f"{k} (v={v:.3g})" for k, v in found.items() if v > 0]
        if broken:
            reason = f"{a.stage}: violated {', '.join(broken)}"
            a.status, a.reason = "infeasible", "; ".join(filter(None, (a.reason, reason)))


def _require(ok: Any, message: str) -> None:
    if not bool(ok):
        raise CandidateError(message)


def candidate_failure(exc: BaseException) -> bool:
    """True when ``exc`` is the candidate's own failure, not a bug in gensynth."""
    if isinstance(exc, (GensynthError, MemoryError)):
        return True
    if not isinstance(exc, (RuntimeError, ValueError, FloatingPointError)):
        return False
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    module = tb.tb_frame.f_globals.get("__name__", "") if tb is not None else ""
    return module.split(".")[0] in FRAMEWORKS
