"""Design spaces: shipped files load, bad files are refused clearly, every sample builds."""

from __future__ import annotations

import optuna
import pytest
import torch
import yaml

from gensynth.build import build_model
from gensynth.errors import ConfigError
from gensynth.space import load_space
from tests.conftest import ROOT

SPACES = [
    p
    for p in sorted((ROOT / "generators").glob("*.yaml"))
    if "stages" in yaml.safe_load(p.read_text())
    and isinstance(yaml.safe_load(p.read_text())["stages"], dict)
]
BAD = yaml.safe_load((ROOT / "tests" / "data" / "bad_space_corpus.yaml").read_text())


def test_a_space_is_shipped():
    assert [p.name for p in SPACES] == ["attendnext.yaml", "mcu.yaml"]


@pytest.mark.parametrize("path", SPACES, ids=lambda p: p.name)
def test_shipped_space_loads_and_reproduces_its_seed(path):
    space = load_space(path)
    assert space.seed is not None
    params = space.params_of(space.seed)
    study = optuna.create_study()
    study.enqueue_trial(params)
    again = space.sample(study.ask(), space.seed.name)  # classes come from the deployment
    assert again.replace(num_classes=space.seed.num_classes) == space.seed


@pytest.mark.parametrize("path", SPACES, ids=lambda p: p.name)
def test_every_sampled_spec_builds_and_runs(path):
    space = load_space(path)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(40):
        spec = space.sample(study.ask()).replace(num_classes=10)
        with torch.no_grad():
            out = build_model(spec).eval()(torch.zeros(1, 3, 32, 32))
        assert out.shape == (1, 10)


@pytest.mark.parametrize("case", BAD, ids=lambda c: c["expect"][:40])
def test_bad_space_files_are_refused_with_path_and_value(case, tmp_path):
    f = tmp_path / "space.yaml"
    f.write_text(case["body"] + "\n")
    with pytest.raises(ConfigError) as err:
        load_space(f)
    assert str(err.value).startswith(f"{f}: ") and case["expect"] in str(err.value)


def test_seed_outside_the_space_is_refused(tmp_path):
    (tmp_path / "seed.yaml").write_text((ROOT / "generators" / "attendnext_seed.yaml").read_text())
    f = tmp_path / "space.yaml"
    f.write_text("seed: seed.yaml\nstages: {depth: {low: 1, high: 3}}\n")
    with pytest.raises(
        ConfigError,
        match=r"seed: the seed spec .* is outside this design "
        r"space \(s0_width=40 not in \[16, 64\]|s2_depth",
    ):
        load_space(f)


def test_hash_changes_with_the_space(tmp_path):
    f = tmp_path / "space.yaml"
    f.write_text("stages: {depth: {low: 1, high: 3}}\n")
    first = load_space(f).hash
    f.write_text("stages: {depth: {low: 1, high: 4}}\n")
    assert load_space(f).hash != first


def test_depthwise_columns_are_one_column_per_channel(tmp_path):
    f = tmp_path / "dw.yaml"
    f.write_text(
        "stem: {width: [16, 24], columns: [2, depthwise]}\n"
        "stages: {count: {low: 2, high: 3}, columns: [4, depthwise], block: [basic, bottleneck]}\n"
    )
    space = load_space(f)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen = set()
    for _ in range(20):
        trial = study.ask()
        spec = space.sample(trial)
        dw = trial.params["stem_columns"] == "depthwise"
        assert spec.stem.columns == (spec.stem.width if dw else 2)
        for i, s in enumerate(spec.stages):
            assert s.columns == (s.width if trial.params[f"s{i}_columns"] == "depthwise" else 4)
        model = build_model(spec.replace(num_classes=10))
        stem_columns = model.stem[0][3]
        assert (stem_columns.groups == stem_columns.in_channels) == dw
        seen.add(dw)
        # such a spec, as a seed, is found again under the word
        assert (
            space.params_of(spec.replace(name="seed"))["stem_columns"]
            == trial.params["stem_columns"]
        )
    assert seen == {True, False}
