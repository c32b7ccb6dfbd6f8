"""Latency predicted from a device profile (`gensynth profile`): no torch, thousands/s.

A network runs its blocks one after another (batch 1, one stream), so its latency is close
to the sum of its blocks' latencies (measured here: the sum is 0.81-1.02x the whole network
in eager PyTorch; the rest is per-call overhead and cache effects). The profile times
thousands of blocks the design space produces, at the resolutions they run at, in the
deployment form; a gradient-boosted regressor (scikit-learn) learns block latency from
analytic features of the block's plan (multiply-adds, values read and written and operator
counts by kind of layer and block, DC-AC gates that are a softmax over channels, channels,
resolution), which covers blocks never timed;
a linear correction fitted on whole networks turns the sum into network latency.

Times in a profile are ratios to one network of the profile, the yardstick, run
interleaved with each measurement (`gensynth.profile`): the host's speed drifts, at times
by tens of per cent within minutes; the ratios by a few per cent. They are stated in ms
as the ratio times the yardstick's median over the profile.

The file keeps only data (block features and times, network times): the regressor is
refitted from it on load (deterministic, ~1 s), so nothing executable is ever read.
Measured alternatives (README): one linear model on whole-network features underfits
(12 % held-out error, Kendall tau 0.76 in torch); the block model does better.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gensynth.constraints import Constraints
from gensynth.cost import BlockCost, Shape, plan_cost
from gensynth.errors import ConfigError
from gensynth.plan import BlockPlan, Conv, NetPlan, network_plan
from gensynth.spec import ArchSpec

FORMAT = "gensynth-profile/3"  # /3: times are ratios to a yardstick network
CONV_KINDS = ("d1", "dk", "g1", "gk", "dw")  # dense / grouped 1x1 or kxk, depthwise
LAYER_KINDS = ("Blur", "Act", "Norm", "MaxShift", "HalfMaxPool", "GlobalPool", "Linear")
BLOCK_KINDS = ("seq", "residual", "add", "sum", "dcac", "ac", "se")
GATES = ("softmax",)  # DC-AC gates with their own features (a softmax over channels is dear)
FEATURES = (
    *(f"{x}_{k}" for k in CONV_KINDS for x in ("gmacs", "min", "mout", "n")),
    *(f"{x}_{k}" for k in LAYER_KINDS for x in ("gmacs", "mvalues", "n")),
    *(f"{x}_{k}" for k in BLOCK_KINDS for x in ("mvalues", "n")),
    *(f"{x}_{g}_gate" for g in GATES for x in ("mvalues", "n")),
    "groups",
    "c_in",
    "c_out",
    "hw",
)


def block_features(block: BlockPlan, shape: Shape) -> tuple[dict[str, float], Shape]:
    """The features of one block at its input ``shape``, and its output shape."""
    f = dict.fromkeys(FEATURES, 0.0)
    found: list[BlockCost] = []
    out, layers = plan_cost((block,), shape, found)
    for x in layers:
        layer, n_in, n_out = x.layer, x.shape_in.numel / 1e6, x.shape_out.numel / 1e6
        if isinstance(layer, Conv):
            depthwise = layer.groups > 1 and layer.groups == layer.c_in == layer.c_out
            kind = (
                "dw"
                if depthwise
                else ("g" if layer.groups > 1 else "d") + ("1" if layer.k == 1 else "k")
            )
            f[f"gmacs_{kind}"] += x.macs / 1e9
            f[f"min_{kind}"] += n_in
            f[f"mout_{kind}"] += n_out
            f[f"n_{kind}"] += 1
            f["groups"] += layer.groups if layer.groups > 1 else 0
        elif type(layer).__name__ in LAYER_KINDS:
            name = type(layer).__name__
            f[f"gmacs_{name}"] += x.macs / 1e9
            f[f"mvalues_{name}"] += n_in + n_out
            f[f"n_{name}"] += 1
    for b in found:
        f[f"mvalues_{b.kind}"] += b.shape_out.numel / 1e6
        f[f"n_{b.kind}"] += 1
        if b.gate in GATES:
            f[f"mvalues_{b.gate}_gate"] += b.shape_out.numel / 1e6
            f[f"n_{b.gate}_gate"] += 1
    f["c_in"], f["c_out"], f["hw"] = shape.c, out.c, shape.h * shape.w / 1e4
    return f, out


def network_blocks(plan: NetPlan, resolution: int) -> list[tuple[BlockPlan, Shape]]:
    """Every top-level block of a network with the input shape it runs at."""
    shape, out = Shape(plan.in_channels, resolution, resolution), []
    for section in plan.sections:
        for block in section.blocks:
            out.append((block, shape))
            shape, _ = plan_cost((block,), shape)
    return out


def _vector(f: dict[str, float]) -> list[float]:
    return [math.log1p(f[name]) for name in FEATURES]


def fit_blocks(rows: list[dict[str, float]], ms: list[float]) -> Any:
    """The block regressor: log block latency from log1p features."""
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingRegressor

    # 100 rounds at rate 0.2: as accurate as 500 at 0.05 on held-out blocks (measured),
    # and 4.6x faster to evaluate
    model = HistGradientBoostingRegressor(
        max_iter=100, learning_rate=0.2, min_samples_leaf=4, max_depth=8, random_state=0
    )
    model.fit(np.array([_vector(r) for r in rows]), np.log(np.array(ms)))
    return model


class Forest:
    """The fitted regressor's trees as flat arrays, evaluated for all trees and rows at once
    with numpy (scikit-learn's own predict walks its 100 trees one call each: ~0.9 ms per
    network; this: ~0.1 ms). Built from the fitted model's tree records; equal to
    ``model.predict`` to float rounding (tested). None when scikit-learn's layout differs:
    then ``model.predict`` is used."""

    def __init__(self, model: Any) -> None:
        import numpy as np

        trees = [p[0].nodes for p in model._predictors]
        size = max(len(t) for t in trees)

        def stack(field: str, dtype: Any) -> Any:
            out = np.zeros((len(trees), size), dtype=dtype)
            for i, t in enumerate(trees):
                out[i, : len(t)] = t[field]
            return out

        offset = (np.arange(len(trees)) * size)[:, None]  # node ids -> flat indices
        self.feature = stack("feature_idx", np.int64).ravel()
        self.threshold = stack("num_threshold", np.float64).ravel()
        self.left = (stack("left", np.int64) + offset).ravel()
        self.right = (stack("right", np.int64) + offset).ravel()
        self.leaf = stack("is_leaf", bool).ravel()
        self.value = stack("value", np.float64).ravel()
        self.depth = int(max(t["depth"].max() for t in trees))
        self.baseline = float(np.ravel(model._baseline_prediction)[0])
        self.roots = offset

    @classmethod
    def of(cls, model: Any) -> Forest | None:
        try:
            return cls(model)
        except (AttributeError, KeyError, TypeError, ValueError, IndexError):
            return None

    def predict(self, x: Any) -> Any:
        import numpy as np

        node = np.repeat(self.roots, len(x), axis=1)  # (trees, rows), flat node indices
        flat = x.ravel()
        cols = (np.arange(len(x)) * x.shape[1])[None, :]
        for _ in range(self.depth):
            go_left = flat[cols + self.feature[node]] <= self.threshold[node]
            step = np.where(go_left, self.left[node], self.right[node])
            node = np.where(self.leaf[node], node, step)
        return self.baseline + self.value[node].sum(axis=0)


SHRINKS = (0.01, 0.1, 1.0, 10.0, math.inf)  # ridge weights tried for the per-resolution scales


def fit_correction(
    terms: list[tuple[float, ...]], ms: list[float], shrink: float = math.inf
) -> tuple[float, ...]:
    """network ms = a * block sum + c * blocks + d * M values out of blocks + b
    + sum over resolutions r of e_r * (block sum of the blocks run at r), least squares in
    relative error (``terms``: `Predictor.terms`; weights in the order a, c, d, b, e_r...).

    The block sum overstates a network by what timing a block alone adds per call: a
    fixed overhead (c, negative) and handing back its output (d, negative; ONNX Runtime
    copies it into a new array). Measured on an ONNX Runtime profile of the shipped space
    (60 held-out networks; 3 rounds, before the gate features): a * sum + b 6.6 %, tau
    0.83; with c 6.0 %, 0.85; with c and d 5.4 %, 0.86.

    The e_r let a block's share differ by the resolution it runs at (a block alone finds
    its input in cache; in a network, that depends on how large the activations are). They
    are ridge-shrunk towards 0 (the common scale a) with weight ``shrink`` (inf: all 0);
    `choose_correction` picks it by cross-validation."""
    import numpy as np

    t = np.array(terms, dtype=float)
    x = np.column_stack([t[:, :3], np.ones(len(t)), t[:, 3:]])
    y = np.array(ms, dtype=float)
    if math.isinf(shrink) or t.shape[1] == 3:
        w, *_ = np.linalg.lstsq(x[:, :4] / y[:, None], np.ones(len(y)), rcond=None)
        return (*(float(v) for v in w), *(0.0,) * (t.shape[1] - 3))
    k = t.shape[1] - 3
    penalty = np.zeros((k, x.shape[1]))
    penalty[:, 4:] = np.eye(k) * math.sqrt(shrink)
    a = np.vstack([x / y[:, None], penalty])
    w, *_ = np.linalg.lstsq(a, np.concatenate([np.ones(len(y)), np.zeros(k)]), rcond=None)
    return tuple(float(v) for v in w)


def correct(w: tuple[float, ...], terms: tuple[float, ...]) -> float:
    """The correction ``w`` (of `fit_correction`) applied to a network's ``terms``."""
    return (
        w[0] * terms[0]
        + w[1] * terms[1]
        + w[2] * terms[2]
        + w[3]
        + sum(e * v for e, v in zip(w[4:], terms[3:], strict=True))
    )


def choose_correction(
    terms: list[tuple[float, ...]], ms: list[float], folds: int = 10
) -> tuple[tuple[float, ...], float, float]:
    """The correction fitted on all networks with the ridge weight (of `SHRINKS`) whose
    ``folds``-fold cross-validated mean absolute % error is least (ties: the stronger
    shrink); returns (weights, shrink, that error). Folds are fixed (every ``folds``-th
    network of a seeded shuffle), so the choice is deterministic."""
    import random

    if len(ms) < 2 * folds:  # too few networks to cross-validate: the common scale only
        return fit_correction(terms, ms), math.inf, float("nan")
    order = random.Random(0).sample(range(len(ms)), len(ms))
    best = (math.inf, math.inf)  # (error, shrink)
    for shrink in SHRINKS:
        pct = []
        for f in range(folds):
            test = set(order[f::folds])
            train = [i for i in range(len(ms)) if i not in test]
            w = fit_correction([terms[i] for i in train], [ms[i] for i in train], shrink)
            pct += [abs(correct(w, terms[i]) - ms[i]) / ms[i] * 100 for i in test]
        if sum(pct) / len(pct) <= best[0] + 1e-9:
            best = (sum(pct) / len(pct), shrink)
    return fit_correction(terms, ms, best[1]), best[1], best[0]


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


@dataclass
class Predictor:
    """A fitted profile: predicts a spec's latency (ms) on the profiled device."""

    path: str
    provenance: dict[str, Any]
    model: Any  # the block regressor
    correction: tuple[float, ...]  # of `fit_correction`
    references: dict[str, dict[str, Any]]  # name -> measured {"ms", "ratio", "rounds", ...}
    error: dict[str, float]
    forest: Forest | None = None  # fast evaluation of ``model``
    resolutions: tuple[int, ...] = ()  # with their own correction term (`fit_correction`)
    shrink: float = math.inf  # the correction's ridge weight (`choose_correction`)
    cv_mape: float = float("nan")  # its cross-validated error on the calibration networks
    cache: dict[tuple[BlockPlan, Shape], float] = field(default_factory=dict)  # block -> ms
    shapes: dict[tuple[BlockPlan, Shape], Shape] = field(default_factory=dict)  # -> output

    @property
    def resolution(self) -> int:
        return int(self.provenance["input"][-1])

    def terms(self, spec: ArchSpec | NetPlan) -> tuple[float, ...]:
        """Sum of the predicted latencies of the network's blocks timed alone (ms), number
        of blocks, M values the blocks hand on, then the sum of the blocks run at each of
        ``resolutions``: what `fit_correction` maps to the network."""
        import numpy as np

        plan = spec if isinstance(spec, NetPlan) else network_plan(spec)
        shape = Shape(plan.in_channels, self.resolution, self.resolution)
        keys, new, rows = [], [], []
        for section in plan.sections:
            for block in section.blocks:
                key = (block, shape)  # frozen dataclasses: hashable, cheaper than repr
                keys.append(key)
                if key not in self.shapes:  # a block not seen before (repeats are common)
                    f, self.shapes[key] = block_features(block, shape)
                    new.append(key)
                    rows.append(_vector(f))
                shape = self.shapes[key]
        if new:
            x = np.array(rows)
            logs = self.forest.predict(x) if self.forest else self.model.predict(x)
            for key, y in zip(new, np.exp(logs), strict=True):
                self.cache[key] = float(y)
        out = sum(self.shapes[k].numel for k in keys) / 1e6
        at = dict.fromkeys(self.resolutions, 0.0)
        for key in keys:
            if key[1].h in at:
                at[key[1].h] += self.cache[key]
        return sum(self.cache[k] for k in keys), float(len(keys)), out, *at.values()

    def block_sum(self, spec: ArchSpec | NetPlan) -> float:
        """Sum of the predicted latencies of the network's blocks (ms, uncorrected)."""
        return self.terms(spec)[0]

    def predict(self, spec: ArchSpec | NetPlan) -> float:
        """The network's latency (ms): the corrected block sum, never under a tenth of the
        sum (the linear correction is fitted on the profile's networks, not beyond)."""
        t = self.terms(spec)
        return max(correct(self.correction, t), 0.1 * t[0])

    def reference_ms(self, name: str) -> float:
        if name not in self.references:
            raise ConfigError(
                f"{self.path}: the profile has no measurement of reference {name!r} "
                f"(it has: {', '.join(self.references) or 'none'}); profile it again"
            )
        return self.references[name]["ms"]

    def describe(self) -> str:
        return describe(self.path, {"provenance": self.provenance, "error": self.error})


def describe_correction(terms: dict[str, Any]) -> str:
    """A profile's ``correction_terms`` in words."""
    form = (
        "one scale for every block"
        if terms["shrink"] is None
        else f"a scale per resolution, ridge weight {terms['shrink']:g}"
    )
    if terms["cv_mape_pct"] is None:
        return form
    return (
        f"{form} (chosen by 10-fold cross-validation on the calibration networks: "
        f"{terms['cv_mape_pct']:.1f} % mean absolute error)"
    )


def describe(path: str, data: dict[str, Any]) -> str:
    """A profile in one line: device, backend, date, held-out error."""
    p, e = data["provenance"], data.get("error", {})
    return (
        f"predicted from {path}: {p.get('cpu', '?')} ({p.get('host', '?')}), "
        f"{p.get('backend', '?')} {p.get('backend_version', '')}, {p.get('threads')} "
        f"thread(s), profiled {p.get('date', '?')}; held-out error "
        f"{e.get('mape_pct', 0):.1f} % mean, {e.get('worst_pct', 0):.1f} % worst, "
        f"Kendall tau {e.get('kendall_tau', 0):.2f} (n={e.get('n', 0)})"
    )


def predictor_from(data: dict[str, Any], path: str = "") -> Predictor:
    """Fit the predictor from a profile's data (blocks, calibration networks)."""
    blocks = list(data["blocks"].values())  # features: a list in FEATURES order
    rows = [dict(zip(FEATURES, b["features"], strict=True)) for b in blocks]
    model = fit_blocks(rows, [b["ms"] for b in blocks])
    p = Predictor(path, data["provenance"], model, (), data.get("references", {}), {})
    p.forest = Forest.of(model)
    cal = [n for n in data["networks"].values() if n["role"] == "calibration"]
    plans = [network_plan(ArchSpec.from_dict(n["spec"])) for n in cal]
    p.resolutions = tuple(
        sorted({at.h for plan in plans for _, at in network_blocks(plan, p.resolution)})
    )
    terms = [p.terms(plan) for plan in plans]
    p.correction, p.shrink, p.cv_mape = choose_correction(terms, [n["ms"] for n in cal])
    p.error = data.get("error", {})
    return p


def read_profile(path: str | Path) -> dict[str, Any]:
    """A finished profile's data (JSON; nothing executable in it), checked to be one."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the profile ({exc.strerror})") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a profile (invalid JSON: {exc})") from None
    if not isinstance(data, dict) or not str(data.get("format", "")).startswith("gensynth-"):
        raise ConfigError(f"{path}: not a gensynth profile (expected format {FORMAT!r})")
    if data["format"] != FORMAT:
        raise ConfigError(
            f"{path}: a profile of format {data['format']!r}, this gensynth reads {FORMAT!r} "
            f"(times relative to a yardstick network): run `gensynth profile` again"
        )
    if "error" not in data or list(data.get("features", [])) != list(FEATURES):
        raise ConfigError(
            f"{path}: the profile is unfinished or from another gensynth version (other "
            f"block features): run `gensynth profile` again to finish or redo it"
        )
    return data


def load_predictor(path: str | Path) -> Predictor:
    """Read a finished profile and fit its predictor."""
    try:
        return predictor_from(read_profile(path), str(path))
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: a damaged profile ({type(exc).__name__}: {exc})") from None


SETUP = ("backend", "threads", "batch", "input")


def setup(c: Constraints) -> dict[str, Any]:
    """What a profile must share with the constraints that use it: how latency is taken."""
    d = c.deployment
    shape = [d.channels, d.resolution, d.resolution]
    return dict(zip(SETUP, (c.latency.backend, c.latency.threads, d.batch, shape), strict=True))


def check_setup(c: Constraints, provenance: dict[str, Any]) -> None:
    """Refuse a profile measured with another backend, threads, batch or input."""
    for key, value in setup(c).items():
        if provenance.get(key) != value:
            raise ConfigError(
                f"{c.source}: latency.predictor: {c.latency.predictor} was profiled with "
                f"{key} {provenance.get(key)!r}, the constraints ask for {value!r}: profile "
                f"again with these constraints"
            )
