"""gensynth: generative synthesis of columnar attention-condenser (DC-AC) vision backbones."""

from gensynth.build import build_model
from gensynth.constraints import load_constraints
from gensynth.cost import cost
from gensynth.errors import GensynthError
from gensynth.explore import ExploreConfig, explore
from gensynth.export import export
from gensynth.inquisitor import Inquisitor
from gensynth.report import write_report
from gensynth.space import load_space
from gensynth.spec import ArchSpec, Head, Stage, Stem, load_spec

__all__ = [
    "ArchSpec",
    "ExploreConfig",
    "GensynthError",
    "Head",
    "Inquisitor",
    "Stage",
    "Stem",
    "build_model",
    "cost",
    "explore",
    "export",
    "load_constraints",
    "load_space",
    "load_spec",
    "write_report",
]
