"""The paper's comparison: the chosen architecture and the top candidates beside the reference
networks (proxy top-1, throughput relative to FBNet-C and to the budget's reference, size).

Throughput is measured as a paired ratio (interleaved in one process, same backend, threads
and input), so the table is a property of the architectures, not of the host's speed.
"""

from __future__ import annotations

import platform
import socket
from typing import Any

import optuna
import torch

from gensynth.baselines import load_reference
from gensynth.build import build_model, shipped_form
from gensynth.constraints import Constraints, Relative
from gensynth.latency import measure_paired
from gensynth.record import TrialRecord, read_all
from gensynth.study import best_record, direction_sign

COMPARED = ("fbnet_c", "mobilenetv3_large")  # the paper's comparison set (Figure 3)
ANCHOR = "fbnet_c"  # throughput is stated relative to FBNet-C, as in the paper


def top_records(study: optuna.Study, k: int) -> list[TrialRecord]:
    """The chosen architecture first, then the next best feasible trials by the utility."""
    best = best_record(study)
    if best is None:
        return []
    sign = direction_sign(study)
    rest = sorted(
        (
            r
            for r in read_all(study)
            if r.feasible and r.values and r.duplicate_of is None and r.number != best.number
        ),
        key=lambda r: -sign * r.values[0],
    )
    return [best, *rest[: k - 1]]


def compare(
    study: optuna.Study, c: Constraints, inquisitor: Any = None, top: int = 3
) -> dict[str, Any]:
    """Time the top candidates and the references against FBNet-C (and the latency budget's
    reference); train references whose proxy top-1 is not known yet (with ``inquisitor``);
    return the comparison table (also stored on the study)."""
    lat, d = c.latency, c.deployment
    shape = (d.batch, d.channels, d.resolution, d.resolution)
    facts = dict(study.user_attrs.get("references", {}))
    if inquisitor is not None and inquisitor.data is not None:
        for name in COMPARED:
            if "accuracy" not in facts.get(name, {}):
                ref = load_reference(name, c)
                facts[name] = {**ref.facts, "accuracy": inquisitor.train_reference(ref)}
        study.set_user_attr("references", facts)
    budget_ref = (
        c.budgets.latency_ms.reference if isinstance(c.budgets.latency_ms, Relative) else None
    )
    refs = list(dict.fromkeys([*COMPARED, *([budget_ref] if budget_ref else [])]))
    x = torch.randn(*shape)
    runners = {n: load_reference(n, c).runner(x, lat.backend, lat.threads) for n in refs}
    rows = []
    for name in refs:
        row = {"name": name, "kind": "reference", **facts.get(name, {})}
        row.update(_relative(runners[name], runners, shape, lat, budget_ref))
        rows.append(row)
    for r in top_records(study, top):
        model = shipped_form(build_model(r.arch()), shape)
        row = {
            "name": f"trial {r.number}",
            "kind": "candidate",
            "number": r.number,
            **{k: r.metrics.get(k) for k in ("params_m", "macs_g", "accuracy")},
        }
        row.update(_relative(model, runners, shape, lat, budget_ref))
        rows.append(row)
    anchor_ms = sorted(r[f"{ANCHOR}_ms"] for r in rows if f"{ANCHOR}_ms" in r)
    if anchor_ms:  # the anchor's own median, from the runs it was paired in
        rows[0]["latency_ms"] = anchor_ms[len(anchor_ms) // 2]
    table = {
        "backend": lat.backend,
        "threads": lat.threads,
        "input": list(shape),
        "host": f"{socket.gethostname()} ({platform.processor() or platform.machine()})",
        "anchor": ANCHOR,
        "budget_reference": budget_ref,
        "rows": rows,
    }
    study.set_user_attr("comparison", table)
    return table


def _relative(
    model: Any, runners: dict[str, Any], shape: tuple[int, ...], lat: Any, budget_ref: str | None
) -> dict[str, float]:
    """Throughput relative to the anchor (and the budget's reference): 1 / latency ratio."""
    out = {}
    for key, name in (("x_anchor", ANCHOR), ("x_budget_reference", budget_ref)):
        if name is None:
            continue
        if model is runners[name]:
            out[key], out[f"{key}_low"], out[f"{key}_high"] = 1.0, 1.0, 1.0
            continue
        p = measure_paired(model, runners[name], shape, lat.backend, lat.threads, lat.warmup)
        out[key], out[f"{key}_low"], out[f"{key}_high"] = 1 / p.ratio, 1 / p.high, 1 / p.low
        out["latency_ms"], out[f"{name}_ms"] = p.candidate_ms, p.reference_ms
    return out
