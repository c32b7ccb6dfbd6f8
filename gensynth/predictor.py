"""Latency predicted from a device profile (`gensynth profile`): no torch, ~thousands/s.

The model is linear in analytic features of the network's plan at the deployment input:
multiply-adds split by the kind of layer that does them (dense / grouped / depthwise
convolutions, 1x1 and kxk, blur filters, the classifier), the memory each kind of layer and
block reads and writes, and per-operator counts (the fixed cost of launching an operator,
which dominates small networks in eager PyTorch). Its coefficients are fitted, all >= 0
(non-negative least squares on relative errors), to whole networks measured on the device.
A lookup table of block timings was the alternative; the profile's held-out error decides
(see README).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gensynth.cost import cost
from gensynth.errors import ConfigError
from gensynth.plan import Act, Blur, Conv, Dropout, GlobalPool, HalfMaxPool, Linear, MaxShift, Norm
from gensynth.spec import ArchSpec

FORMAT = "gensynth-profile/1"
FEATURES = (
    "one",  # a constant: the call itself
    "gmacs_dense_1x1",
    "gmacs_grouped_1x1",
    "gmacs_dense_kxk",
    "gmacs_grouped_kxk",
    "gmacs_depthwise",
    "gmacs_blur",
    "gmacs_linear",
    "mvalues_conv_in",  # million values read by convolutions
    "mvalues_conv_out",  # and written
    "mvalues_elementwise",  # activations, unfolded norms, pools: read + written
    "mvalues_gate",  # softmax / sigmoid gates of DC-ACs, ACs and squeeze-excitation
    "mvalues_merge",  # residual, add and sum merges
    "convs",
    "group_launches",  # grouped convolutions: sum of groups (per-group kernels)
    "other_ops",
)


def features(spec: ArchSpec, resolution: int) -> dict[str, float]:
    """The predictor's features of ``spec`` at a square ``resolution`` input, batch 1."""
    c = cost(spec, resolution)
    f = dict.fromkeys(FEATURES, 0.0)
    f["one"] = 1.0
    for x in c.layers:
        layer, n_in, n_out = x.layer, x.shape_in.numel / 1e6, x.shape_out.numel / 1e6
        if isinstance(layer, Conv):
            depthwise = layer.groups > 1 and layer.groups == layer.c_in == layer.c_out
            size = "1x1" if layer.k == 1 else "kxk"
            kind = (
                "depthwise"
                if depthwise
                else (f"grouped_{size}" if layer.groups > 1 else f"dense_{size}")
            )
            f[f"gmacs_{kind}"] += x.macs / 1e9
            f["mvalues_conv_in"] += n_in
            f["mvalues_conv_out"] += n_out
            f["convs"] += 1
            if layer.groups > 1:
                f["group_launches"] += layer.groups
        elif isinstance(layer, Blur):
            f["gmacs_blur"] += x.macs / 1e9
            f["mvalues_elementwise"] += n_in + n_out
            f["other_ops"] += 1
        elif isinstance(layer, Linear):
            f["gmacs_linear"] += x.macs / 1e9
            f["other_ops"] += 1
        elif isinstance(layer, (Act, Norm, MaxShift, HalfMaxPool, GlobalPool)):
            f["mvalues_elementwise"] += n_in + n_out
            f["other_ops"] += 1
        elif not isinstance(layer, Dropout):  # dropout is the identity at inference
            f["other_ops"] += 1
    for b in c.blocks:
        n = b.shape_out.numel / 1e6
        if b.kind in ("dcac", "ac", "se"):
            f["mvalues_gate"] += n
            f["other_ops"] += 2
        elif b.kind in ("residual", "add", "sum"):
            f["mvalues_merge"] += n
            f["other_ops"] += 1
    return f


def fit(rows: list[dict[str, float]], measured_ms: list[float]) -> list[float]:
    """Non-negative coefficients minimising the squared *relative* error on ``rows``."""
    import numpy as np
    from scipy.optimize import nnls

    x = np.array([[row[name] for name in FEATURES] for row in rows], dtype=float)
    y = np.array(measured_ms, dtype=float)
    scale = x.max(axis=0)
    scale[scale == 0] = 1.0
    weighted = (x / scale) / y[:, None]  # each row divided by its own latency
    coef, _ = nnls(weighted, np.ones(len(y)))
    return [float(v) for v in coef / scale]


def predict_row(coef: list[float] | tuple[float, ...], row: dict[str, float]) -> float:
    return sum(w * row[name] for w, name in zip(coef, FEATURES, strict=True))


def errors(predicted: list[float], measured: list[float]) -> dict[str, float]:
    """Mean absolute % error, worst % error, Kendall tau of the two rankings, n."""
    from scipy.stats import kendalltau

    pct = [abs(p - m) / m * 100 for p, m in zip(predicted, measured, strict=True)]
    tau = kendalltau(predicted, measured).statistic if len(pct) > 1 else float("nan")
    return {
        "mape_pct": sum(pct) / len(pct),
        "worst_pct": max(pct),
        "kendall_tau": float(tau),
        "n": len(pct),
    }


@dataclass(frozen=True)
class Predictor:
    """A fitted profile: predicts a spec's latency (ms) on the profiled device."""

    path: str
    provenance: dict[str, Any]
    coef: tuple[float, ...]
    references: dict[str, dict[str, float]]  # name -> measured {"ms", "iqr_ms"}
    error: dict[str, float]

    @property
    def resolution(self) -> int:
        return int(self.provenance["input"][-1])

    def predict(self, spec: ArchSpec) -> float:
        return predict_row(self.coef, features(spec, self.resolution))

    def reference_ms(self, name: str) -> float:
        if name not in self.references:
            raise ConfigError(
                f"{self.path}: the profile has no measurement of reference {name!r} "
                f"(it has: {', '.join(self.references) or 'none'}); profile it again"
            )
        return self.references[name]["ms"]

    def describe(self) -> str:
        p, e = self.provenance, self.error
        return (
            f"predicted from {self.path}: {p.get('cpu', '?')} ({p.get('host', '?')}), "
            f"{p.get('backend', '?')} {p.get('backend_version', '')}, {p.get('threads')} "
            f"thread(s), profiled {p.get('date', '?')}; held-out error {e.get('mape_pct', 0):.1f} "
            f"% mean, {e.get('worst_pct', 0):.1f} % worst, Kendall tau "
            f"{e.get('kendall_tau', 0):.2f} (n={e.get('n', 0)})"
        )


def load_predictor(path: str | Path) -> Predictor:
    """Read a finished profile (JSON; nothing executable in it)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the profile ({exc.strerror})") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a profile (invalid JSON: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigError(f"{path}: not a gensynth profile (expected format {FORMAT!r})")
    model = data.get("model")
    if not model or list(model.get("features", [])) != list(FEATURES):
        raise ConfigError(
            f"{path}: the profile is unfinished or from another gensynth version (no model "
            f"over this version's features): run `gensynth profile` again to finish it"
        )
    coef = tuple(float(v) for v in model["coef"])
    if not all(math.isfinite(v) and v >= 0 for v in coef):
        raise ConfigError(f"{path}: model.coef: must be finite and >= 0")
    return Predictor(
        str(path), data["provenance"], coef, data.get("references", {}), data.get("error", {})
    )
