"""Confirmation: the top candidates retrained at higher fidelity with several seeds, so the
named winner does not rest on one short, single-seed proxy run.

Each of the top-k feasible trials is retrained on the same proxy data with the same recipe,
``epochs x factor`` epochs, once per seed (initialisation, order and augmentation change;
the data split does not). The confirmed winner is the best by the utility computed from
the mean accuracy; the table (mean +- sd, how the ranking changed) is stored in the study.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable
from typing import Any

import optuna
import torch
from torch import nn

from gensynth.build import build_model
from gensynth.compare import top_records
from gensynth.constraints import Constraints, Proxy
from gensynth.data import ProxyData
from gensynth.record import TrialRecord
from gensynth.train import train
from gensynth.utility import utility_netscore

SEEDS = (1, 2)
EPOCH_FACTOR = 2


def confirm(
    study: optuna.Study,
    c: Constraints,
    inquisitor: Any,
    top: int = 3,
    seeds: tuple[int, ...] = SEEDS,
    factor: int = EPOCH_FACTOR,
) -> dict[str, Any] | None:
    """Retrain the top-k feasible trials; store and return the confirmation table."""
    records = top_records(study, top)
    if not records or inquisitor.data is None:
        return None
    epochs = c.proxy.epochs * factor
    previous = study.user_attrs.get("confirmation")
    numbers = [r.number for r in records]
    if previous and previous.get("numbers") == numbers and previous.get("epochs") == epochs:
        return previous  # kept across resume: nothing new to confirm
    rows = [_confirm_one(r, c, inquisitor, seeds, epochs) for r in records]
    for rank, row in enumerate(rows, start=1):
        row["rank_search"] = rank
    ranked = sorted(rows, key=lambda row: -row["score"])
    for rank, row in enumerate(ranked, start=1):
        row["rank_confirmed"] = rank
    table = {
        "epochs": epochs,
        "seeds": list(seeds),
        "numbers": numbers,
        "rows": rows,
        "winner": ranked[0]["number"],
        "score": c.utility.kind,
    }
    study.set_user_attr("confirmation", table)
    return table


def _confirm_one(
    r: TrialRecord, c: Constraints, inquisitor: Any, seeds: tuple[int, ...], epochs: int
) -> dict[str, Any]:
    spec = inquisitor.proxy_spec(r.arch())
    proxy = dataclasses.replace(c.proxy, epochs=epochs)
    accuracies = retrain(
        lambda: build_model(spec), inquisitor.data, proxy, seeds, inquisitor.device
    )
    mean = statistics.fmean(accuracies)
    sd = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
    metrics = {**r.metrics, "accuracy": mean}
    score = utility_netscore(metrics, c.utility) if c.utility.kind == "netscore" else mean
    return {
        "number": r.number,
        "search_accuracy": r.metrics.get("accuracy"),
        "accuracies": accuracies,
        "mean": mean,
        "sd": sd,
        "score": score,
        "search_score": r.values[0] if r.values else None,
    }


def retrain(
    make: Callable[[], nn.Module],
    data: ProxyData,
    proxy: Proxy,
    seeds: tuple[int, ...],
    device: str = "cpu",
) -> list[float]:
    """Proxy top-1 of a fresh network per seed (initialisation, order, augmentation)."""
    accuracies = []
    for seed in seeds:
        torch.manual_seed(seed)
        accuracies.append(
            train(make(), data, dataclasses.replace(proxy, seed=seed), device=device).accuracy
        )
    return accuracies
