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
import os
import platform
import random
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from gensynth.baselines import load_reference
from gensynth.build import build_model, calibrate_norms, deployment_form
from gensynth.constraints import Constraints
from gensynth.errors import ConfigError
from gensynth.latency import measure_latency
from gensynth.predictor import FEATURES, FORMAT, errors, features, fit, predict_row
from gensynth.references import BUILTIN
from gensynth.space import DesignSpace
from gensynth.spec import ArchSpec
from gensynth.survey import RandomSuggester, reference_facts, spec_only

DRAWS_PER_SPEC = 200  # give up when the profile accepts fewer than 1 in 200 samples


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
    d = c.deployment
    return {
        "host": socket.gethostname(),
        "cpu": cpu_name(),
        "cpus": os.cpu_count(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "backend": backend,
        "backend_version": backend_version,
        "threads": c.latency.threads,
        "batch": d.batch,
        "input": [d.channels, d.resolution, d.resolution],
        "warmup": c.latency.warmup,
        "runs": c.latency.runs,
        "gensynth": version("gensynth"),
        "space": space.name,
        "space_hash": space.hash,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


MATCHED = ("backend", "threads", "batch", "input", "space_hash")  # what a resume must share


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


def time_spec(spec: ArchSpec, c: Constraints) -> dict[str, float]:
    """Latency of the deployment form, exactly as the inquisitor times a candidate."""
    d, lat = c.deployment, c.latency
    shape = (d.batch, d.channels, d.resolution, d.resolution)
    model = deployment_form(calibrate_norms(build_model(spec), (2, *shape[1:])))
    t = measure_latency(model, shape, lat.backend, lat.threads, lat.warmup, lat.runs)
    return {"ms": t.median_ms, "iqr_ms": t.q3_ms - t.q1_ms}


def run_profile(
    c: Constraints,
    space: DesignSpace,
    out: Path,
    calibration: int = 120,
    held_out: int = 60,
    seed: int = 0,
    references: tuple[str, ...] = tuple(BUILTIN),
    on_step: Callable[[int, int, str], None] | None = None,
) -> dict[str, Any]:
    """Measure, fit, evaluate; write ``out`` after every measurement and return its data."""
    here = provenance(c, space)
    data = _resume(out, here) or {
        "format": FORMAT,
        "provenance": here,
        "plan": {"calibration": calibration, "held_out": held_out, "seed": seed},
        "networks": {},
        "references": {},
    }
    plan = data["plan"]
    specs = sample_specs(c, space, plan["calibration"] + plan["held_out"], plan["seed"])
    # held-out networks are a random share, measured in the same (random) order as the
    # calibration ones, so drift of the host touches both alike
    held = set(random.Random(plan["seed"] + 1).sample(range(len(specs)), plan["held_out"]))
    roles = {s.hash: "held_out" if i in held else "calibration" for i, s in enumerate(specs)}
    todo = len(specs) + len(references)
    done = len(data["networks"]) + len(data["references"])
    for spec in specs:
        if spec.hash in data["networks"]:
            continue
        if on_step:
            on_step(done, todo, f"network {spec.hash} ({roles[spec.hash]})")
        data["networks"][spec.hash] = {
            "role": roles[spec.hash],
            "spec": spec.to_dict(),
            **time_spec(spec, c),
        }
        done += 1
        _write(out, data)
    for name in references:
        if name in data["references"]:
            continue
        if on_step:
            on_step(done, todo, f"reference {name}")
        ref = load_reference(name, c)
        d, lat = c.deployment, c.latency
        shape = (d.batch, d.channels, d.resolution, d.resolution)
        t = measure_latency(ref.model, shape, lat.backend, lat.threads, lat.warmup, lat.runs)
        data["references"][name] = {"ms": t.median_ms, "iqr_ms": t.q3_ms - t.q1_ms}
        done += 1
        _write(out, data)
    resolution = c.deployment.resolution
    rows = {
        h: features(ArchSpec.from_dict(n["spec"]), resolution) for h, n in data["networks"].items()
    }
    cal = [h for h, n in data["networks"].items() if n["role"] == "calibration"]
    held = [h for h, n in data["networks"].items() if n["role"] == "held_out"]
    coef = fit([rows[h] for h in cal], [data["networks"][h]["ms"] for h in cal])
    data["model"] = {"kind": "nnls-linear", "features": list(FEATURES), "coef": coef}
    for h, row in rows.items():
        data["networks"][h]["predicted_ms"] = predict_row(coef, row)
    data["error"] = errors(
        [data["networks"][h]["predicted_ms"] for h in held],
        [data["networks"][h]["ms"] for h in held],
    )
    data["fit_error"] = errors(
        [data["networks"][h]["predicted_ms"] for h in cal],
        [data["networks"][h]["ms"] for h in cal],
    )
    data["provenance"]["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    _write(out, data)
    return data


def _resume(out: Path, here: dict[str, Any]) -> dict[str, Any] | None:
    """An unfinished (or finished) profile of the same device set-up and space, to go on."""
    if not out.exists():
        return None
    try:
        data = json.loads(out.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{out}: exists and is not a readable profile ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigError(f"{out}: exists and is not a gensynth profile; choose another --out")
    old = data.get("provenance", {})
    changed = [k for k in MATCHED if old.get(k) != here.get(k)]
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
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, out)
