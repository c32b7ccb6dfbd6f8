"""ArchSpec: JSON round-trip, content hash, validation messages, file loading."""

from __future__ import annotations

import json

import pytest

from gensynth.corpus import corpus
from gensynth.errors import SpecError
from gensynth.spec import ArchSpec, Stage, load_spec


def test_round_trip_is_lossless_over_the_corpus(seed_spec):
    for spec in [seed_spec, *corpus(100, seed=1)]:
        again = ArchSpec.from_dict(json.loads(spec.to_json()))
        assert again == spec
        assert again.hash == spec.hash


def test_hash_ignores_name_but_sees_every_field(seed_spec):
    assert seed_spec.replace(name="other").hash == seed_spec.hash
    stage = seed_spec.stages[1]
    changes = [
        dict(width=88),
        dict(depth=4),
        dict(columns=2),
        dict(block="bottleneck"),
        dict(entry="conv"),
        dict(interaction="mixed"),
        dict(stride=1),
        dict(downsample="avg"),
        dict(gate="sigmoid"),
        dict(reduction=2),
        dict(blur_size=5),
    ]
    hashes = {seed_spec.hash}
    for change in changes:
        stages = list(seed_spec.stages)
        stages[1] = Stage(**{**stage.__dict__, **change})
        hashes.add(seed_spec.replace(stages=tuple(stages)).hash)
    hashes.add(seed_spec.replace(num_classes=10).hash)
    hashes.add(seed_spec.replace(in_channels=1).hash)
    assert len(hashes) == len(changes) + 3


def test_equal_specs_from_different_key_orders_hash_equal(seed_spec):
    data = seed_spec.to_dict()
    shuffled = dict(reversed(list(data.items())))
    assert ArchSpec.from_dict(shuffled).hash == seed_spec.hash


@pytest.mark.parametrize(
    "change, message",
    [
        ({"width": 90}, "stages[1].width: must be divisible by columns=4, got 90"),
        (
            {"block": "bottlenek"},
            "stages[1].block: must be one of: basic, bottleneck, got "
            "'bottlenek' (did you mean 'bottleneck'?)",
        ),
        ({"depth": 0}, "stages[1].depth: must be >= 1, got 0"),
        ({"stride": 3}, "stages[1].stride: must be <= 2, got 3"),
        ({"downsample": "blurr"}, "(did you mean 'blur'?)"),
        ({"expansion": 2}, "stages[1].expansion: must be 1 for basic blocks"),
        ({"widht": 8}, "stages[1].widht: unknown key; expected one of:"),
        ({"columns": "4"}, "stages[1].columns: must be an integer, got '4'"),
        ({"columns": 128}, "stages[1].columns: must be <= width=84, got 128"),
    ],
)
def test_validation_names_path_and_value(seed_spec, change, message):
    data = seed_spec.to_dict()
    data["stages"][1].update(change)
    with pytest.raises(SpecError) as err:
        ArchSpec.from_dict(data, source="my.json")
    assert str(err.value).startswith("my.json: ")
    assert message in str(err.value)


def test_missing_stages_and_bad_top_level():
    with pytest.raises(SpecError, match="stages: is required but missing"):
        ArchSpec.from_dict({"name": "x"})
    with pytest.raises(SpecError, match="must be a mapping, got"):
        ArchSpec.from_dict([1, 2])
    with pytest.raises(SpecError, match="stem.downsample: must be one of"):
        ArchSpec.from_dict(
            {"stages": [{"width": 8, "depth": 1, "columns": 2}], "stem": {"downsample": "pool"}}
        )


def test_constructing_invalid_spec_directly_is_refused():
    with pytest.raises(SpecError, match="must be divisible by columns=3"):
        ArchSpec("x", stages=(Stage(width=10, depth=1, columns=3),))


def test_load_spec_reports_file_and_line(tmp_path, seed_spec):
    good = tmp_path / "s.json"
    good.write_text(seed_spec.to_json())
    assert load_spec(good) == seed_spec
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages:\n  - {width: 8, depth: [\n")
    with pytest.raises(SpecError, match=r"bad.yaml: invalid YAML at line \d+"):
        load_spec(bad)
    with pytest.raises(SpecError, match="cannot read spec file"):
        load_spec(tmp_path / "absent.yaml")
