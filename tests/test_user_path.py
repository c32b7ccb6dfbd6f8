"""The user's path around the search: init, help on every option, JSON from every verb."""

from __future__ import annotations

import json

import click
from click.testing import CliRunner

from gensynth.cli import main
from gensynth.constraints import load_constraints
from gensynth.space import load_space
from tests.conftest import SEED_FILE
from tests.test_explore import DATA


def test_init_writes_a_profile_that_loads_and_refuses_to_overwrite(tmp_path):
    folder = tmp_path / "my_board"
    result = CliRunner().invoke(main, ["init", str(folder), "--from", "mcu"])
    assert result.exit_code == 0, result.output
    c = load_constraints(folder / "constraints.yaml")
    space = load_space(folder / "space.yaml")
    assert c.name == "my_board" and space.name == "my_board" and space.seed is not None
    assert (folder / "constraints.yaml").read_text().count("\n#") > 3  # the comments came too
    again = CliRunner().invoke(main, ["init", str(folder)])
    assert again.exit_code == 1 and "--force" in again.output
    assert CliRunner().invoke(main, ["init", str(folder), "--force"]).exit_code == 0
    bad = CliRunner().invoke(main, ["init", str(tmp_path / ".hidden")])
    assert bad.exit_code == 1 and "not starting with '.'" in bad.output


def test_every_option_has_help_and_every_command_an_example():
    for name, command in main.commands.items():
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"gensynth {name} {param.opts[0]} has no help text"
        assert "Examples:" in (command.help or ""), f"gensynth {name} --help has no example"
    assert "_GENSYNTH_COMPLETE" in main.help  # completion is documented


def test_every_verb_speaks_json(tmp_path):
    run = CliRunner().invoke
    storage = str(tmp_path / "s.journal")
    constraints = str(DATA / "tiny_constraints.yaml")
    space = str(DATA / "tiny_space.yaml")
    search = [
        "explore",
        "--constraints",
        constraints,
        "--generator",
        space,
        "--storage",
        storage,
        "--study",
        "tiny",
        "--trials",
        "2",
        "--no-compare",
        "--no-confirm",
        "--report-dir",
        str(tmp_path / "reports"),
    ]
    commands = {
        "explore": search + ["--format", "json"],
        "report": ["report", "--study", "tiny", "--storage", storage, "--format", "json"],
        "studies": ["studies", "--storage", storage, "--format", "json"],
        "show": ["show", str(SEED_FILE), "--format", "json"],
        "check": ["check", str(SEED_FILE), "--constraints", constraints, "--no-train"]
        + ["--format", "json"],
        "references": ["references", "--resolution", "32", "--format", "json"],
        "space": ["space", "--constraints", constraints, "--generator", space]
        + ["--samples", "50", "--format", "json"],
        "init": ["init", str(tmp_path / "p"), "--format", "json"],
        "profile": ["profile", "--constraints", constraints, "--generator", space]
        + ["--out", str(tmp_path / "prof.json"), "--calibration", "20", "--held-out", "10"]
        + ["--format", "json"],
        "export": ["export", "--spec", str(SEED_FILE), "--format", "json", "--json"]
        + ["--out", str(tmp_path / "seed.json")],
    }
    assert set(commands) == set(main.commands)  # every verb
    for name, args in commands.items():
        result = run(main, args)  # result.stdout: stdout only (progress goes to stderr)
        assert result.exit_code in (0, 1), (name, result.output)
        data = json.loads(result.stdout)
        assert isinstance(data, (dict, list)), name
    out = json.loads(run(main, commands["explore"]).stdout)
    assert out["assessed"] == 2 and out["study"] == "tiny" and "trials" in out


def test_progress_says_what_the_current_trial_is_doing(tmp_path):
    from gensynth.explore import explore
    from tests.test_explore import config

    heard: list[str] = []
    explore(config(tmp_path, trials=2), on_activity=heard.append)
    assert "trial 0 (seed): structure" in heard and "trial 0 (seed): program" in heard
    assert any(t.startswith("trial 0 (seed): training, epoch 1/2, top-1") for t in heard)


def test_eta_leaves_the_seed_out():
    from gensynth.explore import Progress

    # 3 trials done in 100 s, 82 of them the seed's: 9 s per trial, 7 trials left
    p = Progress(done=3, target=10, feasible=1, best=None, elapsed=100.0, started_done=0)
    assert p.eta == 100 / 3 * 7
    assert Progress(3, 10, 1, None, 100.0, 0, seed_seconds=82.0).eta == 63.0


def test_the_shipped_space_is_the_default_from_any_folder(tmp_path, monkeypatch):
    from tests.conftest import ROOT

    monkeypatch.chdir(tmp_path)  # no generators/ here
    constraints = str(ROOT / "constraints" / "edge.yaml")
    result = CliRunner().invoke(main, ["space", "--constraints", constraints, "--samples", "30"])
    assert result.exit_code == 0, result.output
    assert "seed: passes every spec-only rule and budget" in result.output
