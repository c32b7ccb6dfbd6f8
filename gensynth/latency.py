"""Latency: absolute (median of N timed runs) and paired against a reference (interleaved,
adaptive, as a ratio with a confidence interval), at fixed threads on torch or ONNX Runtime."""

from __future__ import annotations

import io
import math
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from gensynth.constraints import BACKENDS
from gensynth.errors import GensynthError, did_you_mean


@dataclass(frozen=True)
class Latency:
    """Milliseconds per forward pass of one batch; the spread is the interquartile range."""

    median_ms: float
    q1_ms: float
    q3_ms: float
    min_ms: float
    max_ms: float
    runs: int
    backend: str
    threads: int
    shape: tuple[int, ...]

    @property
    def iqr_ms(self) -> float:
        return self.q3_ms - self.q1_ms


def measure_latency(
    model: nn.Module,
    shape: tuple[int, ...],
    backend: str = "torch",
    threads: int = 1,
    warmup: int = 3,
    runs: int = 15,
) -> Latency:
    """Time ``model`` on a random input of ``shape`` (N, C, H, W).

    Example:
        >>> lat = measure_latency(nn.Conv2d(3, 8, 3), (1, 3, 32, 32), runs=3)
        >>> lat.median_ms > 0
        True
    """
    runners = {"torch": _torch_runner, "onnxruntime": _onnxruntime_runner}
    if backend not in runners:
        raise GensynthError(
            f"unknown latency backend {backend!r}; expected one of: "
            f"{', '.join(BACKENDS)}{did_you_mean(backend, BACKENDS)}"
        )
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        times = time_calls(
            runners[backend](model.eval(), torch.randn(*shape), threads), warmup, runs
        )
    finally:
        torch.set_num_threads(previous)
    q = quartiles(times)
    return Latency(
        statistics.median(times),
        q[0],
        q[2],
        min(times),
        max(times),
        runs,
        backend,
        threads,
        tuple(shape),
    )


def time_calls(run: Callable[[], object], warmup: int, runs: int) -> list[float]:
    """Milliseconds of each of ``runs`` calls of ``run``, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1e3)
    return times


def quartiles(times: list[float]) -> list[float]:
    """First quartile, median, third quartile (one value: itself three times)."""
    return statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3


@dataclass(frozen=True)
class Paired:
    """Candidate vs reference, timed interleaved (A B B A ...): the ratio of their latencies.

    ``ratio`` is the median of per-pair ratios (candidate / reference: below 1 is faster);
    ``low``/``high`` a distribution-free 95% confidence interval of that median (sign test).
    """

    ratio: float
    low: float
    high: float
    pairs: int
    candidate_ms: float  # medians of the same interleaved runs
    reference_ms: float
    candidate_iqr_ms: float
    stopped: str  # why measuring stopped: precise | decided | cap

    @property
    def speedup(self) -> float:
        return 1.0 / self.ratio


def median_interval(values: list[float], confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free CI of the median: order statistics from the binomial(n, 1/2)."""
    xs, n = sorted(values), len(values)
    k, tail = 0, 0.0
    while k < n // 2:  # largest k with P(X <= k) <= (1 - confidence) / 2
        p = math.comb(n, k) / 2**n
        if tail + p > (1 - confidence) / 2:
            break
        tail += p
        k += 1
    return xs[max(0, k - 1)], xs[min(n - 1, n - k)]


def measure_paired(
    model: nn.Module | Callable[[], object],
    reference: nn.Module | Callable[[], object],
    shape: tuple[int, ...],
    backend: str = "torch",
    threads: int = 1,
    warmup: int = 3,
    precision: float = 0.05,
    limit: float | None = None,
    min_pairs: int = 10,
    max_pairs: int = 60,
) -> Paired:
    """Time ``model`` against ``reference`` interleaved on one input; stop as soon as the
    ratio's 95% CI is within +-``precision``, or lies wholly on one side of ``limit`` (the
    verdict is certain), or after ``max_pairs`` pairs.

    Each is a module (run on ``backend``) or a ready runner (e.g. of an ONNX session).

    Example:
        >>> p = measure_paired(nn.Conv2d(3, 8, 3), nn.Conv2d(3, 16, 3), (1, 3, 32, 32))
        >>> 0 < p.ratio < 10
        True
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        x = torch.randn(*shape) if shape else None  # only modules need an input
        a, b = (
            m if not isinstance(m, nn.Module) else runner(m, x, backend, threads)
            for m in (model, reference)
        )
        for _ in range(warmup):
            a(), b()
        ta, tb, stopped = [], [], "cap"
        while len(ta) < max_pairs:
            first, second = (a, b) if len(ta) % 2 == 0 else (b, a)  # A B, then B A
            t1, t2 = _timed(first), _timed(second)
            ta.append(t1 if first is a else t2)
            tb.append(t2 if first is a else t1)
            if len(ta) >= min_pairs:
                stopped = _enough(ta, tb, precision, limit)
                if stopped:
                    break
        stopped = stopped or "cap"
    finally:
        torch.set_num_threads(previous)
    ratios = [x / y for x, y in zip(ta, tb, strict=True)]
    low, high = median_interval(ratios)
    q = statistics.quantiles(ta, n=4)
    return Paired(
        statistics.median(ratios),
        low,
        high,
        len(ta),
        statistics.median(ta),
        statistics.median(tb),
        q[2] - q[0],
        stopped,
    )


def _enough(ta: list[float], tb: list[float], precision: float, limit: float | None) -> str:
    ratios = [x / y for x, y in zip(ta, tb, strict=True)]
    mid = statistics.median(ratios)
    low, high = median_interval(ratios)
    if high <= mid * (1 + precision) and low >= mid * (1 - precision):
        return "precise"
    if limit is not None and (high < limit or low > limit):
        return "decided"
    return ""


def _timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return (time.perf_counter() - start) * 1e3


def runner(model: nn.Module, x: torch.Tensor, backend: str, threads: int) -> Callable[[], object]:
    """A no-argument callable that runs ``model`` once on ``x`` with ``backend``."""
    runners = {"torch": _torch_runner, "onnxruntime": _onnxruntime_runner}
    if backend not in runners:
        raise GensynthError(
            f"unknown latency backend {backend!r}; expected one of: "
            f"{', '.join(BACKENDS)}{did_you_mean(backend, BACKENDS)}"
        )
    return runners[backend](model.eval(), x, threads)


def onnx_session_runner(data: bytes, x: torch.Tensor, threads: int) -> Callable[[], object]:
    """A runner for an ONNX model given as bytes (a user's reference file)."""
    session = _session(data, threads)
    feed = {session.get_inputs()[0].name: x.numpy()}
    return lambda: session.run(None, feed)


def _session(data: bytes, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def _torch_runner(model: nn.Module, x: torch.Tensor, threads: int) -> Callable[[], object]:
    def run() -> object:
        with torch.inference_mode():
            return model(x)

    return run


def onnx_bytes(model: nn.Module, x: torch.Tensor, dynamic_batch: bool = False) -> bytes:
    """Export to ONNX (opset 17, TorchScript-based exporter) in memory."""
    buffer = io.BytesIO()
    axes = {"input": {0: "batch"}, "logits": {0: "batch"}} if dynamic_batch else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model.eval(),
            (x,),
            buffer,
            input_names=["input"],
            output_names=["logits"],
            opset_version=17,
            dynamo=False,
            dynamic_axes=axes,
        )
    return buffer.getvalue()


def _onnxruntime_runner(model: nn.Module, x: torch.Tensor, threads: int) -> Callable[[], object]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    session = ort.InferenceSession(
        onnx_bytes(model, x), options, providers=["CPUExecutionProvider"]
    )
    feed = {"input": x.numpy()}
    return lambda: session.run(None, feed)
