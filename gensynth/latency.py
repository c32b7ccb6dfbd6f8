"""Latency: warm-up, then the median of N timed runs at fixed threads (torch or ONNX Runtime)."""

from __future__ import annotations

import io
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
        run = runners[backend](model.eval(), torch.randn(*shape), threads)
        for _ in range(warmup):
            run()
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            run()
            times.append((time.perf_counter() - start) * 1e3)
    finally:
        torch.set_num_threads(previous)
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
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
    options.log_severity_level = 3
    session = ort.InferenceSession(
        onnx_bytes(model, x), options, providers=["CPUExecutionProvider"]
    )
    feed = {"input": x.numpy()}
    return lambda: session.run(None, feed)
