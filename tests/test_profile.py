"""`gensynth profile` and the latency predictor: the file, resuming, refusing a profile of
another set-up, searching with predicted latency. (The predictor's accuracy on this
machine is a benchmark, benchmarks/predictor.py, not a test: it depends on the host.)"""

from __future__ import annotations

import dataclasses
import json

import pytest
from click.testing import CliRunner

from gensynth.cli import main
from gensynth.constraints import load_constraints
from gensynth.errors import ConfigError, StudyError
from gensynth.predictor import FEATURES, load_predictor
from gensynth.profile import run_profile
from gensynth.space import load_space
from gensynth.spec import ArchSpec
from tests.test_explore import DATA, config

TINY = DATA / "tiny_constraints.yaml"
SPACE = DATA / "tiny_space.yaml"


@pytest.fixture(scope="module")
def profiled(tmp_path_factory):
    out = tmp_path_factory.mktemp("profile") / "tiny.json"
    result = CliRunner().invoke(
        main,
        ["profile", "--constraints", str(TINY), "--generator", str(SPACE), "--out", str(out)]
        + ["--calibration", "24", "--held-out", "10", "--block-networks", "10"]
        + ["--rounds", "2", "--format", "json"],
    )
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


def test_profile_file_has_provenance_measurements_model_and_error(profiled):
    out, summary = profiled
    data = json.loads(out.read_text())
    p = data["provenance"]
    keys = ("host", "cpu", "os", "backend", "backend_version", "threads", "batch", "input")
    for key in (*keys, "date", "gensynth", "space_hash", "warmup", "runs"):
        assert key in p, key
    assert p["input"] == [3, 32, 32] and p["backend"] == "torch" and p["threads"] == 1
    roles = [n["role"] for n in data["networks"].values()]
    assert roles.count("calibration") == 24 and roles.count("held_out") == 10
    # every time is a ratio to the yardstick (a calibration network), stated in its ms
    unit = data["yardstick"]
    assert data["networks"][unit["hash"]]["role"] == "calibration" and unit["ms"] > 0
    for n in (*data["networks"].values(), *data["references"].values()):
        assert len(n["rounds"]) == 2 and len(n["yardstick_ms"]) == 2 and n["spread_pct"] >= 0
        assert n["ms"] == pytest.approx((n["rounds"][0] + n["rounds"][1]) / 2 * unit["ms"])
    for b in data["blocks"].values():
        assert b["ms"] == pytest.approx(b["ratio"] * unit["block_ms"]) and b["ms"] > 0
    assert {"fbnet_c", "mobilenetv3_large"} <= set(data["references"])
    assert data["features"] == list(FEATURES) and len(data["blocks"]) > 20
    # block sum, blocks, values handed on, constant, then the block sum per resolution
    names = data["correction_terms"]["weights"]
    assert len(data["correction"]) == len(names) > 4 and "block_sum_at_32" in names[4:]
    assert set(data["error"]) == {"mape_pct", "worst_pct", "kendall_tau", "n", "spread_pct"}
    assert summary["error"] == data["error"] and data["error"]["n"] == 10


def test_profile_says_what_it_measured_against_and_how_well(profiled):
    out, _ = profiled  # finished: running it again measures nothing and prints the summary
    result = CliRunner().invoke(
        main, ["profile", "--constraints", str(TINY), "--generator", str(SPACE), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["provenance"]["refitted"] >= data["provenance"]["finished"]  # both kept
    name = data["yardstick"]["spec"]["name"]
    assert f"ratios to the yardstick network {name}" in result.output
    assert f"predicted vs measured on {data['error']['n']} held-out networks" in result.output
    assert f"predictor: {out}" in result.output


def test_predictor_predicts_from_the_file(profiled):
    out, _ = profiled
    predictor = load_predictor(out)
    space = load_space(SPACE)
    data = json.loads(out.read_text())
    for n in list(data["networks"].values())[:5]:
        assert predictor.predict(ArchSpec.from_dict(n["spec"])) == pytest.approx(n["predicted_ms"])
    assert predictor.predict(space.seed.replace(num_classes=10)) > 0
    assert "held-out error" in predictor.describe()
    # the linear correction is not trusted beyond its data: never under a tenth of the sum
    spec = space.seed.replace(num_classes=10)
    predictor.correction = (0.0, 0.0, 0.0, -100.0, *[0.0] * len(predictor.resolutions))
    assert predictor.predict(spec) == pytest.approx(0.1 * predictor.block_sum(spec))


def test_a_profile_of_an_older_format_is_refused_with_what_to_do(profiled, tmp_path):
    out, _ = profiled
    old = tmp_path / "old.json"
    old.write_text(out.read_text().replace("gensynth-profile/3", "gensynth-profile/2"))
    with pytest.raises(ConfigError, match="old.json: a profile of format 'gensynth-profile/2'"):
        load_predictor(old)
    with pytest.raises(ConfigError, match="old.json: a profile of an older format"):
        run_profile(load_constraints(TINY), load_space(SPACE), old, 20, 10)


def test_an_interrupted_profile_resumes_without_measuring_again(tmp_path):
    c, space = load_constraints(TINY), load_space(SPACE)
    out = tmp_path / "p.json"
    steps = []

    def stop_after_five(done, total, what):
        steps.append(what)
        if len(steps) > 5:
            raise KeyboardInterrupt

    kw = {"references": ("fbnet_c",), "block_networks": 0, "rounds": 1}
    with pytest.raises(KeyboardInterrupt):
        run_profile(c, space, out, 20, 10, on_step=stop_after_five, **kw)
    first = json.loads(out.read_text())
    assert "error" not in first
    heard = []
    data = run_profile(c, space, out, 20, 10, on_step=lambda d, t, w: heard.append(w), **kw)
    assert len(data["networks"]) == 30 and "error" in data
    kept = {k: v["ratio"] for k, v in first["blocks"].items()}
    assert kept and all(data["blocks"][k]["ratio"] == ms for k, ms in kept.items())  # not redone
    for h, n in first["networks"].items():
        assert data["networks"][h]["rounds"][: len(n["rounds"])] == n["rounds"]
    other = dataclasses.replace(c, latency=dataclasses.replace(c.latency, threads=2))
    with pytest.raises(ConfigError, match="threads: 1 -> 2"):
        run_profile(other, space, out, 20, 10, **kw)


def _with_predictor(tmp_path, profile, **latency):
    text = TINY.read_text().replace(
        "latency: {backend: torch, threads: 1, warmup: 1, runs: 2}",
        f"latency: {{backend: torch, threads: {latency.get('threads', 1)}, warmup: 1, "
        f"runs: 2, predictor: {profile}}}",
    )
    path = tmp_path / "predicted.yaml"
    path.write_text(text)
    return path


def test_search_with_predicted_latency_and_refusals(profiled, tmp_path):
    from gensynth.explore import explore
    from gensynth.report import write_report

    out, _ = profiled
    cfg = config(tmp_path, trials=3)
    c = load_constraints(_with_predictor(tmp_path, out))
    study = explore(dataclasses.replace(cfg, constraints=c))
    timed = [t for t in study.get_trials() if "latency_ms" in t.user_attrs.get("metrics", {})]
    assert timed and all(t.user_attrs["metrics"]["latency_predicted"] == 1.0 for t in timed)
    assert study.user_attrs["latency_profile"]["path"] == str(out)
    html = write_report(study, tmp_path / "r").read_text()
    assert "<b>predicted</b>, not measured on this host" in html
    wrong_threads = load_constraints(_with_predictor(tmp_path, out, threads=2))
    with pytest.raises(ConfigError, match="profiled with threads 1"):
        explore(dataclasses.replace(config(tmp_path / "b"), constraints=wrong_threads))
    from gensynth.space import IntRange

    other_space = dataclasses.replace(load_space(SPACE), stage_count=IntRange(1, 1))
    with pytest.raises(StudyError, match="profile this space on the device"):
        explore(dataclasses.replace(config(tmp_path / "c"), constraints=c, space=other_space))


def test_on_the_profiled_host_the_chosen_network_is_also_timed(profiled, tmp_path):
    from gensynth.explore import explore
    from gensynth.report import write_report
    from tests.test_explore import without_rules

    out, _ = profiled
    c = without_rules(load_constraints(_with_predictor(tmp_path, out)))  # all feasible
    study = explore(dataclasses.replace(config(tmp_path, trials=2), constraints=c))
    check = study.user_attrs["latency_check"]  # this host is the profiled one
    assert check["trial"] in {t.number for t in study.trials}
    assert check["measured_ms"] > 0 and check["here_ms"] > 0 and check["error_pct"] >= 0
    html = write_report(study, tmp_path / "r").read_text()
    assert f"predicted {check['predicted_ms']:.2f} ms" in html
    assert "as a ratio to its yardstick network" in html


def test_the_fast_forest_equals_scikit_learns_predict(profiled):
    import numpy as np

    from gensynth.predictor import _vector

    out, _ = profiled
    predictor = load_predictor(out)
    assert predictor.forest is not None  # scikit-learn's tree layout is still the known one
    data = json.loads(out.read_text())
    rows = np.array(
        [_vector(dict(zip(FEATURES, b["features"], strict=True))) for b in data["blocks"].values()]
    )
    assert np.allclose(predictor.forest.predict(rows), predictor.model.predict(rows))


def test_a_shipped_profile_loads_and_states_its_provenance_and_error():
    from tests.conftest import ROOT

    for path in sorted((ROOT / "profiles").glob("*.json")):
        p = load_predictor(path)
        assert p.provenance["input"] == [3, 224, 224] and p.provenance["threads"] == 1
        assert p.error["n"] >= 50 and 0 <= p.error["mape_pct"] < 100
        assert {"fbnet_c", "mobilenetv3_large"} <= set(p.references)
        # a profile of the shipped space as it is now (a space change must re-profile)
        assert (
            p.provenance["space_hash"] == load_space(ROOT / "generators" / "attendnext.yaml").hash
        )


def test_a_relative_latency_budget_uses_the_profiles_reference(profiled, tmp_path):
    from gensynth.constraints import Relative
    from gensynth.inquisitor import Inquisitor
    from tests.conftest import tiny_spec

    out, _ = profiled
    c = load_constraints(_with_predictor(tmp_path, out))
    c = dataclasses.replace(
        c, budgets=dataclasses.replace(c.budgets, latency_ms=Relative("fbnet_c", 1 / 1.2))
    )
    inquisitor = Inquisitor(c)  # no data: the accuracy stage is skipped
    a = inquisitor.assess(tiny_spec().replace(num_classes=10), keep_going=True)
    predicted = inquisitor.predictor.predict(a.spec)
    reference = json.loads(out.read_text())["references"]["fbnet_c"]["ms"]
    assert a.metrics["latency_predicted"] == 1.0
    assert a.metrics["latency_ms"] == pytest.approx(predicted)
    assert a.metrics["latency_ratio"] == pytest.approx(predicted / reference)
    assert "latency" in a.violations


def test_the_correction_recovers_a_known_network_law():
    import random

    from gensynth.predictor import fit_correction

    rng = random.Random(0)
    terms = [(rng.uniform(1, 9), rng.randint(4, 20), rng.uniform(0.1, 2)) for _ in range(40)]
    ms = [0.9 * s - 0.05 * n - 0.4 * v + 0.2 for s, n, v in terms]
    assert fit_correction(terms, ms) == pytest.approx((0.9, -0.05, -0.4, 0.2), abs=1e-9)


def test_the_correction_finds_a_resolution_that_runs_slower_in_a_network():
    """Blocks at one resolution take 30 % longer in a network than alone: unshrunk, the
    per-resolution term finds it; cross-validation prefers it to the common scale alone;
    shrunk hard, it goes back towards the common scale."""
    import random

    from gensynth.predictor import choose_correction, correct, fit_correction

    rng = random.Random(0)
    terms = []
    for _ in range(60):
        at56, at7 = rng.uniform(1, 5), rng.uniform(1, 5)
        terms.append((at56 + at7, rng.randint(4, 20), rng.uniform(0.1, 2), at56, at7))
    ms = [s - 0.05 * n + 0.3 * a + 0.2 for s, n, _, a, _ in terms]
    w = fit_correction(terms, ms, 1e-12)  # (the common scale and the e_r share one degree)
    assert [correct(w, t) for t in terms] == pytest.approx(ms, rel=1e-9)
    assert w[4] - w[5] == pytest.approx(0.3) and w[1] == pytest.approx(-0.05)
    w, shrink, cv = choose_correction(terms, ms)
    assert shrink < 1 and cv < 0.1 and correct(w, terms[0]) == pytest.approx(ms[0], rel=1e-3)
    common = fit_correction(terms, ms)  # the common scale only: the e_r are 0
    assert common[4:] == (0.0, 0.0) and abs(fit_correction(terms, ms, 1e6)[4]) < 0.01
