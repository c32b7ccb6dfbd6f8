"""Proxy training: a short deterministic loop that reports validation top-1 after each epoch."""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from gensynth.constraints import Proxy
from gensynth.data import ProxyData

# report(epoch, top1 %) -> True to stop now (a pruner judged the trial hopeless)
Report = Callable[[int, float], bool]


@dataclass
class TrainResult:
    accuracy: float  # validation top-1 in % after the last epoch run
    history: list[float]  # validation top-1 (%) after each epoch
    seconds: float
    images_per_s: float  # training throughput
    pruned: bool = False
    shift_consistency: float | None = None  # % of validation predictions stable under shifts
    state_dict: dict[str, torch.Tensor] | None = field(default=None, repr=False)
    accuracies: list[float] = field(default_factory=list)  # each seed's top-1 (proxy.seeds)


def train(
    model: nn.Module,
    data: ProxyData,
    proxy: Proxy,
    report: Report | None = None,
    keep_weights: bool = False,
    device: str = "cpu",
) -> TrainResult:
    """Train ``model`` on the proxy task; deterministic for a given ``proxy.seed`` and threads
    on the CPU (CUDA kernels are not bit-reproducible). ``device``: cpu, cuda or auto.

    Example:
        >>> from gensynth.data import load_dataset  # doctest: +SKIP
        >>> train(build_model(spec), load_dataset(Proxy()), Proxy()).accuracy  # doctest: +SKIP
    """
    return _train(iter([(model, proxy)]), data, proxy.threads, report, keep_weights, device)


DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str) -> torch.device:
    """auto: CUDA when available, else the CPU."""
    if device not in DEVICES:
        from gensynth.errors import ConfigError

        raise ConfigError(f"--device: must be one of: {', '.join(DEVICES)}, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        from gensynth.errors import ConfigError

        raise ConfigError("--device cuda: no CUDA device is available here (use auto or cpu)")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


def on_device(data: ProxyData, device: torch.device) -> ProxyData:
    if data.train_x.device == device:
        return data
    return dataclasses.replace(
        data,
        train_x=data.train_x.to(device),
        train_y=data.train_y.to(device),
        val_x=data.val_x.to(device),
        val_y=data.val_y.to(device),
    )


def train_seeds(
    make: Callable[[], nn.Module],
    data: ProxyData,
    proxy: Proxy,
    report: Report | None = None,
    keep_weights: bool = False,
    device: str = "cpu",
) -> TrainResult:
    """Train ``proxy.seeds`` fresh networks (seeds ``proxy.seed``, ``proxy.seed + 1``, ...)
    epoch by epoch side by side; ``report``, ``history`` and ``accuracy`` see their mean
    top-1, ``accuracies`` each seed's. Seed i's run is exactly ``train(make(), ...)`` after
    ``torch.manual_seed(seed_i)`` with ``proxy.seed = seed_i``; the weights kept are the
    first seed's. One seed is :func:`train`.

    Example:
        >>> r = train_seeds(lambda: build_model(spec), data, proxy)  # doctest: +SKIP
        >>> r.accuracy == statistics.fmean(r.accuracies)  # doctest: +SKIP
        True
    """

    def networks() -> Iterator[tuple[nn.Module, Proxy]]:
        for seed in range(proxy.seed, proxy.seed + proxy.seeds):
            torch.manual_seed(seed)
            yield make(), dataclasses.replace(proxy, seed=seed, seeds=1)

    return _train(networks(), data, proxy.threads, report, keep_weights, device)


def _train(
    networks: Iterator[tuple[nn.Module, Proxy]],  # built lazily, one after another
    data: ProxyData,
    threads: int,
    report: Report | None,
    keep_weights: bool,
    device: str,
) -> TrainResult:
    target = resolve_device(device)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    models = []
    try:
        data = on_device(data, target)
        runs = []
        for model, proxy in networks:  # each run starts from the global stream its build left
            models.append(model.to(target))
            runs.append(_Run(model, data, proxy))
        return _lockstep(runs, report, keep_weights)
    finally:
        torch.set_num_threads(previous)
        for model in models:
            model.to("cpu")


class _Run:
    """One seed's training, advanced an epoch at a time. It keeps its own state of torch's
    global random stream (dropout draws from it), so runs side by side give what each gives
    alone."""

    def __init__(self, model: nn.Module, data: ProxyData, proxy: Proxy) -> None:
        self.model, self.data, self.proxy = model, data, proxy
        self.gen = torch.Generator().manual_seed(proxy.seed)
        self.optimizer = _optimizer(model, proxy)
        per_epoch = math.ceil(len(data.train_y) / proxy.batch_size)
        self.schedule = _schedule(self.optimizer, proxy, per_epoch * proxy.epochs, per_epoch)
        self.rng = torch.get_rng_state()
        self.history: list[float] = []
        self.images, self.busy = 0, 0.0

    def epoch(self) -> float:
        """Train one epoch; the validation top-1 (%) after it."""
        outside = torch.get_rng_state()
        torch.set_rng_state(self.rng)
        self.model.train()
        tick = time.perf_counter()
        for x, y in _batches(self.data, self.proxy, self.gen):
            loss = F.cross_entropy(self.model(x), y, label_smoothing=self.proxy.label_smoothing)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.schedule.step()
            self.images += len(y)
        self.busy += time.perf_counter() - tick
        self.history.append(evaluate(self.model, self.data.val_x, self.data.val_y))
        self.rng = torch.get_rng_state()
        torch.set_rng_state(outside)
        return self.history[-1]


def _lockstep(runs: list[_Run], report: Report | None, keep_weights: bool) -> TrainResult:
    """Every run one epoch at a time; ``report`` sees the mean top-1 after each epoch."""
    history, pruned = [], False
    start = time.perf_counter()
    for epoch in range(runs[0].proxy.epochs):
        history.append(statistics.fmean([run.epoch() for run in runs]))
        if report is not None and report(epoch, history[-1]):
            pruned = True
            break
    first = runs[0]
    consistency = (
        statistics.fmean(shift_consistency(r.model, r.data.val_x, r.proxy.seed) for r in runs)
        if first.proxy.shift_consistency and not pruned
        else None
    )
    weights = (
        {k: v.detach().to("cpu", copy=True) for k, v in first.model.state_dict().items()}
        if keep_weights
        else None
    )
    return TrainResult(
        history[-1],
        history,
        time.perf_counter() - start,
        sum(r.images for r in runs) / sum(r.busy for r in runs),
        pruned,
        consistency,
        weights,
        [r.history[-1] for r in runs],
    )


def _optimizer(model: nn.Module, proxy: Proxy) -> torch.optim.Optimizer:
    decay = [p for p in model.parameters() if p.ndim > 1]
    other = [p for p in model.parameters() if p.ndim <= 1]  # BN and biases: no weight decay
    groups = [
        {"params": decay, "weight_decay": proxy.weight_decay},
        {"params": other, "weight_decay": 0.0},
    ]
    if proxy.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=proxy.lr, momentum=proxy.momentum, nesterov=True)
    return torch.optim.AdamW(groups, lr=proxy.lr)


def _schedule(optimizer: torch.optim.Optimizer, proxy: Proxy, total: int, per_epoch: int):
    """Per step: a linear warm-up over ``proxy.warmup_epochs`` (from lr/warm-up steps to lr),
    then constant or a cosine decay to 0 over the remaining steps."""
    warm = min(total, round(proxy.warmup_epochs * per_epoch))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        if proxy.schedule == "constant":
            return 1.0
        rest = max(1, total - warm)
        return 0.5 * (1 + math.cos(math.pi * min(step - warm, rest) / rest))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _batches(data: ProxyData, proxy: Proxy, gen: torch.Generator):
    order = torch.randperm(len(data.train_y), generator=gen)
    for i in range(0, len(order), proxy.batch_size):
        idx = order[i : i + proxy.batch_size].to(data.train_y.device)
        if len(idx) < 2:  # BatchNorm needs two samples
            continue
        yield (
            augment(data.train_x[idx], proxy.augment_shift, proxy.augment_flip, gen),
            data.train_y[idx],
        )


def augment(x: torch.Tensor, shift: int, flip: bool, gen: torch.Generator) -> torch.Tensor:
    """Random translation by up to ``shift`` pixels (zero fill) and optional horizontal flip."""
    if shift > 0:
        x = shifted(x, torch.randint(-shift, shift + 1, (len(x), 2), generator=gen))
    if flip:
        mask = (torch.rand(len(x), generator=gen) < 0.5).to(x.device)
        x = torch.where(mask[:, None, None, None], x.flip(-1), x)
    return x


def shifted(x: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Translate each image by its own (dy, dx), filling with zeros (the normalised mean)."""
    s = int(offsets.abs().max()) if len(offsets) else 0
    if s == 0:
        return x
    padded = F.pad(x, (s, s, s, s))
    h, w = x.shape[-2:]
    return torch.stack(
        [
            padded[i, :, s + dy : s + dy + h, s + dx : s + dx + w]
            for i, (dy, dx) in enumerate(offsets.tolist())
        ]
    )


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch: int = 256) -> torch.Tensor:
    model.eval()
    return torch.cat([model(x[i : i + batch]).argmax(1) for i in range(0, len(x), batch)])


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy in %."""
    return 100.0 * (predict(model, x) == y).float().mean().item()


def shift_consistency(model: nn.Module, x: torch.Tensor, seed: int = 0) -> float:
    """Zhang (2019) consistency: % of images whose predicted class is the same under two
    independent random shifts of up to 1/8 of the image side."""
    gen = torch.Generator().manual_seed(seed + 1)
    s = max(1, x.shape[-1] // 8)
    a = predict(model, shifted(x, torch.randint(-s, s + 1, (len(x), 2), generator=gen)))
    b = predict(model, shifted(x, torch.randint(-s, s + 1, (len(x), 2), generator=gen)))
    return 100.0 * (a == b).float().mean().item()
