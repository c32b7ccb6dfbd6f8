"""`gensynth profile`: measure a device once, write one portable JSON file, predict anywhere.

Run on the target (it needs gensynth's runtime dependencies and the backend). It samples
networks the design space can produce and the profile accepts (spec-only rules and
budgets), measures each in the deployment form the search times (BatchNorm folded; the
deployment input, batch, backend and threads of the constraints file), plus the built-in
reference networks; fits the predictor (`gensynth.predictor`) on a calibration share and
reports its error on the held-out rest. The file is written after every measurement, so an
interrupted profile resumes where it stopped.
"""

from __future__ import annotations

import json
import math
import os
import platform
import random
import socket
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from gensynth.baselines import load_reference
from gensynth.blocks import make_block
from gensynth.build import build_model, shipped_form
from gensynth.constraints import Constraints
from gensynth.errors import ConfigError
from gensynth.latency import Paired, measure_paired, runner
from gensynth.plan import network_plan
from gensynth.predictor import (
    FEATURES,
    FORMAT,
    SETUP,
    block_features,
    errors,
    network_blocks,
    predictor_from,
    setup,
)
from gensynth.references import BUILTIN
from gensynth.space import DesignSpace
from gensynth.spec import ArchSpec
from gensynth.survey import RandomSuggester, reference_facts, spec_only

DRAWS_PER_SPEC = 200  # give up when the profile accepts fewer than 1 in 200 samples
BLOCK_RUNS = 11  # timed calls per block (single calls: measured steadier than batched ones)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def provenance(c: Constraints, space: DesignSpace) -> dict[str, Any]:
    """Where, how and on what the profile was measured (the file's header)."""
    from importlib.metadata import version

    backend = c.latency.backend
    backend_version = torch.__version__
    if backend == "onnxruntime":
        import onnxruntime

        backend_version = onnxruntime.__version__
    return {
        "host": socket.gethostname(),
        "cpu": cpu_name(),
        "cpus": os.cpu_count(),
        "os": platform.platform(),
        "python": platform.python_version(),
        **setup(c),  # backend, threads, batch, input: what a user of the profile must share
        "backend_version": backend_version,
        "warmup": c.latency.warmup,
        "runs": c.latency.runs,
        "gensynth": version("gensynth"),
        "space": space.name,
        "space_hash": space.hash,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


RESUMED = (*SETUP, "space_hash")  # what a resumed profile must share


def sample_specs(c: Constraints, space: DesignSpace, n: int, seed: int) -> list[ArchSpec]:
    """``n`` distinct specs of ``space`` that pass the profile's spec-only rules and budgets
    (the networks a search would time), from a fixed seed."""
    rng, refs = random.Random(seed), reference_facts(c)
    found: dict[str, ArchSpec] = {}
    for i in range(n * DRAWS_PER_SPEC):
        spec = space.sample(RandomSuggester(rng), name=f"p{i}").replace(
            in_channels=c.deployment.channels, num_classes=c.deployment.classes
        )
        if spec.hash not in found and all(v <= 0 for v in spec_only(spec, c, refs).values()):
            found[spec.hash] = spec
            if len(found) == n:
                return list(found.values())
    raise ConfigError(
        f"{space.source}: only {len(found)} of {n} wanted networks pass the profile's "
        f"spec-only rules and budgets in {n * DRAWS_PER_SPEC} samples; profile with a "
        f"laxer constraints file"
    )


def time_spec(spec: ArchSpec, c: Constraints, data: dict[str, Any]) -> dict[str, float]:
    """Latency of the deployment form of ``spec`` on this host, measured as the profile
    ``data`` measured its networks: as a ratio to its yardstick, in the profile's ms, beside
    this host's plain median of the same calls (``here_ms``)."""
    d, lat = c.deployment, c.latency
    shape = (d.batch, d.channels, d.resolution, d.resolution)
    unit = ArchSpec.from_dict(data["yardstick"]["spec"])
    run, yardstick = (shipped_form(build_model(s), shape) for s in (spec, unit))
    p = _paired(run, yardstick, c, lat.warmup, lat.runs, shape)
    return {"ms": p.ratio * data["yardstick"]["ms"], "here_ms": p.candidate_ms}


def _paired(
    run: Callable[[], object] | torch.nn.Module,
    yardstick: Callable[[], object] | torch.nn.Module,
    c: Constraints,
    warmup: int,
    n: int,
    shape: tuple[int, ...] = (),
) -> Paired:
    """``n`` calls of ``run`` interleaved with ``n`` of the yardstick (A B, B A, ...) with the
    constraints' backend and threads: ratio = the median of the per-pair ratios. Modules
    are run on a random input of ``shape``."""
    lat = c.latency
    return measure_paired(run, yardstick, shape, lat.backend, lat.threads, warmup, 0.0, None, n, n)


def yardstick_of(specs: list[ArchSpec], resolution: int) -> ArchSpec:
    """The profile's unit: the calibration network of median MACs (a network the space
    produces, of the size the profile times, fixed by the profile's seed)."""
    from gensynth.cost import cost

    macs = sorted((cost(s, resolution).macs, i) for i, s in enumerate(specs))
    return specs[macs[len(macs) // 2][1]]


def run_profile(
    c: Constraints,
    space: DesignSpace,
    out: Path,
    calibration: int = 160,
    held_out: int = 60,
    seed: int = 0,
    references: tuple[str, ...] = tuple(BUILTIN),
    on_step: Callable[[int, int, str], None] | None = None,
    block_networks: int = 480,
    rounds: int = 5,
) -> dict[str, Any]:
    """Time blocks, networks (``rounds`` rounds each, in a new random order every round: the
    median of the round ratios) and references, every one as a ratio to the yardstick run
    interleaved with it; fit; state the held-out error. ``out`` is rewritten as it goes, so
    an interrupted profile resumes.

    Why ratios: on a shared machine the host's speed drifts, in episodes. Measured here
    (`benchmarks/drift.py`: 30 networks, three rounds a minute apart): in a noisy hour a
    network's median of 10 calls moved 16-39 % between rounds, its ratio to an interleaved
    yardstick 2-4 %; in a quiet hour 1.5-6 % and 1.4-3 %. A time in the file is its ratio
    times the yardstick's median ms over the profile (`to_ms`)."""
    here = provenance(c, space)
    data = _resume(out, here) or {
        "format": FORMAT,
        "provenance": here,
        "plan": {
            "calibration": calibration,
            "held_out": held_out,
            "block_networks": block_networks,
            "rounds": rounds,
            "seed": seed,
        },
        "features": list(FEATURES),
        "yardstick": {},
        "networks": {},
        "blocks": {},
        "references": {},
    }
    if "finished" in data["provenance"]:  # measured already: refitted with this gensynth
        return _finish(data, out, "refitted")
    plan = data["plan"]
    n_cal, n_held, n_blocks = plan["calibration"], plan["held_out"], plan["block_networks"]
    specs = sample_specs(c, space, n_cal + n_held + n_blocks, plan["seed"])
    order = random.Random(plan["seed"] + 1).sample(range(len(specs)), len(specs))
    roles = {}
    for rank, i in enumerate(order):
        roles[specs[i].hash] = (
            "held_out" if rank < n_held else "calibration" if rank < n_held + n_cal else "blocks"
        )
    d, lat = c.deployment, c.latency
    shape = (d.batch, d.channels, d.resolution, d.resolution)
    x = torch.randn(*shape)
    torch.set_num_threads(lat.threads)
    unit = yardstick_of([s for s in specs if roles[s.hash] == "calibration"], d.resolution)
    data["yardstick"].update(hash=unit.hash, spec=unit.to_dict())
    yardstick = runner(shipped_form(build_model(unit), shape), x, lat.backend, lat.threads)
    # 1. blocks of the calibration and block-only networks (never of the held-out ones)
    wanted: dict[str, tuple[Any, Any]] = {}
    for spec in specs:
        if roles[spec.hash] != "held_out":
            for block, at in network_blocks(network_plan(spec), d.resolution):
                wanted.setdefault(f"{repr(block)}@{at.c}x{at.h}x{at.w}", (block, at))
    networks = [s for s in specs if roles[s.hash] != "blocks"]
    todo = len(wanted) + len(networks) * plan["rounds"] + len(references) * plan["rounds"]
    done = len(data["blocks"])
    for i, (key, (block, at)) in enumerate(wanted.items()):
        if key in data["blocks"]:
            continue
        if on_step and i % 10 == 0:
            on_step(done, todo, f"block {i + 1}/{len(wanted)}")
        size = (d.batch, at.c, at.h, at.w)
        module = shipped_form(make_block(block), size)
        run = runner(module, torch.randn(*size), lat.backend, lat.threads)
        p = _paired(run, yardstick, c, 2, BLOCK_RUNS)
        label = f"{block.label or block.kind} at {at.c}x{at.h}x{at.w}"
        f = block_features(block, at)[0]
        data["blocks"][key] = {
            "label": label,
            "features": [f[n] for n in FEATURES],
            "ratio": p.ratio,
            "yardstick_ms": p.reference_ms,
        }
        done += 1
        if done % 25 == 0:
            _write(out, data)
    _write(out, data)
    # 2. whole networks and references, in rounds: each round in its own random order
    runners: dict[str, Callable[[], object]] = {}
    for r in range(plan["rounds"]):
        jobs = [("network", s.hash, s) for s in networks] + [
            ("reference", n, n) for n in references
        ]
        random.Random(plan["seed"] + 10 + r).shuffle(jobs)
        for kind, key, what in jobs:
            store = data["networks"] if kind == "network" else data["references"]
            entry = store.setdefault(key, {"rounds": [], "yardstick_ms": []})
            if len(entry["rounds"]) > r:
                continue
            if on_step:
                on_step(done, todo, f"round {r + 1}/{plan['rounds']}: {kind} {key}")
            if key not in runners:
                model = (
                    shipped_form(build_model(what), shape)
                    if kind == "network"
                    else load_reference(what, c).model
                )
                runners[key] = runner(model, x, lat.backend, lat.threads)
            p = _paired(runners[key], yardstick, c, lat.warmup, lat.runs)
            entry["rounds"].append(p.ratio)
            entry["yardstick_ms"].append(p.reference_ms)
            if kind == "network":
                entry.update(role=roles[key], spec=what.to_dict())
            done += 1
            _write(out, data)
    return _finish(data, out, "finished")


def _finish(data: dict[str, Any], out: Path, stamp: str) -> dict[str, Any]:
    """Times in ms; fit on the blocks and the calibration networks; the held-out error;
    the time of it as provenance ``stamp`` (finished | refitted); written."""
    evaluate(data, out)
    data["provenance"][stamp] = time.strftime("%Y-%m-%d %H:%M:%S")
    _write(out, data)
    return data


def to_ms(data: dict[str, Any]) -> None:
    """Every ratio as ms: times the yardstick's median ms while networks and references
    were timed (``ms``), or while blocks were (``block_ms``: the blocks' phase comes first,
    the host may have drifted since; the correction takes up the factor between the two).
    A network's ``spread_pct`` is how far its round ratios lie apart (max - min, % of the
    median): the measurement's own noise."""
    timed = (*data["networks"].values(), *data["references"].values())
    unit = statistics.median(t for e in timed for t in e["yardstick_ms"])
    blocks = data["blocks"].values()
    block_unit = statistics.median(b["yardstick_ms"] for b in blocks) if blocks else 0.0
    data["yardstick"].update(ms=unit, block_ms=block_unit)
    for b in blocks:
        b["ms"] = b["ratio"] * block_unit
    for e in timed:
        e["ratio"] = statistics.median(e["rounds"])
        e["ms"] = e["ratio"] * unit
        e["spread_pct"] = (max(e["rounds"]) - min(e["rounds"])) / e["ratio"] * 100


def evaluate(data: dict[str, Any], out: Path) -> None:
    """Fit the predictor from the profile's data and store, per network, its prediction,
    and the errors on the held-out (``error``) and calibration (``fit_error``) networks."""
    to_ms(data)
    predictor = predictor_from(data, str(out))
    for entry in data["networks"].values():
        entry["predicted_ms"] = predictor.predict(ArchSpec.from_dict(entry["spec"]))
    for role, key in (("held_out", "error"), ("calibration", "fit_error")):
        mine = [n for n in data["networks"].values() if n["role"] == role]
        data[key] = errors([n["predicted_ms"] for n in mine], [n["ms"] for n in mine])
    spreads = [n["spread_pct"] for n in data["networks"].values()]
    data["error"]["spread_pct"] = statistics.median(spreads) if spreads else 0.0
    data["correction"] = list(predictor.correction)
    data["correction_terms"] = {  # what the weights multiply, and how they were chosen
        "weights": ["block_sum", "blocks", "mvalues_out", "constant"]
        + [f"block_sum_at_{r}" for r in predictor.resolutions],
        "shrink": None if math.isinf(predictor.shrink) else predictor.shrink,
        "cv_mape_pct": None if math.isnan(predictor.cv_mape) else predictor.cv_mape,
    }


def _resume(out: Path, here: dict[str, Any]) -> dict[str, Any] | None:
    """An unfinished (or finished) profile of the same device set-up and space, to go on."""
    if not out.exists():
        return None
    try:
        data = json.loads(out.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{out}: exists and is not a readable profile ({exc})") from None
    if not isinstance(data, dict) or not str(data.get("format", "")).startswith("gensynth-"):
        raise ConfigError(f"{out}: exists and is not a gensynth profile; choose another --out")
    if data["format"] != FORMAT:
        raise ConfigError(
            f"{out}: a profile of an older format ({data['format']!r}; this gensynth writes "
            f"{FORMAT!r}); it cannot be resumed: choose another --out or delete it"
        )
    old = data.get("provenance", {})
    changed = [k for k in RESUMED if old.get(k) != here.get(k)]
    if changed:
        shown = ", ".join(f"{k}: {old.get(k)!r} -> {here.get(k)!r}" for k in changed)
        raise ConfigError(
            f"{out}: a profile of another set-up ({shown}); it cannot be resumed: "
            f"choose another --out"
        )
    return data


def _write(out: Path, data: dict[str, Any]) -> None:
    """Atomically: a kill mid-write leaves the previous complete file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")
    os.replace(tmp, out)
