"""Analytic cost == fvcore on built models (params, conv + linear MACs), activation memory."""

from __future__ import annotations

import random

import pytest
import torch
from fvcore.nn import FlopCountAnalysis, parameter_count

from gensynth.blocks import BlurPool
from gensynth.build import build_model
from gensynth.corpus import corpus
from gensynth.cost import cost


def fvcore_counts(spec, resolution):
    net = build_model(spec).eval()
    flops = FlopCountAnalysis(net, torch.zeros(1, spec.in_channels, resolution, resolution))
    flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    by_op = flops.by_operator()
    return parameter_count(net)[""], by_op.get("conv", 0) + by_op.get("linear", 0)


def test_seed_matches_fvcore_at_224(seed_spec):
    c = cost(seed_spec, 224)
    assert (c.params, c.macs) == fvcore_counts(seed_spec, 224)
    assert c.params == 3_838_004 and c.macs == 516_471_548  # stated in README.md


CORPUS = corpus(200, seed=0)


@pytest.mark.parametrize("index", range(0, 200, 20))
def test_random_corpus_matches_fvcore(index):
    """200 random specs (seeded) at random input sizes, in ten chunks."""
    rng = random.Random(index)
    for spec in CORPUS[index : index + 20]:
        resolution = rng.randint(5, 48)
        c = cost(spec, resolution)
        assert (c.params, c.macs) == fvcore_counts(spec, resolution), spec.name


def test_the_corpus_covers_every_option():
    seen = {
        (f, getattr(s, f))
        for spec in CORPUS
        for s in spec.stages
        for f in ("block", "entry", "interaction", "downsample", "gate", "stride")
    }
    from gensynth.spec import BLOCKS, DOWNSAMPLES, ENTRIES, GATES, INTERACTIONS

    for field, values in [
        ("block", BLOCKS),
        ("entry", ENTRIES),
        ("interaction", INTERACTIONS),
        ("downsample", DOWNSAMPLES),
        ("gate", GATES),
        ("stride", (1, 2)),
    ]:
        assert {(field, v) for v in values} <= seen


@pytest.mark.parametrize("spec", [*corpus(10, seed=3)], ids=lambda s: s.name)
def test_peak_activation_matches_hooks_and_layers_match_modules(spec):
    net = build_model(spec).eval()
    sizes, shapes = [], []

    def hook(module, inputs, output):
        sizes.append(inputs[0].numel() + output.numel())
        if isinstance(module, torch.nn.Conv2d):
            shapes.append(
                (
                    module.in_channels,
                    module.out_channels,
                    module.kernel_size[0],
                    module.stride[0],
                    module.groups,
                    tuple(output.shape[1:]),
                )
            )

    for m in net.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear, BlurPool)):
            m.register_forward_hook(hook)
    with torch.no_grad():
        net(torch.zeros(1, spec.in_channels, 24, 24))
    c = cost(spec, 24)
    assert c.peak_activation_bytes == 4 * max(sizes)
    from gensynth.plan import Conv

    planned = sorted(
        (
            x.layer.c_in,
            x.layer.c_out,
            x.layer.k,
            x.layer.stride,
            x.layer.groups,
            (x.shape_out.c, x.shape_out.h, x.shape_out.w),
        )
        for x in c.layers
        if isinstance(x.layer, Conv)
    )
    assert planned == sorted(shapes)


def test_section_totals_add_up(seed_spec):
    c = cost(seed_spec, 224)
    assert sum(s.params for s in c.sections) == c.params
    assert [s.shape_out.h for s in c.sections[:-1]] == [56, 56, 28, 14, 7]
