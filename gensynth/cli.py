"""The `gensynth` command line: one click group, verb commands."""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

import click

from gensynth.errors import GensynthError
from gensynth.study import DEFAULT_TRIALS


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
    """gensynth: generative synthesis of columnar DC-AC vision backbones.

    \b
    Start:   gensynth init my_profile   (a commented constraints file and space)
    Look:    gensynth space --constraints my_profile/constraints.yaml
    Search:  gensynth explore --constraints constraints/edge.yaml
    Export:  gensynth export --study edge --trial best --format onnx
    Shell completion (bash; zsh and fish likewise):
      eval "$(_GENSYNTH_COMPLETE=bash_source gensynth)"
    """
    import warnings

    from gensynth.errors import GensynthWarning

    def show(message, category, *args, **kwargs):  # one line on stderr, no source context
        click.echo(f"warning: {message}", err=True)

    if not verbose:
        warnings.showwarning = show
    warnings.simplefilter("always", GensynthWarning)


def format_option(f: Any) -> Any:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["table", "json"]),
        default="table",
        show_default=True,
        help="table for people, json for machines.",
    )(f)


def spec_argument(f: Any) -> Any:
    return click.argument(
        "spec_file", type=click.Path(exists=True, dir_okay=False, path_type=Path)
    )(f)


def resolution_option(f: Any) -> Any:
    return click.option(
        "--resolution",
        type=click.IntRange(8, 4096),
        default=224,
        show_default=True,
        help="Square input size (pixels) at which to count.",
    )(f)


@main.command()
@spec_argument
@resolution_option
@click.option(
    "--classes", type=click.IntRange(1), default=None, help="Override the spec's number of classes."
)
@format_option
def show(spec_file: Path, resolution: int, classes: int | None, fmt: str) -> None:
    """Per-stage table of a spec: resolution, channels, columns, blocks, params, MACs.

    \b
    Examples:
      gensynth show generators/attendnext_seed.yaml
      gensynth show generators/attendnext_seed.yaml --resolution 32 --format json
    """
    from gensynth.cost import cost
    from gensynth.spec import load_spec

    spec = load_spec(spec_file)
    if classes:
        spec = spec.replace(num_classes=classes)
    c = cost(spec, resolution)
    rows = [
        {
            "section": s.name,
            "input": _shape(s.shape_in),
            "output": _shape(s.shape_out),
            "columns": s.columns,
            "blocks": s.depth,
            "params": s.params,
            "macs": s.macs,
        }
        for s in c.sections
    ]
    totals = {
        "params": c.params,
        "params_m": round(c.params_m, 4),
        "macs": c.macs,
        "macs_g": round(c.macs_g, 4),
        "peak_activation_mb": round(c.peak_activation_mb, 3),
    }
    if fmt == "json":
        _echo_json(
            {
                "name": spec.name,
                "hash": spec.hash,
                "resolution": resolution,
                "num_classes": spec.num_classes,
                "sections": rows,
                "totals": totals,
            }
        )
        return
    click.echo(
        f"{spec.name}  (hash {spec.hash}, input {spec.in_channels}x{resolution}x"
        f"{resolution}, {spec.num_classes} classes)"
    )
    for row in rows:
        row["params"] = f"{row['params'] / 1e6:.4f} M"
        row["macs"] = f"{row['macs'] / 1e6:.2f} M"
    click.echo(table(rows))
    click.echo(
        f"total: {c.params_m:.4f} M params, {c.macs_g:.4f} G MACs "
        f"(1 multiply-add = 1; conv + linear), peak activation "
        f"{c.peak_activation_mb:.3f} MB (float32, batch 1)"
    )


def constraints_option(f: Any) -> Any:
    return click.option(
        "--constraints",
        "constraints_file",
        required=True,
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="Constraints file (a deployment profile).",
    )(f)


SHIPPED_SPACE = "generators/attendnext.yaml"


def _default_space() -> str:
    """generators/attendnext.yaml here, else the checkout's: explore works from any folder."""
    if Path(SHIPPED_SPACE).is_file():
        return SHIPPED_SPACE
    from gensynth.init import ROOT

    return str(ROOT / SHIPPED_SPACE)


def generator_option(f: Any) -> Any:
    return click.option(
        "--generator",
        "generator_file",
        default=_default_space,
        show_default=f"{SHIPPED_SPACE}, the shipped space",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="Design space (the generator samples from it).",
    )(f)


def data_option(f: Any) -> Any:
    return click.option(
        "--data",
        default=None,
        metavar="DATASET[:PATH]",
        help="Override the proxy dataset: digits, folder:DIR, npz:FILE, cifar10:DIR, cifar100:DIR.",
    )(f)


def load_profile(constraints_file: Path, data: str | None) -> Any:
    from gensynth.constraints import load_constraints, with_dataset

    return with_dataset(load_constraints(constraints_file), data)


@main.command()
@spec_argument
@constraints_option
@data_option
@click.option(
    "--no-train",
    is_flag=True,
    help="Skip proxy training (the accuracy rules are then not evaluated).",
)
@click.option(
    "--keep-going",
    is_flag=True,
    help="Run every stage even after a rule is violated (to see all costs).",
)
@format_option
def check(
    spec_file: Path,
    constraints_file: Path,
    data: str | None,
    no_train: bool,
    keep_going: bool,
    fmt: str,
) -> None:
    """Assess one architecture: which rules hold, by how much others fail, costs, latency.

    Exit status 0 when every evaluated rule holds, 1 when not (or on bad input).

    \b
    Examples:
      gensynth check generators/attendnext_seed.yaml --constraints constraints/edge.yaml
      gensynth check my_spec.yaml --constraints constraints/mcu.yaml --no-train --format json
    """
    from gensynth.data import load_dataset
    from gensynth.inquisitor import Inquisitor
    from gensynth.rules import enabled_rules
    from gensynth.spec import load_spec
    from gensynth.units import unit

    c = load_profile(constraints_file, data)
    spec = load_spec(spec_file)
    dataset = None
    if not no_train:
        click.echo(
            f"training on the proxy task ({c.proxy.dataset}, {c.proxy.epochs} epochs"
            + (f", {c.proxy.seeds} seeds" if c.proxy.seeds > 1 else "")
            + ")...",
            err=True,
        )
        dataset = load_dataset(c.proxy, c.deployment.channels)
    inquisitor = Inquisitor(c, dataset)
    if c.references():
        click.echo(
            f"measuring the reference networks ({', '.join(c.references())})"
            + (", training the floor's on the proxy task..." if dataset else "..."),
            err=True,
        )
        inquisitor.measure_references()
    a = inquisitor.assess(spec, keep_going=keep_going)
    if fmt == "json":
        _echo_json({"constraints": str(constraints_file), **a.to_dict()})
    else:
        click.echo(f"{spec.name} (hash {spec.hash}) against {constraints_file} ({c.name})")
        rows = [
            {
                "rule": r.name,
                "verdict": _verdict(a.violations.get(r.name)),
                "violation": "" if r.name not in a.violations else f"{a.violations[r.name]:+.3f}",
                "rule holds when": r.describe(c),
            }
            for r in enabled_rules(c)
        ]
        click.echo(table(rows))
        click.echo("")
        click.echo(
            table(
                [{"metric": k, "value": f"{v:.4g}", "unit": unit(k)} for k, v in a.metrics.items()]
            )
        )
        lat = c.latency
        click.echo(
            f"\nlatency: {lat.backend}, {lat.threads} thread(s), batch "
            f"{c.deployment.batch}, {c.deployment.resolution}x{c.deployment.resolution}, "
            f"median of {lat.runs} runs after {lat.warmup} warm-up"
        )
        verdict = a.status.upper() + (f" - {a.reason}" if a.reason else "")
        if a.skipped:
            verdict += f" (not evaluated: {', '.join(a.skipped)})"
        click.echo(f"verdict: {verdict}")
    if not a.feasible:
        sys.exit(1)


def _verdict(v: float | None) -> str:
    return "not evaluated" if v is None else ("holds" if v <= 0 else "VIOLATED")


@main.command()
@constraints_option
@generator_option
@click.option(
    "--trials",
    type=click.IntRange(1),
    default=DEFAULT_TRIALS,
    show_default=True,
    help="Assessed trials the study should hold at the end (candidates screened out by "
    "spec-only rules and budgets do not count; a resume continues).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=None,
    help="Stop starting new trials after this many seconds.",
)
@click.option(
    "--sampler",
    type=click.Choice(["tpe", "nsga2", "random"]),
    default=None,
    help="tpe (default; nsga2 for a pareto utility) or random (baseline).",
)
@click.option(
    "--storage",
    default=None,
    help="Optuna storage URL (sqlite:///x.db, postgresql://...) or journal file; "
    "default: studies/<study>.journal",
)
@click.option(
    "--study", "study_name", default=None, help="Study name; default: the constraints file's name."
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Local worker processes on the same study.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Sampler seed.")
@data_option
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("reports"),
    show_default=True,
    help="Folder for the HTML report (written to <report-dir>/<study>/index.html).",
)
@click.option("--no-report", is_flag=True, help="Do not write the HTML report at the end.")
@click.option(
    "--no-confirm",
    is_flag=True,
    help="Skip retraining the top candidates at higher fidelity (2 seeds, 2x epochs).",
)
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="Where proxy training runs (auto: CUDA when available); latency is always "
    "measured on the deployment backend.",
)
@click.option(
    "--no-compare",
    is_flag=True,
    help="Skip timing the top candidates against the reference networks at the end.",
)
@format_option
def explore(
    constraints_file: Path,
    generator_file: Path,
    trials: int,
    timeout: float | None,
    sampler: str | None,
    storage: str | None,
    study_name: str | None,
    workers: int,
    seed: int,
    data: str | None,
    report_dir: Path,
    no_report: bool,
    no_confirm: bool,
    device: str,
    no_compare: bool,
    fmt: str,
) -> None:
    """Search the design space for the best feasible architecture; resumable.

    Progress goes to stderr; the outcome to stdout (--format json: one JSON object).

    \b
    Examples:
      gensynth explore --constraints constraints/edge.yaml
      gensynth explore --constraints constraints/edge.yaml --trials 120 --workers 2
      gensynth explore --constraints my.yaml --data idx:/usr/share/datasets/fashion-mnist
      gensynth explore --constraints constraints/edge.yaml --storage postgresql://u@host/db
    """
    import optuna

    from gensynth.explore import explore as run_search
    from gensynth.space import load_space
    from gensynth.study import ExploreConfig, load_study

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the CLI reports progress itself
    import logging

    for handler in logging.getLogger("optuna").handlers:  # filters act on handlers
        handler.addFilter(_NoInterruptTraceback())
    c = load_profile(constraints_file, data)
    cfg = ExploreConfig(
        c,
        load_space(generator_file),
        study_name,
        storage,
        sampler,
        trials,
        timeout,
        workers,
        seed,
        compare=not no_compare,
        confirm=not no_confirm,
        device=device,
    )
    name = cfg.study
    bar = _ProgressBar(trials)
    click.echo(
        f"study {name!r} in {cfg.storage}: {trials} trials, sampler {cfg.sampler}, "
        f"{workers} worker(s); proxy task {c.proxy.dataset} at {c.proxy.resolution}px",
        err=True,
    )
    interrupted = False
    try:
        study = run_search(cfg, on_progress=bar, on_activity=bar.activity)
    except KeyboardInterrupt:
        interrupted = True
        study = load_study(name, cfg.storage)
    bar.close()
    if interrupted:
        click.echo(
            "interrupted: finished trials are stored; run the same command to resume", err=True
        )
    report_path = None
    if not no_report:
        from gensynth.report import write_report

        report_path = write_report(study, report_dir / study.study_name)
    o = outcome(study, cfg, report_path, interrupted)
    if fmt == "json":
        _echo_json(o)
    else:
        _summary(o, c.latency.backend, cfg.timeout)
    if interrupted:
        sys.exit(130)


class _NoInterruptTraceback:
    """Ctrl-C is the user's choice, not an error: drop Optuna's 'trial failed' traceback."""

    def filter(self, record: Any) -> bool:
        return (
            not (record.exc_info and record.exc_info[0] is KeyboardInterrupt)
            and "KeyboardInterrupt" not in record.getMessage()
        )


class _ProgressBar:
    """Live progress on stderr (tqdm): assessed trials of the target, screened candidates,
    feasible share, best NetScore, ETA, and what the current trial is doing (its stage, or
    its training epoch and top-1). With --workers N the current trial runs in a worker
    process, so only finished trials move the bar. One plain line per finished trial when
    stderr is not a terminal (logs)."""

    PHASES = {
        "references": "measuring and training the reference networks (once per study)...",
        "comparison": "timing the top candidates against the references...",
        "confirmation": "confirming the top candidates (2 seeds, 2x the epochs)...",
    }

    def __init__(self, target: int) -> None:
        self.tty, self.target, self.bar, self.last = sys.stderr.isatty(), target, None, None
        self.status, self.doing = "", ""

    def __call__(self, p: Any) -> None:
        if p.phase != "search":
            self.close()
            click.echo(self.PHASES[p.phase], err=True)
            return
        key = (p.done, p.feasible, p.best, p.screened)
        if key == self.last:
            return
        self.last = key
        share = f"{100 * p.feasible / p.done:.0f}%" if p.done else "-"
        best = f"{p.best:.2f}" if p.best is not None else "-"
        eta = f"{p.eta:.0f}s" if p.eta is not None else "-"
        self.status = (
            f"+{p.screened} screened, feasible {p.feasible} ({share}), best {best}, ETA {eta}"
        )
        if not self.tty:
            click.echo(f"{p.done}/{p.target} trials, {self.status}, {p.elapsed:.0f}s", err=True)
            return
        self._open().n = min(p.done, p.target)
        self._show()

    def activity(self, text: str) -> None:
        if self.tty:
            self.doing = text
            self._open()
            self._show()

    def _open(self) -> Any:
        if self.bar is None:
            import shutil

            from tqdm import tqdm

            try:  # some pseudo-terminals report 0 columns: then the usual 80
                sized = os.get_terminal_size(sys.stderr.fileno()).columns > 0
            except OSError:
                sized = False
            self.bar = tqdm(
                total=self.target,
                file=sys.stderr,
                unit="trial",
                dynamic_ncols=sized,
                ncols=None if sized else shutil.get_terminal_size().columns,
                nrows=None if sized else shutil.get_terminal_size().lines,
                bar_format="{n_fmt}/{total_fmt} trials |{bar:16}| {elapsed} {postfix}",
            )
        return self.bar

    def _show(self) -> None:
        self.bar.set_postfix_str(" | ".join(x for x in (self.status, self.doing) if x))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def summary_counts(study: Any) -> dict[str, int]:
    """Trials per status, as the summary line prints them (statuses with none left out)."""
    from gensynth.record import STATUSES, counts, read_all

    found = counts(read_all(study))
    return {s: found[s] for s in STATUSES if found[s]}


def outcome(study: Any, cfg: Any, report_path: Path | None, interrupted: bool = False) -> dict:
    """What an explore run ended with, as data (the text summary and --format json)."""
    from gensynth.record import read_all, runs_of
    from gensynth.study import best_record

    best = best_record(study)
    records = read_all(study)
    runs = runs_of(records)
    out: dict[str, Any] = {
        "study": study.study_name,
        "storage": cfg.storage,
        "trials": summary_counts(study),
        "assessed": sum(r.counted for r in records),
        "screened": sum(r.screened for r in records),
        "copies": sum(r.duplicate_of is not None for r in records),
        "target": cfg.trials,
        "interrupted": interrupted,
        "last_run": {k: v for k, v in runs[-1].items() if k not in ("start", "end")}
        if runs
        else None,
        "best": None,
        "confirmed": None,
        "report": str(report_path) if report_path else None,
    }
    if best is not None:
        out["best"] = {"trial": best.number, **best.metrics}
        out["export"] = f"gensynth export --study {study.study_name} --trial best --format onnx"
    conf = study.user_attrs.get("confirmation")
    if best is not None and conf:
        win = next(r for r in conf["rows"] if r["number"] == conf["winner"])
        out["confirmed"] = {
            "trial": win["number"],
            "mean": win["mean"],
            "sd": win["sd"],
            "seeds": len(conf["seeds"]),
            "epochs": conf["epochs"],
            "search_accuracy": win["search_accuracy"],
        }
    return out


def _summary(o: dict, latency_backend: str, timeout: float | None) -> None:
    """The outcome for people."""
    found = o["trials"]
    click.echo(
        f"study {o['study']}: {sum(found.values())} trials ("
        + ", ".join(f"{v} {k}" for k, v in sorted(found.items()))
        + f"); {o['assessed']} assessed, {o['screened']} screened out by spec-only rules "
        f"and budgets, {o['copies']} copies of earlier trials (not trained again)"
    )
    run = o["last_run"]
    if o["assessed"] < o["target"] and timeout is None and not o["interrupted"] and run:
        click.echo(
            f"stopped before {o['target']} assessed trials: the last run drew "
            f"{run['drawn']} candidates and the profile's spec-only rules "
            f"and budgets rejected {run['screened']} of them; loosen them, "
            f"or widen the design space"
        )
    m = o["best"]
    if m is None:
        click.echo("no feasible architecture yet: see the report for the nearest misses")
    else:
        click.echo(
            f"best feasible: trial {m['trial']}, NetScore {m.get('netscore', 0):.2f}, "
            f"proxy top-1 {m.get('accuracy', 0):.1f} %, {m['params_m']:.3f} M params, "
            f"{m['macs_g']:.4f} G MACs, {m.get('latency_ms', 0):.2f} ms "
            f"({latency_backend})"
        )
        win = o["confirmed"]
        if win:
            click.echo(
                f"confirmed winner: trial {win['trial']}, proxy top-1 {win['mean']:.1f} "
                f"+- {win['sd']:.1f} % over {win['seeds']} seeds at "
                f"{win['epochs']} epochs (search: {win['search_accuracy']:.1f} %)"
            )
        click.echo(f"export it: {o['export']}")
    if o["report"]:
        click.echo(f"report: {o['report']}")


def study_options(f: Any) -> Any:
    f = click.option(
        "--storage",
        default=None,
        help="Storage URL or journal file; default: studies/<study>.journal",
    )(f)
    return click.option("--study", "study_name", required=True, help="Study name.")(f)


@main.command()
@study_options
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder; default: reports/<study>.",
)
@format_option
def report(study_name: str, storage: str | None, out_dir: Path | None, fmt: str) -> None:
    """Write reports/<study>/index.html (self-contained, offline) and trials.csv.

    \b
    Examples:
      gensynth report --study edge
      gensynth report --study edge --storage studies/edge.journal --out /tmp/edge-report
    """
    from gensynth.record import counts, read_all
    from gensynth.report import write_report
    from gensynth.study import load_study

    study = load_study(study_name, storage)
    path = write_report(study, out_dir or Path("reports") / study_name)
    if fmt == "json":
        folder = path.parent
        files = sorted(str(p) for p in folder.rglob("*") if p.is_file())
        _echo_json({"report": str(path), "files": files, "trials": counts(read_all(study))})
    else:
        click.echo(str(path))


@main.command()
@click.option("--study", "study_name", default=None, help="Study to take the trial from.")
@click.option(
    "--storage", default=None, help="Storage URL or journal file; default: studies/<study>.journal"
)
@click.option(
    "--trial",
    default="best",
    show_default=True,
    help="Trial number, or 'best' (best feasible by the utility).",
)
@click.option(
    "--spec",
    "spec_file",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Export a spec file instead of a study trial.",
)
@click.option(
    "--format",
    "fmt",
    required=True,
    type=click.Choice(["json", "onnx", "torchscript", "py", "timm", "safetensors"]),
    help="json: the spec; onnx / torchscript: the deployment form (BatchNorm folded); py: a "
    "standalone PyTorch file (build(num_classes, in_chans), forward_features, "
    "reset_classifier); timm: the same file, registering the network with timm when timm "
    "is installed; safetensors: the proxy-trained weights.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Output file; default: exports/<name>.<ext>",
)
@click.option(
    "--resolution",
    type=click.IntRange(8, 4096),
    default=None,
    help="Example input size for onnx/torchscript; default: the deployment's.",
)
@click.option("--force", is_flag=True, help="Overwrite the output file if it exists.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print what was written as JSON (--format names the exported file's format).",
)
def export(
    study_name: str | None,
    storage: str | None,
    trial: str,
    spec_file: Path | None,
    fmt: str,
    out: Path | None,
    resolution: int | None,
    force: bool,
    as_json: bool,
) -> None:
    """Export an architecture: json, onnx, torchscript, standalone py / timm, or weights.

    With a study trial that kept proxy-trained weights, the exported network carries them
    (and has the proxy task's classes); otherwise it is freshly initialised. Exporting an
    infeasible trial works, with a warning.

    \b
    Examples:
      gensynth export --study edge --trial best --format onnx
      gensynth export --study edge --trial 12 --format py --out mynet.py
      gensynth export --spec generators/attendnext_seed.yaml --format json
    """
    from gensynth.export import FORMATS
    from gensynth.export import export as do_export

    if spec_file is None and study_name is None:
        raise click.UsageError("give --study NAME (with --trial) or --spec FILE")
    spec, weights, res, record = export_source(study_name, storage, trial, spec_file)
    if record is not None and not record.feasible:
        click.echo(
            f"warning: trial {record.number} is not feasible ({record.status}: "
            f"{record.reason or 'see the report'}); exporting it anyway",
            err=True,
        )
    from gensynth.schema import name_problem

    stem = spec.name if not name_problem(spec.name) else f"spec-{spec.hash}"
    path = out or Path("exports") / f"{stem}{FORMATS[fmt]}"
    if path.exists() and not force:
        from gensynth.errors import ExportError

        raise ExportError(f"{path} exists; pass --force to overwrite it, or --out ANOTHER")
    done = do_export(spec, fmt, path, resolution or res, weights)
    kind = "proxy-trained weights" if weights is not None else "fresh weights"
    if as_json:
        _echo_json(
            {
                "path": str(done),
                "format": fmt,
                "spec": spec.name,
                "hash": spec.hash,
                "classes": spec.num_classes,
                "weights": "proxy-trained" if weights is not None else "fresh",
                "trial": None if record is None else record.number,
                "feasible": None if record is None else record.feasible,
            }
        )
        return
    note = "" if fmt == "json" else f" ({kind}, {spec.num_classes} classes)"
    click.echo(f"{done}{note}")


def export_source(
    study_name: str | None, storage: str | None, trial: str, spec_file: Path | None
) -> tuple[Any, Any, int, Any]:
    """The spec, its weights (or None), the deployment resolution to export, and the
    trial's record (None for a spec file)."""
    from gensynth.spec import load_spec
    from gensynth.study import choose, deployment_resolution, load_study, trained

    if spec_file is not None:
        return load_spec(spec_file), None, 224, None
    study = load_study(study_name, storage)
    record = choose(study, trial)
    spec, weights = trained(record)
    return spec, weights, deployment_resolution(study), record


@main.command()
@click.option(
    "--storage",
    default=None,
    help="Storage URL or journal file; default: every journal file in studies/.",
)
@format_option
def studies(storage: str | None, fmt: str) -> None:
    """List the studies in a storage (default: every journal in studies/).

    \b
    Examples:
      gensynth studies
      gensynth studies --storage postgresql://user@host/db --format json
    """
    from gensynth.study import STUDIES_DIR, list_studies

    stores = [storage] if storage else sorted(str(p) for p in STUDIES_DIR.glob("*.journal"))
    rows = []
    for store in stores:
        try:
            found = list_studies(store)
        except GensynthError as exc:  # one unreadable journal must not hide the others
            rows.append(
                {
                    "study": "?",
                    "trials": "",
                    "storage": store,
                    "constraints": "",
                    "created": f"unreadable: {exc}",
                }
            )
            continue
        for s in found:
            rows.append(
                {
                    "study": s.study_name,
                    "trials": s.n_trials,
                    "storage": store,
                    "constraints": s.user_attrs.get("constraints_file", ""),
                    "created": s.user_attrs.get("created", ""),
                }
            )
    if fmt == "json":
        _echo_json(rows)
    else:
        click.echo(table(rows) if rows else "no studies found")


@main.command()
@resolution_option
@click.option(
    "--classes", type=click.IntRange(1), default=1000, show_default=True, help="Classifier outputs."
)
@format_option
def references(resolution: int, classes: int, fmt: str) -> None:
    """List the built-in reference networks: counted params and MACs beside the published ones.

    A constraints file names them in relative budgets and floors, e.g.
    `latency_ms: {speedup: 1.5, over: fbnet_c}`; spec:, onnx:, torchscript: and timm:
    references are also accepted there.

    \b
    Examples:
      gensynth references
      gensynth references --resolution 32 --classes 10 --format json
    """
    from gensynth.cost import cost
    from gensynth.references import BUILTIN, builtin_plan

    rows = []
    for name, (_, pub) in BUILTIN.items():
        k = cost(builtin_plan(name, classes), resolution)
        rows.append(
            {
                "name": name,
                "params_m": round(k.params_m, 4),
                "macs_g": round(k.macs_g, 4),
                "published_params_m": pub.params_m,
                "published_macs_g": pub.macs_m / 1e3,
                "imagenet_top1": pub.top1,
                "source": pub.source,
            }
        )
    if fmt == "json":
        _echo_json(rows)
        return
    click.echo(table(rows))
    click.echo(
        f"counted at {resolution}x{resolution}, {classes} classes (1 multiply-add = 1; "
        "conv + linear); published counts at 224x224, 1000 classes"
    )


@main.command()
@constraints_option
@generator_option
@click.option(
    "--samples",
    type=click.IntRange(10, 1_000_000),
    default=2000,
    show_default=True,
    help="Random specs to draw from the space.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Sampling seed.")
@format_option
def space(constraints_file: Path, generator_file: Path, samples: int, seed: int, fmt: str) -> None:
    """Dry run: how large the design space is, what share of it each spec-only rule and
    budget accepts, cost ranges, and the seed's verdict. Builds and trains nothing.

    \b
    Examples:
      gensynth space --constraints constraints/edge.yaml
      gensynth space --constraints my.yaml --generator my_space.yaml --samples 5000
    """
    from gensynth.constraints import load_constraints
    from gensynth.space import load_space
    from gensynth.survey import describe_limits, survey

    c = load_constraints(constraints_file)
    result = survey(load_space(generator_file), c, samples, seed)
    limits = describe_limits(c)
    if fmt == "json":
        _echo_json(
            {
                "size": result.size,
                "samples": result.samples,
                "distinct": result.distinct,
                "accepted": result.accepted,
                "all_accepted": result.all_accepted,
                "ranges": result.ranges,
                "seed": result.seed,
                "limits": limits,
            }
        )
        return
    click.echo(
        f"{generator_file}: up to {result.size:.3g} configurations; {samples} random "
        f"samples ({result.distinct} distinct) under {constraints_file}"
    )
    rows = [
        {"rule or budget": name, "accepts": f"{100 * share:.1f} %", "holds when": limits[name]}
        for name, share in result.accepted.items()
    ]
    click.echo(table(rows))
    click.echo(
        f"all spec-only rules and budgets: {100 * result.all_accepted:.1f} % of samples "
        f"(the rest are screened: told to the sampler, not counted, not built)"
    )
    units = {"params_m": "M params", "macs_g": "G MACs", "peak_activation_mb": "MB activation"}
    for key, (p5, p50, p95) in result.ranges.items():
        click.echo(f"{units[key]}: 5% {p5:.4g}, median {p50:.4g}, 95% {p95:.4g}")
    if result.seed is not None:
        broken = [k for k, v in result.seed.items() if v > 0]
        click.echo(
            "seed: "
            + (
                "passes every spec-only rule and budget"
                if not broken
                else f"screened out by {', '.join(broken)}"
            )
        )


@main.command()
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--from",
    "start",
    type=click.Choice(["edge", "edge_pareto", "mcu"]),
    default="edge",
    show_default=True,
    help="The shipped profile to start from (constraints and its design space).",
)
@click.option("--force", is_flag=True, help="Overwrite the files if they exist.")
@format_option
def init(folder: Path, start: str, force: bool, fmt: str) -> None:
    """Start a profile to edit: FOLDER/constraints.yaml, space.yaml and seed.yaml, copied
    (comments included) from a shipped profile and named after FOLDER.

    \b
    Examples:
      gensynth init my_board
      gensynth init my_mcu --from mcu
    """
    from gensynth.init import init_profile

    written = init_profile(folder, start, force)
    if fmt == "json":
        _echo_json({"files": [str(p) for p in written], "from": start})
        return
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(
        f"next: edit them, then\n"
        f"  gensynth space --constraints {folder}/constraints.yaml "
        f"--generator {folder}/space.yaml\n"
        f"  gensynth explore --constraints {folder}/constraints.yaml "
        f"--generator {folder}/space.yaml"
    )


@main.command()
@constraints_option
@generator_option
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The profile file to write (JSON); an unfinished one of the same set-up resumes.",
)
@click.option(
    "--calibration",
    type=click.IntRange(20, 5000),
    default=160,
    show_default=True,
    help="Networks measured to fit the predictor.",
)
@click.option(
    "--held-out",
    type=click.IntRange(10, 5000),
    default=60,
    show_default=True,
    help="Networks measured only to state the predictor's error.",
)
@click.option(
    "--block-networks",
    type=click.IntRange(0, 5000),
    default=480,
    show_default=True,
    help="More networks whose blocks (not the whole networks) are timed.",
)
@click.option(
    "--rounds",
    type=click.IntRange(1, 20),
    default=5,
    show_default=True,
    help="Rounds per network, each in a new random order: its latency is the median of the "
    "rounds' ratios to the yardstick network.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Which networks are drawn.")
@format_option
def profile(
    constraints_file: Path,
    generator_file: Path,
    out: Path,
    calibration: int,
    held_out: int,
    block_networks: int,
    rounds: int,
    seed: int,
    fmt: str,
) -> None:
    """Measure this machine for latency prediction; run it on the target device.

    Times networks of the design space (those the constraints' spec-only rules and budgets
    accept) and the built-in reference networks with the constraints' latency settings
    (backend, threads, batch, input), each as a ratio to one of the networks run
    interleaved with it (the host's speed drifts; the ratio hardly does), fits the
    predictor and prints its error on held-out networks. Name the file in a constraints
    file to search against this device anywhere:
    latency: {backend: ..., threads: ..., predictor: profiles/<device>.json}.

    \b
    Examples:
      gensynth profile --constraints constraints/edge.yaml --out profiles/mybox.json
      ssh pi 'cd gensynth && .venv/bin/gensynth profile --constraints c.yaml --out pi.json'
    """
    from tqdm import tqdm

    from gensynth.constraints import load_constraints
    from gensynth.predictor import describe_correction
    from gensynth.profile import run_profile
    from gensynth.space import load_space

    c = load_constraints(constraints_file)
    bar = tqdm(total=calibration + held_out, file=sys.stderr, unit="net", disable=None)

    def step(done: int, total: int, what: str) -> None:
        bar.total, bar.n = total, done
        bar.set_postfix_str(what)

    data = run_profile(
        c,
        load_space(generator_file),
        out,
        calibration,
        held_out,
        seed,
        on_step=step,
        block_networks=block_networks,
        rounds=rounds,
    )
    bar.close()
    e, p = data["error"], data["provenance"]
    if fmt == "json":
        _echo_json({"profile": str(out), "provenance": p, "error": e, "fit": data["fit_error"]})
        return
    click.echo(
        f"{out}: {p['cpu']}, {p['backend']} {p['backend_version']}, {p['threads']} thread(s), "
        f"input {'x'.join(map(str, p['input']))}, batch {p['batch']}"
    )
    click.echo(
        f"times measured as ratios to the yardstick network {data['yardstick']['spec']['name']} "
        f"({data['yardstick']['ms']:.2f} ms here); rounds of a network lie "
        f"{e['spread_pct']:.1f} % apart (median)"
    )
    click.echo(f"network correction: {describe_correction(data['correction_terms'])}")
    click.echo(
        f"predicted vs measured on {e['n']} held-out networks: mean absolute error "
        f"{e['mape_pct']:.1f} %, worst {e['worst_pct']:.1f} %, Kendall tau {e['kendall_tau']:.3f}"
    )
    click.echo(
        f"use it: latency: {{backend: {p['backend']}, threads: {p['threads']}, predictor: {out}}}"
    )


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
