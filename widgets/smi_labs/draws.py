"""The robustness draws of a lab's kernel: every output under the shipped weights and under
K = 200 draws of the weights (``smi.weight_draws``, fixed seed), in one vectorized call.

The weight sets are the K draws followed by the shipped weights, so the value a lab shows and
its band come from the same arrays: the last entry is the value, the first K give the band
(``smi.robustness``'s 5th-95th percentile; tests/test_labs.py checks that they agree). The
draws, and the weights compiled for them, are prepared once per kernel: compiling takes tens
of milliseconds, evaluating K + 1 weight sets well under one.
"""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd

import smi
import smi.model
from smi.data import LEVERS, Theory
from smi.robustness import band

BAND_NOTE = ("Band: the 5th-95th percentile of each output over {k} draws of the model's weights, each "
             "drawn within its suggested range (fixed seed); bars and lines use the shipped weights.")


class Draws:
    """The weight draws of one theory and what they need for fast evaluation."""

    def __init__(self, theory: Theory):
        self.theory = theory
        self.table = smi.weight_draws(theory)
        self.k = len(self.table)
        shipped = pd.DataFrame([{c: theory.param(c) for c in self.table.columns}])
        self.weights = pd.concat([self.table, shipped], ignore_index=True)  # last row: shipped
        params = {c: self.weights[c].to_numpy(dtype=float) for c in self.weights.columns if c != "simulation.quarters"}
        self._compiled = smi.model.compile_theory(theory, params)
        self._static_inputs = self._compiled.linkage_inputs + list(LEVERS)

    @property
    def note(self) -> str:
        return BAND_NOTE.format(k=self.k)

    def evaluate(self, values: dict) -> dict[str, np.ndarray]:
        """Linkages and capabilities of one scenario (the lab's slider values, in range by
        construction), one entry per weight set: arrays shaped (K + 1,)."""
        n = len(self.weights)
        return smi.model.evaluate_arrays({name: np.full(n, float(values[name])) for name in self._static_inputs},
                                         self._compiled)

    def simulate(self, scenario: pd.DataFrame, quarters: int) -> dict[str, np.ndarray]:
        """Every simulated quantity of one scenario: arrays shaped (quarters + 1, K + 1)."""
        a = smi.simulate_draws(scenario, quarters, self.weights, self.theory)
        return {name: v[:, 0, :] for name, v in a.items()}


def spread(a: np.ndarray) -> dict[str, np.ndarray]:
    """An output's shipped-weights value (last entry on the last axis) and its band over the draws."""
    return {"value": a[..., -1], **band(a[..., :-1])}


def agreement(a: dict[str, np.ndarray], names: list[str], lowest: bool) -> tuple[list[str], int, int]:
    """Which of ``names`` is lowest (or highest) at the shipped weights (ties all count), and in
    how many of the draws the same ones are: (names, draws that agree, draws)."""
    m = np.stack([a[n] for n in names])  # (outputs, K + 1)
    m = m if lowest else -m
    tied = np.isclose(m, m.min(axis=0), rtol=0.0, atol=1e-9)
    at_shipped = tied[:, -1]
    agree = tied[at_shipped, :-1].all(axis=0)
    return [n for n, t in zip(names, at_shipped) if t], int(agree.sum()), agree.size


def how_often(count: int, k: int) -> str:
    """Plain words for "holds in ``count`` of ``k`` draws"."""
    if count == k:
        return f"in all {k} weight draws: it holds whatever the weights"
    if count == 0:
        return f"in none of the {k} weight draws: it holds only at the shipped weights"
    return f"in {count} of {k} weight draws: it depends on the weights"


@functools.lru_cache(maxsize=2)
def for_theory(theory: Theory) -> Draws:
    """One set of draws per theory and kernel."""
    return Draws(theory)
