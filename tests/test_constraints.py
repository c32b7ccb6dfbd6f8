"""Constraints files: every shipped profile loads; every malformed file gets a one-line error."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from gensynth.cli import main
from gensynth.constraints import load_constraints
from gensynth.errors import ConfigError
from tests.conftest import ROOT, SEED_FILE

SHIPPED = sorted((ROOT / "constraints").glob("*.yaml"))
BAD = sorted((Path(__file__).parent / "data" / "bad_constraints").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_profiles_load_and_are_documented(path):
    c = load_constraints(path)
    assert c.name and c.hash
    readme = (ROOT / "constraints" / "README.md").read_text()
    assert path.name in readme


def test_edge_profile_has_the_four_paper_rules():
    c = load_constraints(ROOT / "constraints" / "edge.yaml")
    assert c.rules.columnar_min_stages and c.rules.no_strided_pointwise
    assert c.rules.aads_min_fraction and c.rules.accuracy_floor


def test_the_malformed_corpus_is_large_enough():
    assert len(BAD) >= 20


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.name)
def test_malformed_file_gives_one_line_error_naming_file_and_key(path):
    expected = path.read_text().splitlines()[0].removeprefix("# expect: ")
    with pytest.raises(ConfigError) as err:
        load_constraints(path)
    assert str(err.value).startswith(f"{path}: ")
    assert expected in str(err.value)
    result = CliRunner().invoke(
        main, ["check", str(SEED_FILE), "--constraints", str(path), "--no-train"]
    )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.output


def test_rules_can_be_disabled(tmp_path):
    f = tmp_path / "lax.yaml"
    f.write_text("rules: {columnar: false, aads: false, no_strided_pointwise: false}\n")
    r = load_constraints(f).rules
    assert (r.columnar_min_stages, r.aads_min_fraction, r.no_strided_pointwise) == (
        None,
        None,
        False,
    )


def test_hash_changes_with_the_text(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("budgets: {params_m: 4}\n")
    first = load_constraints(f).hash
    f.write_text("budgets: {params_m: 5}\n")
    assert load_constraints(f).hash != first


def test_the_proxy_seeds_key_leaves_older_studies_resumable(tmp_path):
    # a study stores record() and refuses to resume when its hash changes: the default
    # (one seed) is left out of it, so files written before the key existed keep their hash
    f = tmp_path / "c.yaml"
    f.write_text("proxy: {epochs: 4}\n")
    one = load_constraints(f)
    assert one.proxy.seeds == 1 and "seeds" not in one.record()["proxy"]
    f.write_text("proxy: {epochs: 4, seeds: 1}\n")
    assert load_constraints(f).hash == one.hash
    f.write_text("proxy: {epochs: 4, seeds: 3}\n")
    three = load_constraints(f)
    assert three.proxy.seeds == 3 and three.record()["proxy"]["seeds"] == 3
    assert three.hash != one.hash


BOMB = (
    "a: &a [x, x, x, x, x, x, x, x, x]\n"
    + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
        f"*{chr(97 + i)}]\n"
        for i in range(20)
    )
    + "budgets: {params_m: *u}\n"
)


@pytest.mark.parametrize(
    "text, message",
    [
        ("budgets: {params_m: 4}\nbudgets: {params_m: 5}\n", "duplicate key 'budgets'"),
        ("rules:\n  aads: {min_fraction: 0.5}\n  aads: false\n", "duplicate key 'aads'"),
        (BOMB, "aliases"),
        ("budgets: " + "[" * 20000 + "]" * 20000 + "\n", "nested too deeply"),
        ("description: " + "x" * 1_000_001 + "\n", "more than a profile"),
        ("budgets: {params_m: " + "[1, [2, [3, [4, [5]]]]], " * 1 + "}\n", "must be a number"),
    ],
)
def test_hostile_yaml_gives_a_bounded_one_line_error(tmp_path, text, message):
    f = tmp_path / "hostile.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        load_constraints(f)
    assert len(str(err.value)) < 400 and "\n" not in str(err.value)
