"""gensynth: generative synthesis of columnar attention-condenser (DC-AC) vision backbones."""

from gensynth.build import build_model
from gensynth.cost import cost
from gensynth.errors import GensynthError
from gensynth.spec import ArchSpec, Head, Stage, Stem, load_spec

__all__ = [
    "ArchSpec",
    "GensynthError",
    "Head",
    "Stage",
    "Stem",
    "build_model",
    "cost",
    "load_spec",
]
