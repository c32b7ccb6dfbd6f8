"""Blocks: BlurPool values, every downsample and block kind forward + backward, registries."""

from __future__ import annotations

import itertools

import pytest
import torch

from gensynth.blocks import (
    DCAC,
    BlurPool,
    ConvEntry,
    HalfMaxPool2d,
    MaxShiftPool,
    edge_pad,
    make_block,
)
from gensynth.build import build_model
from gensynth.errors import SpecError
from gensynth.plan import BINOMIAL, BlockPlan, Blur, condense, embed, shared_prefix, stage_plan
from gensynth.spec import BLOCKS, DOWNSAMPLES, ENTRIES, GATES, INTERACTIONS, Stage

GRID = torch.arange(16.0).reshape(1, 1, 4, 4)  # x[r, c] = 4r + c


@pytest.mark.parametrize(
    "size, pad_mode, expected",
    [
        (3, "reflect", [[2.5, 4.0], [8.5, 10.0]]),
        (3, "zero", [[0.9375, 2.5], [6.25, 10.0]]),  # (0+2*2+6)/4, (13+50+37)/16
        (2, "reflect", [[2.5, 4.5], [10.5, 12.5]]),  # = AvgPool 2x2
        (1, "reflect", [[0.0, 2.0], [8.0, 10.0]]),  # plain subsampling
    ],
)
def test_blurpool_matches_hand_computed_values(size, pad_mode, expected):
    out = BlurPool(1, size, pad_mode=pad_mode)(GRID)
    assert torch.allclose(out[0, 0], torch.tensor(expected))


@pytest.mark.parametrize("size", sorted(BINOMIAL))
def test_blurpool_filters_are_normalised_binomials_and_fixed(size):
    pool = BlurPool(3, size)
    taps = torch.tensor(BINOMIAL[size], dtype=torch.float32)
    assert torch.allclose(pool.kernel[1, 0], torch.outer(taps, taps) / taps.sum() ** 2)
    assert list(pool.parameters()) == []
    constant = torch.full((1, 3, 9, 9), 7.0)
    assert torch.allclose(pool(constant), torch.full((1, 3, 5, 5), 7.0))


@pytest.mark.parametrize("size, side", itertools.product(sorted(BINOMIAL), [1, 2, 3, 5]))
def test_blurpool_handles_maps_smaller_than_the_pad(size, side):
    x = torch.randn(2, 4, side, side)
    for mode in ("reflect", "replicate", "zero"):
        out = BlurPool(4, size, pad_mode=mode)(x)
        assert out.shape == (2, 4, (side + 1) // 2, (side + 1) // 2)
        assert torch.isfinite(out).all()


@pytest.mark.parametrize("size, side", itertools.product((2, 3, 5), [1, 2, 3, 8, 9]))
def test_blurpool_eager_pad_equals_the_exported_slices(size, side):
    # eager runs F.pad (fast), ONNX export the slice-and-concat form (static shapes)
    x = torch.randn(2, 3, side, side)
    for mode in ("reflect", "replicate", "zero"):
        pool = BlurPool(3, size, pad_mode=mode)
        lo, hi = pool.pad
        used = "replicate" if mode == "reflect" and side <= hi else mode
        padded = edge_pad(edge_pad(x, lo, hi, used, -1), lo, hi, used, -2)
        expected = torch.nn.functional.conv2d(padded, pool.kernel, stride=2, groups=3)
        assert torch.equal(pool(x), expected)


@pytest.mark.parametrize("entry, block", itertools.product(("dcac", "conv"), BLOCKS))
def test_a_shared_downsample_is_computed_once_with_the_same_values(entry, block):
    stage = Stage(width=8, depth=1, columns=2, block=block, entry=entry, stride=2)
    plan = stage_plan(stage, 4)[0]
    shared = shared_prefix(plan)
    assert shared == (1 if block == "basic" else 0)  # basic paths start with their blur
    torch.manual_seed(0)
    module = make_block(plan).eval()
    assert isinstance(module, DCAC | ConvEntry)
    blurs = [m for m in module.modules() if isinstance(m, BlurPool)]
    assert len(blurs) == (1 if shared else 2)
    x = torch.randn(1, 4, 9, 9)
    branches = (
        (module.attention, module.feature) if entry == "dcac" else (module.main, module.shortcut)
    )
    if shared:  # the same block without sharing: each branch blurs for itself
        for branch in branches:
            branch[0] = BlurPool(4, 3)
        condense, module.condense = module.condense, torch.nn.Identity()
        with torch.no_grad():
            separate = module(x)
        for branch in branches:
            branch[0] = torch.nn.Identity()
        module.condense = condense
        with torch.no_grad():
            assert torch.allclose(module(x), separate, atol=1e-6)
    assert shared_prefix(BlockPlan("dcac", ((Blur(4, 3),), (Blur(4, 2),)))) == 0


@pytest.mark.parametrize("h, w", [(1, 1), (2, 2), (5, 8), (8, 5), (57, 57)])
def test_fast_pools_equal_torchs_pooling(h, w):
    x = torch.randn(2, 3, h, w)
    assert torch.equal(HalfMaxPool2d()(x), torch.nn.functional.max_pool2d(x, 2, 2, ceil_mode=True))
    padded = torch.nn.functional.pad(x, (0, 1, 0, 1), mode="replicate")
    assert torch.equal(MaxShiftPool()(x), torch.nn.functional.max_pool2d(padded, 2, stride=1))


def test_maxblurpool_keeps_the_ceil_half_size():
    for side in (1, 2, 5, 8):
        maxblur = make_block(BlockPlan("seq", (condense("maxblur", 2, 1),)))
        assert maxblur(torch.randn(1, 2, side, side)).shape[-1] == (side + 1) // 2


def test_unknown_names_get_helpful_errors():
    with pytest.raises(SpecError, match="did you mean 'maxblur'"):
        condense("maxblurr", 4, 2)
    with pytest.raises(SpecError, match="did you mean 'bottleneck'"):
        embed("botleneck", 4, 4, 4, 2, "mixed", lambda c: ())
    with pytest.raises(SpecError, match="unknown block kind 'dcca'"):
        make_block(BlockPlan("dcca", ()))
    with pytest.raises(SpecError, match="one of 1..7"):
        BlurPool(2, 9)
    with pytest.raises(SpecError, match="did you mean 'reflect'"):
        BlurPool(2, 3, pad_mode="reflct")


def assert_trains(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Forward + backward: finite output, a finite gradient on every parameter."""
    module.train()
    out = module(x)
    assert torch.isfinite(out).all()
    out.square().mean().backward()
    for name, p in module.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"
    return out


@pytest.mark.parametrize("kind", DOWNSAMPLES)
def test_every_downsample_kind_halves_and_trains(kind):
    module = make_block(BlockPlan("seq", (condense(kind, 6, 3),)))
    x = torch.randn(2, 6, 7, 7, requires_grad=True)
    assert assert_trains(module, x).shape == (2, 6, 4, 4)


@pytest.mark.parametrize(
    "entry, block, interaction, gate", itertools.product(ENTRIES, BLOCKS, INTERACTIONS, GATES)
)
def test_every_block_kind_forward_backward(entry, block, interaction, gate):
    stage = Stage(
        width=12,
        depth=2,
        columns=3,
        block=block,
        entry=entry,
        interaction=interaction,
        stride=2,
        gate=gate,
        expansion=2 if block == "bottleneck" else 1,
    )
    module = torch.nn.Sequential(*map(make_block, stage_plan(stage, c_in=8)))
    out = assert_trains(module, torch.randn(2, 8, 9, 9))
    assert out.shape == (2, stage.out_channels, 5, 5)


@pytest.mark.parametrize("downsample", DOWNSAMPLES)
def test_every_downsample_inside_a_network(downsample):
    from tests.conftest import tiny_spec

    net = build_model(tiny_spec(downsample=downsample, entry="conv"))
    assert assert_trains(net, torch.randn(2, 3, 16, 16)).shape == (2, 5)
