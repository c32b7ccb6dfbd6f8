"""The CLI: `show` output, JSON mode, and one-line errors for bad input."""

from __future__ import annotations

import json

from click.testing import CliRunner

from gensynth.cli import main
from tests.conftest import SEED_FILE


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_show_prints_the_seed_table_and_totals():
    result = run("show", SEED_FILE)
    assert result.exit_code == 0, result.output
    assert "stage3" in result.output and "84x28x28" in result.output
    assert "total: 3.8380 M params, 0.5165 G MACs" in result.output


def test_show_json_for_machines():
    result = run("show", SEED_FILE, "--format", "json", "--resolution", "32", "--classes", "10")
    data = json.loads(result.output)
    assert data["num_classes"] == 10 and data["resolution"] == 32
    assert data["totals"]["params"] == sum(s["params"] for s in data["sections"])


def test_bad_spec_gives_one_line_error_and_status_1(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages:\n  - {width: 90, depth: 1, columns: 4}\n")
    result = run("show", bad)
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: {bad}: stages[0].width: must be divisible by columns=4, got 90"
    ]


def test_missing_file_is_a_usage_error():
    assert run("show", "nope.yaml").exit_code == 2


EDGE = SEED_FILE.parent.parent / "constraints" / "edge.yaml"


def test_check_seed_without_training_lists_every_rule_with_units(tmp_path):
    # No verdict here may depend on the host's speed: the latency budget is left out (the
    # latency is still measured and shown), every other rule is decided by the spec alone.
    import yaml

    profile = yaml.safe_load(EDGE.read_text())
    del profile["budgets"]["latency_ms"]
    lax = tmp_path / "edge_no_latency.yaml"
    lax.write_text(yaml.safe_dump(profile))
    edge_seed = SEED_FILE.parent / "attendnext_edge_seed.yaml"  # the space's seed: in budget
    result = run("check", edge_seed, "--constraints", lax, "--no-train")
    assert result.exit_code == 0, result.output
    for word in (
        "columnar",
        "no_strided_pointwise",
        "aads",
        "accuracy_floor",
        "not evaluated",
        "M params",
        "G MACs",
        "ms (median)",
        "verdict: FEASIBLE",
    ):
        assert word in result.output


def test_check_reports_strided_pointwise_as_infeasible(tmp_path, seed_spec):
    import dataclasses

    bad = seed_spec.replace(
        stages=tuple(
            dataclasses.replace(s, downsample="strided_pointwise") for s in seed_spec.stages
        )
    )
    f = tmp_path / "bad.json"
    f.write_text(bad.to_json())
    result = run("check", f, "--constraints", EDGE, "--no-train", "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)  # diagnostics go to stderr
    assert data["status"] == "infeasible" and data["stage"] == "structure"
    assert data["violations"]["no_strided_pointwise"] == 6  # 3 stride-2 DC-ACs x 2 condensers


def test_data_override_is_validated():
    result = run("check", SEED_FILE, "--constraints", EDGE, "--data", "npzz:x.npz")
    assert result.exit_code == 1
    assert "did you mean 'npz'" in result.output


def test_public_api_names_are_the_functions():
    import gensynth
    import gensynth.explore  # noqa: F401  (importing the submodule must not shadow the name)

    for name in gensynth.__all__:
        assert not type(getattr(gensynth, name)).__name__ == "module", name
    assert callable(gensynth.explore) and callable(gensynth.export)


def test_names_that_would_write_outside_their_folders_are_refused(tmp_path):
    bad = tmp_path / "escape.yaml"
    bad.write_text("name: ../../x/victim\n")
    result = run("check", SEED_FILE, "--constraints", bad, "--no-train")
    assert result.exit_code == 1 and "name: must use only letters, digits" in result.output
    spec = tmp_path / "s.json"
    spec.write_text('{"name": "../../x/s", "stages": [{"width": 8, "depth": 1, "columns": 2}]}')
    assert "name: must use only letters" in run("show", spec).output
    result = run("report", "--study", "../../x/escape")
    assert result.exit_code == 1 and "--study: must use only letters" in result.output


def test_export_refuses_to_overwrite_without_force(tmp_path):
    out = tmp_path / "seed.json"
    assert run("export", "--spec", SEED_FILE, "--format", "json", "--out", out).exit_code == 0
    again = run("export", "--spec", SEED_FILE, "--format", "json", "--out", out)
    assert again.exit_code == 1 and "exists; pass --force" in again.output
    forced = run("export", "--spec", SEED_FILE, "--format", "json", "--out", out, "--force")
    assert forced.exit_code == 0


def test_space_dry_run_reports_size_acceptance_and_the_seed():
    result = run("space", "--constraints", EDGE, "--samples", "300", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["size"] > 1e6 and data["samples"] == 300
    assert set(data["accepted"]) == {
        "columnar",
        "no_strided_pointwise",
        "aads",
        "params",
        "macs",
        "peak_activation",
    }
    assert 0 <= data["all_accepted"] <= min(data["accepted"].values()) <= 1
    assert all(v <= 0 for v in data["seed"].values())  # the shipped seed passes them all
    low, mid, high = data["ranges"]["params_m"]
    assert low <= mid <= high
