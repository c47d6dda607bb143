"""Benchmarks: `make bench` prints one `name value unit` line per figure.

Targets: model_evals_per_s >= 1e6 (linkages + capabilities, vectorized), sim_40q_10k_s <= 1
(40 quarters x 10,000 runs). sensitivity_analysis_s is the SALib Morris run that
tests/test_responsiveness.py uses; robustness_* time one scenario under the 200 weight draws
(what a lab recomputes on every move). Benchmarks measure; tests check behaviour.

Repeats: the model figures here are each the fastest of several runs (model_evals_per_s,
sim_40q_10k_s and sensitivity_analysis_s of 3; explain_* and robustness_* of 5), so a noisy
neighbour on the shared cores inflates them less. The Lighthouse figures (bench_lighthouse.py)
are medians of 3 runs of each page, with the lowest single run printed too. Every other figure
(bench_book.py, bench_voila.py) is one measurement per run: a build time, a page weight, or a
percentile over many moves or visitors (nearest rank, with its maximum printed beside it:
benchmarks/stats.py).
"""
from __future__ import annotations

import runpy
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import smi  # noqa: E402
from benchmarks.stats import emit  # noqa: E402


def best_of(fn, repeats: int) -> float:
    """The fastest of `repeats` runs, in seconds."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def model() -> None:
    n = 1_000_000
    df = smi.random_scenarios(n)
    smi.evaluate(df.head(10))  # load and compile the theory outside the timing
    t = best_of(lambda: smi.evaluate(df), 3)
    emit("model_evals_per_s", n / t, "scenarios/s (best of 3)")

    runs = smi.random_scenarios(10_000, seed=1)
    t = best_of(lambda: smi.simulate(runs, quarters=40), 3)
    emit("sim_40q_10k_s", t, "s (best of 3)")

    one = smi.preset("diluted_key_terms")
    t = best_of(lambda: smi.explain(one), 5)
    emit("explain_static_one_scenario_ms", t * 1000, "ms (best of 5)")
    t = best_of(lambda: smi.explain(smi.preset("price_hike_discounted"), ["cumulative_dysfunction"]), 5)
    emit("explain_dynamics_one_scenario_ms", t * 1000, "ms (best of 5)")

    from smi.sensitivity import global_sensitivity
    t = best_of(global_sensitivity, 3)
    emit("sensitivity_analysis_s", t, "s (best of 3; SALib Morris, 24 trajectories, every input and weight, as the tests run it)")

    draws = smi.weight_draws()
    t = best_of(lambda: smi.robustness(one, draws=draws), 5)
    emit("robustness_static_one_scenario_ms", t * 1000, f"ms (best of 5; {len(draws)} weight draws, every linkage and capability)")
    dyn = smi.preset("price_hike_discounted")
    t = best_of(lambda: smi.simulate_draws(dyn, draws=draws), 5)
    emit("robustness_dynamics_one_scenario_ms", t * 1000, f"ms (best of 5; {len(draws)} weight draws x 40 quarters)")


def main() -> int:
    model()
    # each benchmarks/bench_*.py adds its figures (book build, explorables, Voila, ...)
    for extra in sorted(Path(__file__).parent.glob("bench_*.py")):  # not loadtest.py: `make loadtest`
        runpy.run_path(str(extra), run_name="bench")["main"]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
