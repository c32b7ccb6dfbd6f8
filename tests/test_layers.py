"""The module graph reads as the pipeline: nothing imports a module further down the chain."""

from __future__ import annotations

import ast
from pathlib import Path

import gensynth

# spec -> plan -> {blocks -> build, cost, rules, graph} -> inquisitor -> study/explore ->
# report/export -> cli. A module may import only modules of earlier layers.
LAYERS = [
    {"errors", "units"},
    {"schema"},
    {"spec"},
    {"plan", "corpus", "space"},
    {"references"},
    {"constraints"},
    {"blocks", "cost", "rules", "utility"},
    {"build", "graph", "survey", "predictor"},
    {"data", "latency"},
    {"train"},
    {"baselines"},
    {"profile"},
    {"inquisitor"},
    {"record"},
    {"study"},
    {"compare"},
    {"confirm"},
    {"explore"},
    {"report", "export", "init"},
    {"cli", "__init__"},
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}
PACKAGE = Path(gensynth.__file__).parent


def imports(path: Path) -> set[str]:
    """Every gensynth module a file imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gensynth"):
            parts = node.module.split(".")
            if len(parts) > 1:
                found.add(parts[1])
            else:
                found.update(a.name for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("gensynth."))
    return found


def test_every_module_has_a_layer():
    assert {p.stem for p in PACKAGE.glob("*.py")} == set(RANK)


def test_no_import_runs_back_up_the_chain():
    for path in PACKAGE.glob("*.py"):
        for target in imports(path) - {path.stem}:
            assert RANK[target] < RANK[path.stem], f"{path.stem} imports {target}"


def test_the_plan_needs_no_torch():
    for name in ("spec", "plan", "references", "constraints", "rules", "cost", "graph"):
        tree = ast.parse((PACKAGE / f"{name}.py").read_text())
        modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        modules |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not any(m and m.split(".")[0] == "torch" for m in modules), name
