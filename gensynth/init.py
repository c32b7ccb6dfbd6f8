"""`gensynth init`: a profile to edit, copied from the shipped constraints and design space
(with their comments), checked to load before anything is written."""

from __future__ import annotations

import re
from pathlib import Path

from gensynth.constraints import load_constraints
from gensynth.errors import ConfigError
from gensynth.schema import name_problem
from gensynth.space import load_space

ROOT = Path(__file__).resolve().parent.parent  # the checkout: constraints/, generators/
PROFILES = ("edge", "edge_pareto", "mcu")
SPACES = {"edge": "attendnext", "edge_pareto": "attendnext", "mcu": "mcu"}


def shipped(kind: str, name: str) -> Path:
    """A shipped file: constraints/<name>.yaml or generators/<name>.yaml."""
    path = ROOT / kind / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(
            f"{path}: shipped file not found (gensynth must be installed from a "
            "checkout: pip install -e .)"
        )
    return path


def init_profile(folder: Path, start: str = "edge", force: bool = False) -> list[Path]:
    """Write ``folder``/constraints.yaml, space.yaml and seed.yaml from the shipped
    ``start`` profile, named after the folder; returns the files written."""
    name = folder.name
    problem = name_problem(name)
    if problem:
        raise ConfigError(f"{folder}: the profile name (the folder's name) {problem}")
    if start not in PROFILES:
        raise ConfigError(f"--from: must be one of {', '.join(PROFILES)}, got {start!r}")
    space_src = shipped("generators", SPACES[start])
    seed_name = re.search(r"^seed:\s*(\S+)", space_src.read_text(), re.M).group(1)
    header = (
        f"# gensynth profile '{name}', started from the shipped {start} profile by "
        "`gensynth init`.\n# Edit freely: every key is documented in constraints/README.md. "
        "Then look before you search:\n"
        f"#   gensynth space --constraints {folder}/constraints.yaml --generator "
        f"{folder}/space.yaml\n"
    )

    def named(text: str) -> str:
        return re.sub(r"^name:.*$", f"name: {name}", text, count=1, flags=re.M)

    space_text = re.sub(r"^seed:\s*\S+", "seed: seed.yaml", space_src.read_text(), flags=re.M)
    texts = {
        "constraints.yaml": header + named(shipped("constraints", start).read_text()),
        "space.yaml": named(space_text),
        "seed.yaml": (space_src.parent / seed_name).read_text(),
    }
    targets = {folder / f: text for f, text in texts.items()}
    existing = [str(p) for p in targets if p.exists()]
    if existing and not force:
        raise ConfigError(f"{', '.join(existing)} exist(s); pass --force to overwrite")
    folder.mkdir(parents=True, exist_ok=True)
    for path, text in targets.items():
        path.write_text(text)
    load_constraints(folder / "constraints.yaml")  # what we wrote loads (and the seed fits)
    load_space(folder / "space.yaml")
    return list(targets)
