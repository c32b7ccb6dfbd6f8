"""Metric names, their units and their directions: the one place the wording lives."""

from __future__ import annotations

import hashlib
import json
from typing import Any

# name -> (unit as shown in tables and reports, direction when used as an objective)
METRICS: dict[str, tuple[str, str | None]] = {
    "accuracy": ("% top-1 on the proxy task", "maximize"),
    "netscore": ("NetScore (dB)", "maximize"),
    "params_m": ("M params", "minimize"),
    "macs_g": ("G MACs (multiply-adds, conv + linear)", "minimize"),
    "latency_ms": ("ms (median)", "minimize"),
    "peak_activation_mb": ("MB (float32, batch 1)", "minimize"),
    "latency_iqr_ms": ("ms (IQR)", None),
    "latency_ratio": ("x the reference's latency (paired median)", "minimize"),
    "latency_ratio_low": ("x (95% CI low)", None),
    "latency_ratio_high": ("x (95% CI high)", None),
    "reference_latency_ms": ("ms (median, paired)", None),
    "aads_fraction": ("share of halvings anti-aliased", None),
    "strided_pointwise": ("count", None),
    "grouped_stages": ("stages with grouped 3x3 convs", None),
    "shift_consistency": ("% shift-stable predictions", None),
    "accuracy_sd": ("points (sd of top-1 over proxy.seeds)", None),
    "train_seconds": ("s", None),
}
OBJECTIVES = tuple(name for name, (_, direction) in METRICS.items() if direction)
DIRECTIONS = {name: direction for name, (_, direction) in METRICS.items() if direction}


def unit(metric: str) -> str:
    return METRICS.get(metric, ("", None))[0]


def content_hash(data: Any) -> str:
    """Short canonical hash of JSON-able data: equal content gives equal hashes."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
