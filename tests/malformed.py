"""The malformed-input corpus: constraints files, design spaces, specs and datasets that a
user or an attacker might hand gensynth. Every case must end in a one-line error naming the
file and the key (or the problem), exit 1 or 2, no traceback, no hang, nothing stored changed.

Each case is written to a fresh folder by `materialise` (binary ones cannot live in a YAML
index); `tests/test_malformed.py` runs them through the CLI.
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Case:
    """One malformed input: ``kind`` picks the command that reads it, ``files`` maps file
    names to contents (the first is the one under test), ``expect`` is part of the message."""

    kind: str  # constraints | space | spec | data | cli
    name: str
    files: dict[str, bytes]
    expect: str
    args: tuple[str, ...] = field(default=())  # cli cases: the arguments


def _text(body: str) -> bytes:
    return body.encode()


CONSTRAINTS_NUMBERS = {
    # key path (as YAML flow) -> (bad values, expected message part)
    "deployment: {resolution: %s}": ("deployment.resolution", ["0", "7", "5000", "1.5", "x"]),
    "deployment: {channels: %s}": ("deployment.channels", ["0", "65", "-1", "true"]),
    "deployment: {classes: %s}": ("deployment.classes", ["0", "1e14", "100000000000000"]),
    "deployment: {batch: %s}": ("deployment.batch", ["0", "2000", "[1]"]),
    "budgets: {params_m: %s}": ("budgets.params_m", ["-1", "0", ".inf", ".nan", "1e12", "'4'"]),
    "budgets: {macs_g: %s}": ("budgets.macs_g", ["-0.5", "0", "-.inf", "[]"]),
    "budgets: {latency_ms: %s}": ("budgets.latency_ms", ["0", ".inf", "yes"]),
    "budgets: {peak_activation_mb: %s}": ("budgets.peak_activation_mb", ["-2", ".nan"]),
    "budgets: {params_m: {at_most: %s, of: mobilenetv3_large}}": (
        "budgets.params_m.at_most",
        ["0", "-1", ".inf", "1e7"],
    ),
    "budgets: {latency_ms: {speedup: %s, over: fbnet_c}}": (
        "budgets.latency_ms.speedup",
        ["0", ".inf", "-3"],
    ),
    "latency: {threads: %s}": ("latency.threads", ["0", "1000"]),
    "latency: {runs: %s}": ("latency.runs", ["0", "100000"]),
    "latency: {warmup: %s}": ("latency.warmup", ["-1", "5000"]),
    "proxy: {epochs: %s}": ("proxy.epochs", ["0", "100000", "2.5"]),
    "proxy: {lr: %s}": ("proxy.lr", ["0", "-0.1", "100", ".nan"]),
    "proxy: {warmup_epochs: %s}": ("proxy.warmup_epochs", ["-1", ".inf", "1e6"]),
    "proxy: {seed: %s}": ("proxy.seed", ["-1", "1e29", "100000000000000000000000000000"]),
    "proxy: {seeds: %s}": ("proxy.seeds", ["0", "-2", "2.5", "101", "three"]),
    "proxy: {batch_size: %s}": ("proxy.batch_size", ["0", "10000000"]),
    "proxy: {max_images: %s}": ("proxy.max_images", ["5", "99999999999"]),
    "proxy: {resolution: %s}": ("proxy.resolution", ["4", "2048"]),
    "proxy: {val_fraction: %s}": ("proxy.val_fraction", ["0", "1", "0.95"]),
    "proxy: {momentum: %s}": ("proxy.momentum", ["-0.1", "1.5"]),
    "proxy: {augment: {shift: %s}}": ("proxy.augment.shift", ["-1", "100"]),
    "utility: {alpha: %s}": ("utility.alpha", ["-1", ".inf", "1000"]),
    "rules: {aads: {min_fraction: %s}}": ("rules.aads.min_fraction", ["1.5", "-0.1", ".nan"]),
    "rules: {accuracy_floor: {min_top1: %s}}": (
        "rules.accuracy_floor.min_top1",
        ["101", "-5", ".inf"],
    ),
    "rules: {columnar: {min_stages: %s}}": ("rules.columnar.min_stages", ["0", "100"]),
    "rules: {columnar: {min_columns: %s}}": ("rules.columnar.min_columns", ["1", "10000"]),
}

CONSTRAINTS_OTHER = [
    ("typo_top", "budgts: {params_m: 1}\n", "did you mean 'budgets'"),
    ("typo_nested", "rules: {aads: {min_frac: 0.5}}\n", "(found 'min_frac': a typo?)"),
    ("typo_nested_budget", "budgets: {parms_m: 1}\n", "did you mean 'params_m'"),
    ("typo_proxy", "proxy: {epoch: 2}\n", "did you mean 'epochs'"),
    ("duplicate_key", "budgets: {params_m: 1}\nbudgets: {params_m: 2}\n", "duplicate key"),
    ("duplicate_nested", "proxy: {epochs: 1, epochs: 2}\n", "duplicate key 'epochs'"),
    (
        "duplicate_objective",
        "utility: {kind: pareto, objectives: [accuracy, accuracy]}\n",
        "repeats",
    ),
    (
        "unknown_objective",
        "utility: {kind: pareto, objectives: [acuracy, params_m]}\n",
        "did you mean 'accuracy'",
    ),
    ("pareto_one", "utility: {kind: pareto, objectives: [accuracy]}\n", "at least 2"),
    ("bad_backend", "latency: {backend: tensorrt}\n", "latency.backend"),
    ("bad_dataset", "proxy: {dataset: imagenet}\n", "proxy.dataset"),
    ("dataset_no_path", "proxy: {dataset: npz}\n", "proxy.path"),
    ("bad_reference", "budgets: {params_m: {at_most: 1, of: resnet50}}\n", "budgets.params_m"),
    ("bad_ref_kind", "budgets: {params_m: {at_most: 1, of: 'ftp:x'}}\n", "budgets.params_m"),
    ("ref_missing_file", "budgets: {params_m: {at_most: 1, of: 'spec:nope.yaml'}}\n", "nope"),
    ("floor_ref_typo", "rules: {accuracy_floor: {reference: fbnetc}}\n", "accuracy_floor"),
    ("netscore_objectives", "utility: {objectives: [accuracy, params_m]}\n", "only a pareto"),
    ("top_list", "- budgets\n", "must be a mapping"),
    ("top_scalar", "42\n", "must be a mapping"),
    ("empty_name", "name: ''\n", "name"),
    ("traversal_name", "name: ../../x/victim\n", "no path separators"),
    ("slash_name", "name: a/b\n", "no path separators"),
    ("dot_name", "name: .hidden\n", "not starting with '.'"),
    ("long_name", "name: " + "n" * 300 + "\n", "1 to 100 characters"),
    ("budgets_list", "budgets: [1, 2]\n", "budgets: must be a mapping"),
    ("proxy_string", "proxy: fast\n", "proxy: must be a mapping"),
    ("bad_yaml", "budgets: {params_m: 1\n", "invalid YAML"),
    ("bad_indent", "budgets:\n  params_m: 1\n macs_g: 2\n", "invalid YAML"),
    ("tab_indent", "budgets:\n\tparams_m: 1\n", "invalid YAML"),
    ("python_tag", "budgets: !!python/object/apply:os.system ['echo pwned']\n", "invalid YAML"),
    ("alias_bomb", "", "aliases"),  # filled below
    ("deep_nesting", "a: " + "[" * 20000 + "]" * 20000 + "\n", "nested too deeply"),
    ("huge_document", "# " + "x" * 1_200_000 + "\n", "characters"),
    ("huge_value_shown_short", "name: [" + ", ".join(["x" * 50] * 1000) + "]\n", "name"),
    ("bool_rules", "rules: yes\n", "rules: must be a mapping"),
    ("aads_string", "rules: {aads: half}\n", "rules.aads"),
    ("schedule_typo", "proxy: {schedule: cosin}\n", "did you mean 'cosine'"),
    ("optimizer_bad", "proxy: {optimizer: lamb}\n", "proxy.optimizer"),
    ("predictor_missing", "latency: {predictor: nope.json}\n", "latency.predictor: file not"),
]

_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 9) + "]\n"
    for i in range(20)
)


SPEC_FIELDS = {
    # a spec body with one field replaced -> (values, key path)
    "num_classes": ("num_classes", ["0", "100000000000000", "-3", "ten"]),
    "in_channels": ("in_channels", ["0", "65", "2.0"]),
    "stem_width": ("stem.width", ["0", "100000", "8.5"]),
    "stem_columns": ("stem.columns", ["0", "9999"]),
    "stem_blur": ("stem.blur_size", ["0", "9", "[3]"]),
    "depth": ("stages[0].depth", ["0", "100000000", "-1", "null"]),
    "width": ("stages[0].width", ["0", "10000000", "15"]),
    "columns": ("stages[0].columns", ["0", "32", "5000"]),
    "stride": ("stages[0].stride", ["0", "3", "4"]),
    "reduction": ("stages[0].reduction", ["0", "1000000"]),
    "blur_size": ("stages[0].blur_size", ["0", "8", "9"]),
    "expansion": ("stages[0].expansion", ["2", "0", "9"]),
    "block": ("stages[0].block", ["resnet", "3"]),
    "entry": ("stages[0].entry", ["dcacc", "[]"]),
    "gate": ("stages[0].gate", ["relu"]),
    "downsample": ("stages[0].downsample", ["blurr", "none"]),
    "head_width": ("head.width", ["0", "100000"]),
    "head_dropout": ("head.dropout", ["1.0", "-0.1", ".nan"]),
}
_SPEC_TEMPLATE = {
    "num_classes": "name: s\nnum_classes: %s\nstages: [{width: 16, depth: 1, columns: 2}]\n",
    "in_channels": "name: s\nin_channels: %s\nstages: [{width: 16, depth: 1, columns: 2}]\n",
    "stem_width": "name: s\nstem: {width: %s, columns: 1}\nstages: [{width: 16, depth: 1, "
    "columns: 2}]\n",
    "stem_columns": "name: s\nstem: {width: 8, columns: %s}\nstages: [{width: 16, depth: 1, "
    "columns: 2}]\n",
    "stem_blur": "name: s\nstem: {blur_size: %s}\nstages: [{width: 16, depth: 1, columns: 2}]\n",
    "head_width": "name: s\nhead: {width: %s}\nstages: [{width: 16, depth: 1, columns: 2}]\n",
    "head_dropout": "name: s\nhead: {dropout: %s}\nstages: [{width: 16, depth: 1, columns: 2}]\n",
}
_STAGE = {"width": "16", "depth": "1", "columns": "2"}

SPEC_OTHER = [
    ("no_stages", "name: s\nstages: []\n", "stages: must have at least 1"),
    (
        "too_many_stages",
        "name: s\nstages: [" + ", ".join(["{width: 8, depth: 1, columns: 1}"] * 20) + "]\n",
        "at most 16 stages",
    ),
    ("stage_typo", "name: s\nstages: [{width: 16, dpeth: 1, columns: 2}]\n", "(found 'dpeth'"),
    ("top_typo", "name: s\nstgaes: []\n", "stages"),
    (
        "traversal",
        "name: ../../x/s\nstages: [{width: 16, depth: 1, columns: 2}]\n",
        "no path separators",
    ),
    ("stages_mapping", "name: s\nstages: {width: 16}\n", "stages: must be a list"),
    ("stage_scalar", "name: s\nstages: [16]\n", "stages[0]: must be a mapping"),
    ("width_indivisible", "name: s\nstages: [{width: 18, depth: 1, columns: 4}]\n", "divisible"),
    ("json_broken", '{"name": "s",', "invalid"),
]

SPACE_CASES = [
    ("blur9", "stages: {blur_size: [9]}\n", "stages.blur_size: item 0 must be <= 7, got 9"),
    ("depth_range_huge", "stages: {depth: {low: 1, high: 100000000}}\n", "stages.depth.high"),
    ("depth_choice_huge", "stages: {depth: [1, 100000000]}\n", "stages.depth: item 1"),
    ("width_huge", "stages: {width: [{low: 8, high: 99999999}]}\n", "stages.width[0].high"),
    ("count_huge", "stages: {count: {low: 1, high: 1000}}\n", "stages.count.high"),
    (
        "columns_zero",
        "stages: {columns: [0, 2]}\n",
        "item 0 must be a positive integer or 'depthwise', got 0",
    ),
    ("reduction_big", "stages: {reduction: [4, 5000]}\n", "stages.reduction: item 1"),
    ("stem_width_big", "stem: {width: [16, 100000]}\n", "stem.width: item 1"),
    ("head_width_big", "head: {width: [null, 1000000]}\n", "head.width: item 1"),
    ("block_typo", "stages: {block: [basic, botleneck]}\n", "got 'botleneck'"),
    ("typo_top", "stgaes: {depth: [1, 2]}\n", "did you mean 'stages'"),
    ("typo_stage", "stages: {dpeth: [1, 2]}\n", "did you mean 'depth'"),
    ("typo_range", "stages: {depth: {low: 1, hihg: 2}}\n", "(found 'hihg': a typo?)"),
    ("range_reversed", "stages: {depth: {low: 4, high: 2}}\n", "must be >= low=4"),
    ("range_float", "stages: {depth: {low: 1, high: 2.5}}\n", "must be an integer"),
    ("step_log", "stages: {depth: {low: 1, high: 8, step: 2, log: true}}\n", "must be 1 when"),
    ("empty_choices", "stages: {gate: []}\n", "at least one choice"),
    ("count_list", "stages: {count: [2, 3]}\n", "must be a range"),
    ("block_range", "stages: {block: {low: 1, high: 2}}\n", "must be a list of choices"),
    ("seed_missing", "seed: absent.yaml\n", "seed: file not found"),
    ("seed_system_file", "seed: /etc/passwd\n", "seed"),
    ("stages_list", "stages: [1, 2]\n", "stages: must be a mapping"),
    ("bool_depth", "stages: {depth: [true]}\n", "must be a positive integer"),
    ("stride_three", "stages: {stride: [1, 3]}\n", "stages.stride"),
    ("widths_short", "stages: {count: {low: 1, high: 6}}\n", "needs a range for each"),
]

CLI_CASES = [
    ("study_traversal", ("--study", "../../x/escape"), "no path separators"),
    ("study_slash", ("--study", "a/b"), "no path separators"),
    ("study_dotdot", ("--study", ".."), "not starting with '.'"),
    ("study_empty", ("--study", ""), "1 to 100 characters"),
    ("trials_zero", ("--trials", "0"), "--trials"),
    ("workers_zero", ("--workers", "0"), "--workers"),
    ("storage_scheme", ("--storage", "mysql+nothing://x/y"), "storage"),
]


def _npz(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


class _Evil:
    """A pickle whose loading would run a shell command (the side effect is a marker file)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def _idx(magic: int, dims: tuple[int, ...], data: bytes) -> bytes:
    return bytes([0, 0, 8, magic]) + b"".join(struct.pack(">I", d) for d in dims) + data


def _png(width: int, height: int) -> bytes:
    """A valid PNG header (IHDR) announcing ``width`` x ``height`` with a tiny body."""
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def data_cases(marker: str) -> list[Case]:
    """Datasets (each case's first file is the dataset; 'c.yaml' names it as the proxy)."""
    rng = np.random.default_rng(0)
    images = rng.random((20, 8, 8)).astype(np.float32)
    labels = np.arange(20) % 2
    cases = []

    def add(name: str, dataset: str, files: dict[str, bytes], path: str, expect: str) -> None:
        config = f"proxy: {{dataset: {dataset}, path: {path}, epochs: 1}}\n".encode()
        cases.append(Case("data", name, {**files, "c.yaml": config}, expect))

    add(
        "npz_string_images",
        "npz",
        {"d.npz": _npz(images=np.array([["a"] * 4] * 20), labels=labels)},
        "d.npz",
        "images must be numbers",
    )
    add(
        "npz_nan_labels",
        "npz",
        {"d.npz": _npz(images=images, labels=np.where(labels, np.nan, 0))},
        "d.npz",
        "labels must be whole class numbers",
    )
    add(
        "npz_fraction_labels",
        "npz",
        {"d.npz": _npz(images=images, labels=labels + 0.5)},
        "d.npz",
        "labels must be whole class numbers",
    )
    add(
        "npz_object_labels",
        "npz",
        {"d.npz": _npz(images=images, labels=labels.astype("complex"))},
        "d.npz",
        "labels must be integers or class names",
    )
    add(
        "npz_nan_images",
        "npz",
        {"d.npz": _npz(images=images * np.nan, labels=labels)},
        "d.npz",
        "NaN or infinite",
    )
    add(
        "npz_one_class",
        "npz",
        {"d.npz": _npz(images=images, labels=labels * 0)},
        "d.npz",
        "at least 2 classes",
    )
    add(
        "npz_count_mismatch",
        "npz",
        {"d.npz": _npz(images=images, labels=labels[:5])},
        "d.npz",
        "20 images but 5 labels",
    )
    add("npz_no_arrays", "npz", {"d.npz": _npz(pixels=images)}, "d.npz", "needs arrays")
    add(
        "npz_bad_shape",
        "npz",
        {"d.npz": _npz(images=images.reshape(-1), labels=labels)},
        "d.npz",
        "images must be",
    )
    add("npz_not_zip", "npz", {"d.npz": b"not a zip at all"}, "d.npz", "cannot read .npz")
    add(
        "npz_pickled_object",
        "npz",
        {"d.npz": _npz(images=np.array([{"a": 1}] * 20, dtype=object), labels=labels)},
        "d.npz",
        "cannot read .npz",
    )
    add("npz_missing", "npz", {"other.txt": b""}, "d.npz", "d.npz")
    evil = pickle.dumps(_Evil(marker))
    add("cifar_evil_pickle", "cifar10", {"cf/data_batch_1": evil}, "cf", "refusing to load")
    add(
        "cifar_list",
        "cifar10",
        {"cf/data_batch_1": pickle.dumps([1, 2, 3])},
        "cf",
        "not a CIFAR batch",
    )
    add(
        "cifar_bad_data",
        "cifar10",
        {"cf/data_batch_1": pickle.dumps({b"data": b"xx"})},
        "cf",
        "not a CIFAR batch",
    )
    add(
        "cifar_strings",
        "cifar10",
        {"cf/data_batch_1": pickle.dumps({b"data": ["a"] * 3072, b"labels": [0]})},
        "cf",
        "not a CIFAR batch",
    )
    add("cifar_truncated", "cifar10", {"cf/data_batch_1": evil[:10]}, "cf", "not a CIFAR batch")
    add("cifar_not_folder", "cifar10", {"cf.bin": b"x"}, "cf.bin", "not a CIFAR python folder")
    png = _png(60000, 60000)
    add(
        "png_bomb",
        "folder",
        {"im/a/bomb.png": png, "im/b/bomb.png": png},
        "im",
        "decompression bomb",
    )
    add(
        "png_garbage",
        "folder",
        {"im/a/x.png": b"garbage", "im/b/y.png": b"garbage"},
        "im",
        "cannot read image",
    )
    add("folder_empty", "folder", {"im/a/readme.txt": b"no images"}, "im", "no images found")
    ok_labels = _idx(1, (2,), b"\x00\x01")
    ok_images = _idx(3, (2, 2, 2), bytes(8))
    add(
        "idx_bad_magic",
        "idx",
        {
            "ix/train-images-idx3-ubyte": b"\x12\x34\x56\x78",
            "ix/train-labels-idx1-ubyte": ok_labels,
        },
        "ix",
        "magic",
    )
    add(
        "idx_huge_header",
        "idx",
        {
            "ix/train-images-idx3-ubyte": _idx(3, (60000, 60000, 60000), b""),
            "ix/train-labels-idx1-ubyte": ok_labels,
        },
        "ix",
        "more than",
    )
    add(
        "idx_truncated",
        "idx",
        {
            "ix/train-images-idx3-ubyte": _idx(3, (2, 2, 2), bytes(3)),
            "ix/train-labels-idx1-ubyte": ok_labels,
            "ix/t10k-images-idx3-ubyte": ok_images,
            "ix/t10k-labels-idx1-ubyte": ok_labels,
        },
        "ix",
        "header says",
    )
    add(
        "idx_missing_test",
        "idx",
        {"ix/train-images-idx3-ubyte": ok_images, "ix/train-labels-idx1-ubyte": ok_labels},
        "ix",
        "missing t10k",
    )
    add(
        "idx_bad_gzip",
        "idx",
        {"ix/train-images-idx3-ubyte.gz": b"not gzip", "ix/train-labels-idx1-ubyte": ok_labels},
        "ix",
        "cannot read IDX",
    )
    add(
        "idx_pairing",
        "idx",
        {
            "ix/train-images-idx3-ubyte": ok_images,
            "ix/train-labels-idx1-ubyte": _idx(1, (3,), b"\x00\x01\x00"),
            "ix/t10k-images-idx3-ubyte": ok_images,
            "ix/t10k-labels-idx1-ubyte": ok_labels,
        },
        "ix",
        "do not pair up",
    )
    add(
        "idx_gz_truncated",
        "idx",
        {
            "ix/train-images-idx3-ubyte.gz": gzip.compress(ok_images)[:12],
            "ix/train-labels-idx1-ubyte": ok_labels,
        },
        "ix",
        "cannot read IDX",
    )
    return cases


def cases(marker: str) -> list[Case]:
    """The whole corpus; ``marker`` is the file a malicious pickle would create."""
    out: list[Case] = []
    for template, (key, values) in CONSTRAINTS_NUMBERS.items():
        for i, value in enumerate(values):
            body = template % value + "\n"
            slug = key.replace(".", "_")
            out.append(Case("constraints", f"{slug}_{i}", {"c.yaml": _text(body)}, f"{key}: "))
    for name, body, expect in CONSTRAINTS_OTHER:
        if name == "alias_bomb":
            body = _BOMB + "budgets: {params_m: *u}\n"
        out.append(Case("constraints", name, {"c.yaml": _text(body)}, expect))
    out.append(
        Case(
            "constraints",
            "predictor_not_json",
            {"c.yaml": b"latency: {predictor: p.json}\n", "p.json": b"{not json"},
            "not a profile",
        )
    )
    out.append(
        Case(
            "constraints",
            "predictor_other_format",
            {"c.yaml": b"latency: {predictor: p.json}\n", "p.json": b'{"format": "x"}'},
            "not a gensynth profile",
        )
    )
    out.append(Case("constraints", "utf16", {"c.yaml": "name: x\n".encode("utf-16")}, "not UTF-8"))
    out.append(
        Case("constraints", "latin1", {"c.yaml": "name: café\n".encode("latin-1")}, "not UTF-8")
    )
    out.append(Case("constraints", "binary", {"c.yaml": bytes(range(256))}, "not UTF-8"))
    for field_name, (key, values) in SPEC_FIELDS.items():
        for i, value in enumerate(values):
            if field_name in _SPEC_TEMPLATE:
                body = _SPEC_TEMPLATE[field_name] % value
            else:
                stage = dict(_STAGE)
                stage[field_name] = value
                if field_name == "expansion" and value == "2":  # basic blocks need 1
                    stage["block"] = "basic"
                inner = ", ".join(f"{k}: {v}" for k, v in stage.items())
                body = f"name: s\nstages: [{{{inner}}}]\n"
            out.append(Case("spec", f"{field_name}_{i}", {"s.yaml": _text(body)}, f"{key}: "))
    for name, body, expect in SPEC_OTHER:
        suffix = "json" if name.startswith("json") else "yaml"
        out.append(Case("spec", name, {f"s.{suffix}": _text(body)}, expect))
    out.append(Case("spec", "utf16", {"s.yaml": "name: s\n".encode("utf-16")}, "not UTF-8"))
    for name, body, expect in SPACE_CASES:
        out.append(Case("space", name, {"g.yaml": _text(body)}, expect))
    out.append(
        Case("space", "alias_bomb", {"g.yaml": _text(_BOMB + "stages: {depth: *u}\n")}, "aliases")
    )
    for name, args, expect in CLI_CASES:
        out.append(Case("cli", name, {}, expect, args))
    out.extend(data_cases(marker))
    return out
