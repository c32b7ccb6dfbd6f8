"""The `gensynth` command line: one click group, verb commands."""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Any

import click

from gensynth.errors import GensynthError


class _Group(click.Group):
    """Maps GensynthError to a one-line message and exit status 1 (tracebacks with --verbose)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GensynthError as exc:
            if ctx.params.get("verbose"):
                traceback.print_exc()
            click.echo(f"error: {exc}", err=True)
            ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--verbose", is_flag=True, help="Show full tracebacks on errors.")
@click.version_option(package_name="gensynth")
def main(verbose: bool) -> None:
    """gensynth: generative synthesis of columnar DC-AC vision backbones."""


def format_option(f: Any) -> Any:
    return click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
                        show_default=True, help="table for people, json for machines.")(f)


def spec_argument(f: Any) -> Any:
    return click.argument("spec_file", type=click.Path(exists=True, dir_okay=False,
                                                        path_type=Path))(f)


@main.command()
@spec_argument
@click.option("--resolution", type=click.IntRange(8, 4096), default=224, show_default=True,
              help="Square input size (pixels) at which to count.")
@click.option("--classes", type=click.IntRange(1), default=None,
              help="Override the spec's number of classes.")
@format_option
def show(spec_file: Path, resolution: int, classes: int | None, fmt: str) -> None:
    """Per-stage table of a spec: resolution, channels, columns, blocks, params, MACs."""
    from gensynth.cost import cost
    from gensynth.spec import load_spec

    spec = load_spec(spec_file)
    if classes:
        spec = spec.replace(num_classes=classes)
    c = cost(spec, resolution)
    rows = [{"section": s.name, "input": _shape(s.shape_in), "output": _shape(s.shape_out),
             "columns": s.columns, "blocks": s.depth, "params": s.params, "macs": s.macs}
            for s in c.sections]
    totals = {"params": c.params, "params_m": round(c.params_m, 4), "macs": c.macs,
              "macs_g": round(c.macs_g, 4), "peak_activation_mb": round(c.peak_activation_mb, 3)}
    if fmt == "json":
        _echo_json({"name": spec.name, "hash": spec.hash, "resolution": resolution,
                    "num_classes": spec.num_classes, "sections": rows, "totals": totals})
        return
    click.echo(f"{spec.name}  (hash {spec.hash}, input {spec.in_channels}x{resolution}x"
               f"{resolution}, {spec.num_classes} classes)")
    for row in rows:
        row["params"] = f"{row['params'] / 1e6:.4f} M"
        row["macs"] = f"{row['macs'] / 1e6:.2f} M"
    click.echo(table(rows))
    click.echo(f"total: {c.params_m:.4f} M params, {c.macs_g:.4f} G MACs "
               f"(1 multiply-add = 1; conv + linear), peak activation "
               f"{c.peak_activation_mb:.3f} MB (float32, batch 1)")


def constraints_option(f: Any) -> Any:
    return click.option("--constraints", "constraints_file", required=True,
                        type=click.Path(exists=True, dir_okay=False, path_type=Path),
                        help="Constraints file (a deployment profile).")(f)


def data_option(f: Any) -> Any:
    return click.option("--data", default=None, metavar="DATASET[:PATH]",
                        help="Override the proxy dataset: digits, folder:DIR, npz:FILE, "
                             "cifar10:DIR, cifar100:DIR.")(f)


def load_profile(constraints_file: Path, data: str | None):
    """Load a constraints file and apply a --data override (validated like the file)."""
    import dataclasses

    from gensynth.constraints import DATASETS, load_constraints
    from gensynth.errors import ConfigError, did_you_mean

    c = load_constraints(constraints_file)
    if data:
        name, _, path = data.partition(":")
        if name not in DATASETS:
            raise ConfigError(f"--data: unknown dataset {name!r}; expected one of: "
                              f"{', '.join(DATASETS)}{did_you_mean(name, DATASETS)}")
        if name != "digits" and not path:
            raise ConfigError(f"--data: dataset {name!r} needs a path, e.g. {name}:/data/x")
        proxy = dataclasses.replace(c.proxy, dataset=name, path=path or None)
        c = dataclasses.replace(c, proxy=proxy)
    return c


@main.command()
@spec_argument
@constraints_option
@data_option
@click.option("--no-train", is_flag=True,
              help="Skip proxy training (the accuracy rules are then not evaluated).")
@click.option("--keep-going", is_flag=True,
              help="Run every stage even after a rule is violated (to see all costs).")
@format_option
def check(spec_file: Path, constraints_file: Path, data: str | None, no_train: bool,
          keep_going: bool, fmt: str) -> None:
    """Assess one architecture: which rules hold, by how much others fail, costs, latency.

    Exit status 0 when every evaluated rule holds, 1 when not (or on bad input).
    """
    from gensynth.data import load_dataset
    from gensynth.inquisitor import METRIC_UNITS, Inquisitor
    from gensynth.rules import RULES, describe, enabled
    from gensynth.spec import load_spec

    c = load_profile(constraints_file, data)
    spec = load_spec(spec_file)
    dataset = None
    if not no_train:
        click.echo(f"training on the proxy task ({c.proxy.dataset}, {c.proxy.epochs} epochs)...",
                   err=True)
        dataset = load_dataset(c.proxy, c.deployment.channels)
    a = Inquisitor(c, dataset).assess(spec, keep_going=keep_going)
    if fmt == "json":
        _echo_json({"constraints": str(constraints_file), **a.to_dict()})
    else:
        click.echo(f"{spec.name} (hash {spec.hash}) against {constraints_file} ({c.name})")
        rows = [{"rule": r, "verdict": _verdict(a.violations.get(r)),
                 "violation": "" if r not in a.violations else f"{a.violations[r]:+.3f}",
                 "rule holds when": describe(r, c.rules, c.budgets)}
                for r in RULES if enabled(r, c.rules, c.budgets)]
        click.echo(table(rows))
        click.echo("")
        click.echo(table([{"metric": k, "value": f"{v:.4g}", "unit": METRIC_UNITS.get(k, "")}
                          for k, v in a.metrics.items()]))
        lat = c.latency
        click.echo(f"\nlatency: {lat.backend}, {lat.threads} thread(s), batch "
                   f"{c.deployment.batch}, {c.deployment.resolution}x{c.deployment.resolution}, "
                   f"median of {lat.runs} runs after {lat.warmup} warm-up")
        verdict = a.status.upper() + (f" - {a.reason}" if a.reason else "")
        if a.skipped:
            verdict += f" (not evaluated: {', '.join(a.skipped)})"
        click.echo(f"verdict: {verdict}")
    if not a.feasible:
        sys.exit(1)


def _verdict(v: float | None) -> str:
    return "not evaluated" if v is None else ("holds" if v <= 0 else "VIOLATED")


def table(rows: list[dict[str, Any]]) -> str:
    """Plain left-aligned text table."""
    if not rows:
        return "(none)"
    heads = list(rows[0])
    cells = [[str(r.get(h, "")) for h in heads] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(heads)]

    def line(values: list[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    return "\n".join([line(heads), line(["-" * w for w in widths]), *map(line, cells)])


def _shape(s: Any) -> str:
    return f"{s.c}x{s.h}x{s.w}"


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
