"""From an ArchSpec to block plans (pure data) and to a runnable ``nn.Module``."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from gensynth.blocks import (
    Act,
    BlockPlan,
    Conv,
    Dropout,
    GlobalPool,
    Linear,
    Norm,
    attention_condenser,
    condense,
    embed,
    make_block,
    project,
)
from gensynth.spec import ArchSpec, Stage


@dataclass(frozen=True)
class Section:
    """A named part of the network (stem, stage1.., head) and its blocks in order."""

    name: str
    blocks: tuple[BlockPlan, ...]
    columns: int
    depth: int


def network_plan(spec: ArchSpec) -> tuple[Section, ...]:
    """The whole network as data: stem, each stage, head."""
    sections = [Section("stem", (stem_plan(spec),), spec.stem.columns, 1)]
    c_in = spec.stem.width
    for i, stage in enumerate(spec.stages, start=1):
        sections.append(Section(f"stage{i}", stage_plan(stage, c_in), stage.columns, stage.depth))
        c_in = stage.out_channels
    sections.append(Section("head", (head_plan(spec, c_in),), 1, 1))
    return tuple(sections)


def stem_plan(spec: ArchSpec) -> BlockPlan:
    stem, w = spec.stem, spec.stem.width
    if stem.conv_downsample == "strided_conv":
        conv = (Conv(spec.in_channels, w, 3, 2), Norm(w), Act())
    else:
        conv = (Conv(spec.in_channels, w, 3, 1), Norm(w), Act(),
                *condense(stem.conv_downsample, w, 1, stem.blur_size))
    down = None if stem.downsample == "none" else stem.downsample
    columns = (Conv(w, w, 3, 1, stem.columns), Norm(w), Act())
    return BlockPlan("seq", (conv + columns + condense(down, w, stem.columns, stem.blur_size),),
                     label="stem")


def stage_plan(stage: Stage, c_in: int) -> tuple[BlockPlan, ...]:
    """Entry block (changes width and resolution) followed by depth-1 residual blocks."""
    c_out, cols = stage.out_channels, stage.columns
    kind = stage.downsample if stage.stride == 2 else None

    def down(c: int) -> tuple:
        return condense(kind, c, cols, stage.blur_size)

    def path(a: int, down_fn=down) -> tuple:
        return embed(stage.block, a, stage.width, c_out, cols, stage.interaction, down_fn)

    if stage.entry == "dcac":
        entry = (BlockPlan("dcac", (path(c_in), project(c_in, c_out, down(c_in))), stage.gate,
                           label="DC-AC"),)
    elif stage.entry == "conv":
        entry = (BlockPlan("sum", (path(c_in), project(c_in, c_out, down(c_in))), label="conv"),)
    else:
        entry = (attention_condenser(c_in, cols, stage.reduction),
                 BlockPlan("seq", ((*project(c_in, c_out, down(c_in)), Act()),), label="proj"))
    body = BlockPlan("residual", (path(c_out, lambda c: ()),), label=stage.block)
    return entry + (body,) * (stage.depth - 1)


def head_plan(spec: ArchSpec, c_in: int) -> BlockPlan:
    head = spec.head
    conv = (Conv(c_in, head.width, 1), Norm(head.width), Act()) if head.width else ()
    drop = (Dropout(head.dropout),) if head.dropout > 0 else ()
    classifier = Linear(spec.out_channels, spec.num_classes)
    return BlockPlan("seq", ((*conv, GlobalPool(), *drop, classifier),), label="head")


class GenNet(nn.Module):
    """A network built from an ArchSpec: ``head(stages(stem(x)))``."""

    def __init__(self, spec: ArchSpec) -> None:
        super().__init__()
        self.spec = spec
        stem, *stages, head = network_plan(spec)
        self.stem = nn.Sequential(*(make_block(b) for b in stem.blocks))
        self.stages = nn.Sequential(
            *(nn.Sequential(*(make_block(b) for b in s.blocks)) for s in stages))
        self.head = nn.Sequential(*(make_block(b) for b in head.blocks))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))


def build_model(spec: ArchSpec) -> GenNet:
    """Build the PyTorch network an ArchSpec describes (weights freshly initialised).

    Example:
        >>> from gensynth.spec import Stage
        >>> net = build_model(ArchSpec("t", num_classes=10,
        ...                            stages=(Stage(width=16, depth=1, columns=4),)))
        >>> net(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """
    return GenNet(spec)
