"""TPE vs random search on a fixed, cheap objective, side by side over several seeds.

    python benchmarks/search.py [--seeds 5] [--budget 200]

The objective is NOT proxy training: NetScore from the analytic params and MACs at 224x224,
with a deterministic accuracy stand-in (a saturating function of MACs with penalties for
original-AC entries and single-column stages), under the edge rules and budgets
(constraints/edge.yaml: columnar, no strided pointwise, AADS, params, MACs). For each seed:
random search's best feasible value after `budget` trials, the trials TPE needs to reach
it, and the share of feasible trials of each. Target: TPE needs <= 1/3 of the trials.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
import warnings

import optuna

from gensynth.constraints import load_constraints
from gensynth.cost import cost
from gensynth.rules import budget_violations, structure_violations
from gensynth.space import load_space
from gensynth.study import make_sampler
from gensynth.utility import netscore


def accuracy_standin(spec, macs_g: float) -> float:
    """Deterministic stand-in for accuracy (%), stated as such: more compute helps, with
    diminishing returns; AC entries and single-column stages cost a little."""
    ac = sum(s.entry == "ac" for s in spec.stages)
    single = sum(s.columns == 1 for s in spec.stages)
    return 55 + 40 * (1 - math.exp(-macs_g / 0.12)) - 2.0 * ac - 1.5 * single


def make_objective(space, c):
    def objective(trial: optuna.Trial) -> float:
        spec = space.sample(trial)
        k = cost(spec, c.deployment.resolution)
        metrics = {"params_m": k.params_m, "macs_g": k.macs_g}
        violations = {
            **structure_violations(spec, c.rules),
            **budget_violations(metrics, c.budgets),
        }
        for rule, v in violations.items():
            trial.set_constraint(rule, v)
        trial.set_user_attr("feasible", all(v <= 0 for v in violations.values()))
        return netscore(accuracy_standin(spec, k.macs_g), k.params_m, k.macs_g)

    return objective


def run(sampler: str, seed: int, budget: int, space, c) -> list[tuple[bool, float]]:
    study = optuna.create_study(
        direction="maximize", sampler=make_sampler(sampler, seed, multi=False)
    )
    study.optimize(make_objective(space, c), n_trials=budget)
    return [(t.user_attrs["feasible"], t.value) for t in study.trials]


def best_curve(history: list[tuple[bool, float]]) -> list[float]:
    best, curve = float("-inf"), []
    for feasible, value in history:
        best = max(best, value) if feasible else best
        curve.append(best)
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=200)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore")
    space = load_space("generators/attendnext.yaml")
    c = load_constraints("constraints/edge.yaml")
    print(
        f"{'seed':>4}{'random best':>13}{'TPE trials to reach it':>24}{'feasible random':>17}"
        f"{'feasible TPE':>14}{'TPE best':>10}"
    )
    ratios = []
    start = time.time()
    for seed in range(args.seeds):
        rand = run("random", seed, args.budget, space, c)
        tpe = run("tpe", seed, args.budget, space, c)
        target = best_curve(rand)[-1]
        reach = next((i + 1 for i, b in enumerate(best_curve(tpe)) if b >= target), None)
        ratios.append((reach or args.budget * 10) / args.budget)
        share = lambda h: 100 * sum(f for f, _ in h) / len(h)  # noqa: E731
        print(
            f"{seed:>4}{target:>13.2f}{reach or '> ' + str(args.budget):>24}"
            f"{share(rand):>16.0f}%{share(tpe):>13.0f}%{best_curve(tpe)[-1]:>10.2f}"
        )
    print(
        f"median TPE/random trial ratio: {statistics.median(ratios):.2f} "
        f"(target <= 0.33); {time.time() - start:.0f} s"
    )


if __name__ == "__main__":
    main()
