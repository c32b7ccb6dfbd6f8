"""The malformed-input corpus (tests/malformed.py) through the CLI, as a user runs it:
100 % one-line errors (exit 1 or 2), no traceback, no hang, nothing stored changed, and a
malicious pickle's side effect never happens."""

from __future__ import annotations

import hashlib
import signal
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

from gensynth.cli import main
from gensynth.study import open_storage
from tests.conftest import ROOT
from tests.malformed import Case, cases

TINY = ROOT / "tests" / "data" / "tiny_constraints.yaml"
SPACE = ROOT / "tests" / "data" / "tiny_space.yaml"
SEED = ROOT / "tests" / "data" / "tiny_seed.yaml"
HANG_S = 20  # far above any clean refusal (they take milliseconds); below, a case hangs
MARKER = "PWNED-by-pickle"
CORPUS = cases(MARKER)


class Hang(BaseException):
    """Raised by the alarm: BaseException, so the CLI runner cannot swallow it."""


def _alarm(signum, frame):
    raise Hang()


def _commands(case: Case, folder: Path, store: str) -> list[list[str]]:
    """The commands that read the case's file, as a user would give it."""
    first = str(folder / next(iter(case.files), ""))
    explore = ["explore", "--storage", store, "--trials", "1", "--no-report"]
    if case.kind == "constraints":
        return [
            ["check", str(SEED), "--constraints", first, "--no-train"],
            [*explore, "--constraints", first, "--generator", str(SPACE), "--study", "stored"],
        ]
    if case.kind == "space":
        return [
            ["space", "--constraints", str(TINY), "--generator", first, "--samples", "20"],
            [*explore, "--constraints", str(TINY), "--generator", first, "--study", "stored"],
        ]
    if case.kind == "spec":
        return [["show", first], ["check", first, "--constraints", str(TINY), "--no-train"]]
    if case.kind == "data":
        return [["check", str(SEED), "--constraints", str(folder / "c.yaml")]]
    return [[*explore, "--constraints", str(TINY), "--generator", str(SPACE), *case.args]]


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A storage holding one study with a finished trial, and a report folder."""
    root = tmp_path_factory.mktemp("stored")
    store = str(root / "studies.journal")
    study = optuna.create_study(study_name="stored", storage=open_storage(store))
    study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=1.0))
    (root / "reports" / "stored").mkdir(parents=True)
    (root / "reports" / "stored" / "index.html").write_text("<html>kept</html>")
    return root, store


def _fingerprint(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_the_corpus_is_large_and_covers_every_kind():
    kinds = {c.kind for c in CORPUS}
    assert len(CORPUS) >= 150, len(CORPUS)
    assert kinds == {"constraints", "space", "spec", "data", "cli"}
    assert len({(c.kind, c.name) for c in CORPUS}) == len(CORPUS)  # names are unique


@pytest.mark.parametrize("case", CORPUS, ids=lambda c: f"{c.kind}-{c.name}")
def test_malformed_input_gives_one_line_error(case, tmp_path, stored, monkeypatch):
    root, store = stored
    before = _fingerprint(root)
    for name, content in case.files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content)
    monkeypatch.chdir(root)  # default outputs (reports/, studies/) would land beside `stored`
    previous = signal.signal(signal.SIGALRM, _alarm)
    try:
        for args in _commands(case, tmp_path, store):
            signal.setitimer(signal.ITIMER_REAL, HANG_S)
            try:
                result = CliRunner().invoke(main, args)
            except Hang:
                pytest.fail(f"hung for {HANG_S} s: gensynth {' '.join(args)}")
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            shown = f"gensynth {' '.join(args)}\n{result.output}"
            assert result.exit_code in (1, 2), shown
            assert (
                "Traceback" not in result.output
                and result.exception is None
                or isinstance(result.exception, SystemExit)
            ), shown
            errors = [
                line for line in result.output.splitlines() if line.lower().startswith("error")
            ]
            assert len(errors) == 1, shown
            assert case.expect in errors[0], shown
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert _fingerprint(root) == before, "a malformed input changed what was stored"
    assert not (root / MARKER).exists() and not Path(MARKER).exists(), "the pickle ran code"
