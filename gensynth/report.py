"""The reporter: a study -> reports/<study>/index.html (self-contained) and trials.csv."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from gensynth.graph import draw
from gensynth.record import TrialRecord, counts, read_all, runs_of, wall_seconds
from gensynth.rules import RULE_NAMES
from gensynth.study import best_record, deployment_resolution
from gensynth.units import unit

COLUMNS = ("netscore", "accuracy", "params_m", "macs_g", "latency_ms", "peak_activation_mb")
TOP = 25  # rows in the ranking and the nearest-miss tables
FEASIBLE, INFEASIBLE = "#2e9e5b", "#b0b0b0"


def trial_row(r: TrialRecord) -> dict[str, Any]:
    """One flat row per trial: status, stage, reason, metrics, violations."""
    row = {
        "number": r.number,
        "status": r.status,
        "stage": r.stage,
        "reason": r.reason,
        "name": (r.spec or {}).get("name", ""),
        "hash": r.hash,
        "seed": r.seed,
        "duplicate_of": r.duplicate_of,
        "seconds": r.seconds,
        **{k: r.metrics.get(k) for k in COLUMNS},
        "blocked_by": r.blocked_by,
        "total_violation": sum(max(0.0, v) for v in r.violations.values()),
    }
    row.update({f"v_{name}": r.violations.get(name) for name in RULE_NAMES})
    return row


def collect(study: optuna.Study) -> dict[str, Any]:
    """Everything the report shows, as plain data (tested on fabricated trials)."""
    trials = study.get_trials(deepcopy=False)
    records = read_all(study)
    rows = [trial_row(r) for r in records]
    attrs = study.user_attrs
    by_rule = {r: sum(r in row["blocked_by"] for row in rows) for r in [*RULE_NAMES, "failed"]}
    scored = sorted(
        (r for r in rows if r["netscore"] is not None),
        key=lambda r: (r["status"] != "feasible", -r["netscore"]),
    )
    misses = sorted(
        (r for r in rows if r["status"] == "infeasible"), key=lambda r: r["total_violation"]
    )
    best = best_record(study)
    resolution = deployment_resolution(study)
    return {
        "study": study.study_name,
        "attrs": {k: v for k, v in attrs.items() if k not in ("space", "constraints")},
        "constraints": attrs.get("constraints", {}),
        "counts": counts(records),
        "by_rule": by_rule,
        "runs": runs_of(records),
        "wall_seconds": wall_seconds(runs_of(records)),
        "rows": rows,
        "ranking": scored[:TOP],
        "nearest_misses": misses[:TOP],
        "best": _best(best, resolution) if best else None,
        "details": _details(
            records, [r["number"] for r in [*scored[:TOP], *misses[:TOP]]], resolution
        ),
        "history": _history(rows),
        "importances": _importances(study, trials),
        "pareto": _pareto(rows),
        "importance_n": sum(r.feasible and "netscore" in r.metrics for r in records),
        "conventions": _conventions(attrs.get("constraints", {})),
        "comparison": attrs.get("comparison"),
        "confirmation": attrs.get("confirmation"),
        "references": attrs.get("references", {}),
    }


def _details(records: list[TrialRecord], numbers: list[int], resolution: int) -> list[dict]:
    """The drill-down of every trial the ranking and nearest-miss tables list: its graph,
    metrics, spec and export command (one section each, shown when its row is clicked)."""
    wanted = list(dict.fromkeys(numbers))
    by_number = {r.number: r for r in records}
    return [
        _best(by_number[n], resolution)
        | {
            "status": by_number[n].status,
            "reason": by_number[n].reason,
            "blocked_by": by_number[n].blocked_by,
        }
        for n in wanted
        if by_number[n].spec is not None
    ]


def _best(r: TrialRecord, resolution: int) -> dict[str, Any]:
    spec = r.arch()
    return {
        "number": r.number,
        "spec": spec.to_dict(),
        "spec_json": spec.to_json(),
        "hash": spec.hash,
        "weights": r.weights,
        "metrics": [{"name": k, "value": v, "unit": unit(k)} for k, v in r.metrics.items()],
        "svg": draw(spec, resolution),
        "history": r.history,
    }


def _history(rows: list[dict]) -> dict[str, list]:
    """Objective per trial, best feasible so far, and the cumulative feasible share."""
    best, feasible, out = (
        None,
        0,
        {"number": [], "netscore": [], "status": [], "best": [], "share": []},
    )
    for i, r in enumerate(sorted(rows, key=lambda r: r["number"]), start=1):
        feasible += r["status"] == "feasible"
        if r["status"] == "feasible" and r["netscore"] is not None:
            best = r["netscore"] if best is None else max(best, r["netscore"])
        out["number"].append(r["number"])
        out["netscore"].append(r["netscore"])
        out["status"].append(r["status"])
        out["best"].append(best)
        out["share"].append(100.0 * feasible / i)
    return out


def _pareto(rows: list[dict]) -> dict[str, Any]:
    """Accuracy vs latency and vs MACs; the feasible front (higher accuracy, lower cost)."""
    measured = [r for r in rows if r["accuracy"] is not None]
    result = {}
    for cost in ("latency_ms", "macs_g"):
        points = [r for r in measured if r[cost] is not None]
        front, best_acc = [], -math.inf
        for r in sorted(
            (r for r in points if r["status"] == "feasible"),
            key=lambda r: (r[cost], -r["accuracy"]),
        ):
            if r["accuracy"] > best_acc:
                front.append(r["number"])
                best_acc = r["accuracy"]
        result[cost] = {
            "points": [
                {
                    "number": r["number"],
                    "x": r[cost],
                    "y": r["accuracy"],
                    "feasible": r["status"] == "feasible",
                    "name": r["name"],
                }
                for r in points
            ],
            "front": front,
        }
    return result


MIN_IMPORTANCE_TRIALS = 5


def _importances(study: optuna.Study, trials: list[FrozenTrial]) -> dict[str, float] | str:
    """fANOVA importances of the parameters for NetScore, over feasible trials only."""
    scored = [
        t
        for t in trials
        if t.state == TrialState.COMPLETE
        and t.user_attrs.get("status") == "feasible"
        and "netscore" in t.user_attrs.get("metrics", {})
    ]
    if len(scored) < MIN_IMPORTANCE_TRIALS:
        return (
            f"needs at least {MIN_IMPORTANCE_TRIALS} feasible trials with a measured "
            f"NetScore, has {len(scored)}"
        )
    copy = optuna.create_study(directions=study.directions)
    copy.add_trials(scored)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return dict(
                optuna.importance.get_param_importances(
                    copy, target=lambda t: t.user_attrs["metrics"]["netscore"]
                )
            )
    except (RuntimeError, ValueError) as exc:
        return f"not computable: {exc}"


def _conventions(c: dict[str, Any]) -> list[tuple[str, str]]:
    d, lat, p = c.get("deployment", {}), c.get("latency", {}), c.get("proxy", {})
    u = c.get("utility", {})
    size = f"{d.get('channels', 3)}x{d.get('resolution', 224)}x{d.get('resolution', 224)}"
    return [
        (
            "params",
            "trainable parameters in millions (M); BN affine included, fixed BlurPool "
            "filters and BN running statistics excluded",
        ),
        (
            "MACs",
            f"multiply-accumulates (1 multiply-add = 1) of conv, BlurPool and linear "
            f"layers at input {size}, batch 1, {d.get('classes', 1000)} classes, in G",
        ),
        (
            "latency",
            f"median of {lat.get('runs', '?')} runs after {lat.get('warmup', '?')} "
            f"warm-up, backend {lat.get('backend', '?')}, {lat.get('threads', '?')} "
            f"thread(s), batch {d.get('batch', 1)}, input {size}, in ms; spread = IQR",
        ),
        (
            "accuracy",
            f"top-1 % on the PROXY task ({p.get('dataset', '?')} at "
            f"{p.get('resolution', '?')}px, {p.get('epochs', '?')} epochs, batch "
            f"{p.get('batch_size', '?')}, {p.get('optimizer', '?')} lr "
            f"{p.get('lr', '?')}"
            + (f", mean of {p['seeds']} seeds" if p.get("seeds", 1) > 1 else "")
            + "), not ImageNet",
        ),
        (
            "NetScore",
            f"20*log10(a^{u.get('alpha', 2)} / (p^{u.get('beta', 0.5)} * "
            f"m^{u.get('gamma', 0.5)})), a in %, p in M params, m in "
            f"{u.get('macs_unit', 'G')} MACs",
        ),
        (
            "peak activation",
            "largest (input + output) float32 tensor pair of one layer, batch 1, in MB",
        ),
    ]


def write_report(study: optuna.Study, out_dir: str | Path) -> Path:
    """Write ``index.html`` and ``trials.csv`` into ``out_dir``; return the HTML path."""
    import jinja2
    import pandas as pd
    from plotly.offline import get_plotlyjs

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = collect(study)
    frame = pd.DataFrame(data["rows"])
    if len(frame):
        frame["blocked_by"] = frame["blocked_by"].map(";".join)
    frame.to_csv(out_dir / "trials.csv", index=False)
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("gensynth", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["js"] = _js
    env.filters["num"] = _num
    html = env.get_template("report.html.j2").render(
        d=data, figures=_js(figures(data)), plotly_js=get_plotlyjs(), rules=RULE_NAMES
    )
    path = out_dir / "index.html"
    path.write_text(html, encoding="utf-8")
    return path


def figures(d: dict[str, Any]) -> dict[str, Any]:
    """Plotly figure specs (data + layout) for the report's charts."""
    h = d["history"]
    colors = [FEASIBLE if s == "feasible" else INFEASIBLE for s in h["status"]]
    layout = {
        "margin": {"l": 50, "r": 10, "t": 40, "b": 40},
        "height": 320,
        "legend": {"orientation": "h", "y": -0.25},
        "template": "plotly_white",
    }
    figs = {
        "history": {
            "data": [
                {
                    "type": "scatter",
                    "mode": "markers",
                    "x": h["number"],
                    "y": h["netscore"],
                    "marker": {"color": colors, "size": 6},
                    "name": "NetScore (green: feasible)",
                },
                {
                    "type": "scatter",
                    "mode": "lines",
                    "x": h["number"],
                    "y": h["best"],
                    "line": {"shape": "hv", "color": "#7b4fd6"},
                    "name": "best feasible",
                },
            ],
            "layout": {
                **layout,
                "title": _title("Optimization history"),
                "xaxis": {"title": {"text": "trial"}},
                "yaxis": {"title": {"text": "NetScore"}},
            },
        },
        "share": {
            "data": [
                {
                    "type": "scatter",
                    "mode": "lines",
                    "x": h["number"],
                    "y": h["share"],
                    "line": {"color": FEASIBLE},
                    "name": "feasible %",
                }
            ],
            "layout": {
                **layout,
                "title": _title("Feasible share over time"),
                "xaxis": {"title": {"text": "trial"}},
                "yaxis": {"title": {"text": "% feasible so far"}, "range": [0, 100]},
            },
        },
        "rules": {
            "data": [
                {
                    "type": "bar",
                    "x": list(d["by_rule"]),
                    "y": list(d["by_rule"].values()),
                    "marker": {"color": "#d64f4f"},
                }
            ],
            "layout": {
                **layout,
                "title": _title("Trials blocked by each rule"),
                "margin": {"l": 50, "r": 10, "t": 40, "b": 110},
                "yaxis": {"title": {"text": "trials"}},
            },
        },
    }
    for cost, label in (("latency_ms", "latency (ms)"), ("macs_g", "G MACs")):
        pts = d["pareto"][cost]["points"]
        front = {p["number"]: p for p in pts}
        figs[f"pareto_{cost}"] = {
            "data": [
                *(
                    {
                        "type": "scatter",
                        "mode": "markers",
                        "name": name,
                        "x": [p["x"] for p in pts if p["feasible"] == ok],
                        "y": [p["y"] for p in pts if p["feasible"] == ok],
                        "text": [f"trial {p['number']}" for p in pts if p["feasible"] == ok],
                        "marker": {"color": color, "size": 7},
                    }
                    for name, ok, color in (
                        ("feasible", True, FEASIBLE),
                        ("infeasible", False, INFEASIBLE),
                    )
                ),
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": "feasible Pareto front",
                    "x": [front[n]["x"] for n in d["pareto"][cost]["front"]],
                    "y": [front[n]["y"] for n in d["pareto"][cost]["front"]],
                    "line": {"shape": "hv", "color": "#7b4fd6"},
                },
                _reference_markers(d, cost),
            ],
            "layout": {
                **layout,
                "title": _title(f"Proxy accuracy vs {label}"),
                "xaxis": {"title": {"text": label}},
                "yaxis": {"title": {"text": "proxy top-1 %"}},
            },
        }
    if isinstance(d["importances"], dict):
        items = sorted(d["importances"].items(), key=lambda kv: kv[1])[-15:]
        figs["importance"] = {
            "data": [
                {
                    "type": "bar",
                    "orientation": "h",
                    "x": [v for _, v in items],
                    "y": [k for k, _ in items],
                    "marker": {"color": "#58b4d1"},
                }
            ],
            "layout": {
                **layout,
                "height": 360,
                "title": _title(
                    f"Parameter importances for NetScore "
                    f"(fANOVA, {d['importance_n']} "
                    f"feasible trials)"
                ),
                "margin": {"l": 140, "r": 10, "t": 30, "b": 40},
            },
        }
    return figs


def reference_points(d: dict[str, Any], cost: str) -> list[dict[str, Any]]:
    """The reference networks where both coordinates are known: MACs and proxy accuracy from
    the study's reference facts, latency from the comparison's paired runs."""
    timed = {
        r["name"]: r
        for r in (d.get("comparison") or {}).get("rows", [])
        if r.get("kind") == "reference"
    }
    points = []
    for name, facts in (d.get("references") or {}).items():
        x = timed.get(name, {}).get("latency_ms") if cost == "latency_ms" else facts.get(cost)
        if x is not None and facts.get("accuracy") is not None:
            points.append({"name": name, "x": x, "y": facts["accuracy"]})
    return points


def _reference_markers(d: dict[str, Any], cost: str) -> dict[str, Any]:
    points = reference_points(d, cost)
    return {
        "type": "scatter",
        "mode": "markers+text",
        "name": "reference networks",
        "x": [p["x"] for p in points],
        "y": [p["y"] for p in points],
        "text": [p["name"] for p in points],
        "textposition": "top center",
        "marker": {"color": "#d64f4f", "size": 11, "symbol": "diamond"},
    }


def _title(text: str) -> dict[str, Any]:
    return {"text": text, "x": 0.01, "xanchor": "left"}


def _js(value: Any) -> str:
    """JSON that is safe inside a <script> element (no '<', '>' or '&' left raw)."""
    text = json.dumps(_no_nan(value), default=str, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _no_nan(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_no_nan(v) for v in value]
    return value


def _num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)
