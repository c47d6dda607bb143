"""The one percentile every benchmark uses, and how figures are printed.

Percentile: nearest rank. The p-th percentile of n values is the ceil(p/100 * n)-th smallest, so
it is always one of the measured values and never drops the slowest: with 30 visitors the p95 is
the 29th smallest, with 20 it is the 19th, with 10 or fewer it is the maximum. A sample that
never completed (a visitor never served, a move never redrawn) is math.inf: it sorts last, so a
percentile that reaches it prints `inf`, and the count of such samples is printed beside it.

Every percentile line is followed by a `<name>_max` line (the maximum, also inf if any sample
never completed), so the tail is always visible.
"""
from __future__ import annotations

import math
from collections.abc import Iterable


def nearest_rank(values: Iterable[float], p: float) -> float:
    """The p-th percentile (0 < p <= 100) by nearest rank: the ceil(p/100 * n)-th smallest."""
    v = sorted(values)
    if not v:
        raise ValueError("nearest_rank: no values")
    if not 0 < p <= 100:
        raise ValueError(f"nearest_rank: p={p} is not in (0, 100]")
    return v[max(1, math.ceil(p / 100 * len(v))) - 1]


def emit(name: str, value: float, unit: str) -> None:
    """One `name value unit` line (value `inf` when something never completed)."""
    print(f"{name} {value:.6g} {unit}", flush=True)


def emit_percentile(name: str, values: list[float], unit: str, what: str, p: float = 95,
                    failed: str = "never completed") -> None:
    """`name` = nearest-rank p-th percentile of `values`, then `name_max` (unit first word, e.g.
    "ms" or "s"). Samples that are math.inf count as `failed` and are named in the note."""
    n = len(values)
    bad = sum(1 for x in values if x == math.inf)
    finite = sorted(x for x in values if x != math.inf)
    median = nearest_rank(values, 50)
    note = f"{unit} (nearest-rank p{p:g} of n={n}; median {median:.4g}; {what}"
    if bad:
        note += f"; {bad} {failed}, counted as inf"
    elif finite:
        note += f"; min {finite[0]:.4g}"
    emit(name, nearest_rank(values, p), note + ")")
    emit(f"{name}_max", max(values), f"{unit} (max of the same {n})")
