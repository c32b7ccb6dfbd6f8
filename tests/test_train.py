"""Proxy training: a small model really learns digits; runs repeat exactly under one seed."""

from __future__ import annotations

import dataclasses
import statistics

import pytest
import torch

from gensynth.build import build_model
from gensynth.constraints import Proxy
from gensynth.data import load_dataset
from gensynth.spec import ArchSpec, Head, Stage, Stem
from gensynth.train import augment, evaluate, shift_consistency, train, train_seeds

PROXY = Proxy(resolution=16, epochs=3, batch_size=64, threads=1, shift_consistency=True)
SMALL = ArchSpec(
    "small",
    num_classes=10,
    stem=Stem(16, 2),
    stages=(Stage(16, 1, 2), Stage(32, 1, 4, stride=2, gate="sigmoid")),
)


@pytest.fixture(scope="module")
def digits():
    return load_dataset(PROXY)


def fit(data, proxy=PROXY, **kw):
    torch.manual_seed(proxy.seed)
    return train(build_model(SMALL), data, proxy, **kw)


def test_a_small_model_learns_digits_well_above_chance(digits):
    result = fit(digits)
    assert result.accuracy > 60.0  # chance is 10%
    assert len(result.history) == 3 and result.images_per_s > 0
    assert 0.0 <= result.shift_consistency <= 100.0


def test_same_seed_same_accuracy(digits):
    a, b = fit(digits), fit(digits)
    assert a.history == b.history


def test_report_callback_sees_every_epoch_and_can_stop(digits):
    seen = []
    result = fit(digits, report=lambda epoch, acc: seen.append((epoch, acc)) or epoch == 1)
    assert result.pruned and [e for e, _ in seen] == [0, 1] and len(result.history) == 2


def test_sgd_constant_schedule_and_kept_weights(digits):
    proxy = dataclasses.replace(
        PROXY, optimizer="sgd", lr=0.05, schedule="constant", epochs=1, label_smoothing=0.1
    )
    result = fit(digits, proxy, keep_weights=True)
    model = build_model(SMALL)
    model.load_state_dict(result.state_dict)
    assert evaluate(model, digits.val_x, digits.val_y) == pytest.approx(result.accuracy)


def test_augment_shift_moves_pixels_and_keeps_shape():
    x = torch.zeros(4, 1, 5, 5)
    x[:, :, 2, 2] = 1
    out = augment(x, 1, True, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and torch.equal(out.sum(dim=(1, 2, 3)), torch.ones(4))
    assert torch.equal(augment(x, 0, False, torch.Generator()), x)


def test_shift_consistency_of_a_constant_model_is_100():
    class Constant(torch.nn.Module):
        def forward(self, x):
            return torch.ones(len(x), 3)

    assert shift_consistency(Constant(), torch.randn(10, 3, 8, 8)) == 100.0


def test_device_auto_falls_back_to_the_cpu_and_cuda_without_one_is_a_clear_error():
    import pytest
    import torch

    from gensynth.errors import ConfigError
    from gensynth.train import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device is available"):
            resolve_device("cuda")
    with pytest.raises(ConfigError, match="must be one of: auto, cpu, cuda"):
        resolve_device("tpu")


def test_warmup_rises_linearly_then_the_cosine_decays_to_zero():
    from gensynth.train import _schedule

    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    proxy = dataclasses.replace(Proxy(), warmup_epochs=0.5)
    sched = _schedule(opt, proxy, total=40, per_epoch=10)  # 5 warm-up steps of 40
    lrs = []
    for _ in range(40):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:5] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    assert lrs[5] == pytest.approx(1.0) and lrs[-1] < 0.01
    assert all(a >= b for a, b in zip(lrs[5:], lrs[6:], strict=False))
    plain = _schedule(torch.optim.SGD([p], lr=1.0), Proxy(), total=40, per_epoch=10)
    assert plain.get_last_lr() == [1.0]  # no warm-up: as before


def test_seeds_side_by_side_give_exactly_what_each_gives_alone(digits):
    # dropout draws from torch's global stream: each run keeps its own, so interleaving the
    # epochs of three seeds changes nothing
    spec = SMALL.replace(head=Head(dropout=0.5))
    proxy = dataclasses.replace(PROXY, seed=4, seeds=3, epochs=2)
    alone = []
    for seed in (4, 5, 6):
        torch.manual_seed(seed)
        run = train(build_model(spec), digits, dataclasses.replace(proxy, seed=seed, seeds=1))
        alone.append(run)
    both = train_seeds(lambda: build_model(spec), digits, proxy, keep_weights=True)
    assert both.accuracies == [r.accuracy for r in alone]
    assert len(set(both.accuracies)) > 1  # three seeds, three different networks
    assert both.history == [
        statistics.fmean(h) for h in zip(*(r.history for r in alone), strict=True)
    ]
    assert both.accuracy == statistics.fmean(both.accuracies)
    assert both.shift_consistency == statistics.fmean(r.shift_consistency for r in alone)
    model = build_model(spec)  # the weights kept are the first seed's
    model.load_state_dict(both.state_dict)
    assert evaluate(model, digits.val_x, digits.val_y) == pytest.approx(alone[0].accuracy)


def test_one_seed_is_plain_training_and_the_report_sees_the_mean(digits):
    alone = fit(digits)
    one = train_seeds(lambda: build_model(SMALL), digits, PROXY)
    assert one.history == alone.history and one.accuracies == [alone.accuracy]
    seen = []
    two = train_seeds(
        lambda: build_model(SMALL),
        digits,
        dataclasses.replace(PROXY, seeds=2),
        report=lambda epoch, acc: seen.append(acc) or epoch == 0,  # prune after epoch 1
    )
    assert two.pruned and seen == two.history and len(two.accuracies) == 2
    assert seen[0] == statistics.fmean(two.accuracies)
