"""How much an answer depends on the book's assumptions: the same scenario under many weights.

The studies give directions, never sizes, so every weight in ``data/parameters.csv`` is an
assumption with a suggested range. A *draw* picks every weight uniformly inside its range
(fixed seed, so the book, the labs and the tests see the same draws); pairs that must stay
ordered (``strictness_low`` <= ``strictness_high``) are sorted. The robustness band of an
output is its spread over the draws: by default the 5th-95th percentile (linear interpolation
between order statistics, numpy's default), with the min and max beside it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import data as _data
from . import dynamics as _dyn
from . import model as _model
from .data import Theory
from .model_spec import ordered_pairs

K_DEFAULT = 200
SEED_DEFAULT = 20120101
BAND = (5.0, 95.0)


def weight_draws(theory: Theory | None = None, k: int = K_DEFAULT, seed: int = SEED_DEFAULT) -> pd.DataFrame:
    """``k`` rows, one column per weight, each drawn uniformly within its suggested range."""
    theory = theory or _data.load()
    if k < 1:
        raise ValueError(f"k must be at least 1 (value {k!r})")
    rng = np.random.default_rng(seed)
    par = theory.parameters
    cols = {r.name: rng.uniform(r.min, r.max, k) for r in par.itertuples()}
    cols["simulation.quarters"] = np.full(k, theory.param("simulation.quarters"))
    for lo, hi, _ in ordered_pairs(set(cols)):
        a, b = cols[lo], cols[hi]
        cols[lo], cols[hi] = np.minimum(a, b), np.maximum(a, b)
    return pd.DataFrame(cols)


def _expand(df: pd.DataFrame, draws: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Every scenario under every draw: rows scenario-major, weights as per-row arrays."""
    k = len(draws)
    x = df.loc[df.index.repeat(k)].reset_index(drop=True)
    params = {c: np.tile(draws[c].to_numpy(dtype=float), len(df)) for c in draws.columns if c != "simulation.quarters"}
    return x, params


def evaluate_draws(df: pd.DataFrame, draws: pd.DataFrame | None = None, theory: Theory | None = None) -> pd.DataFrame:
    """Linkages and capabilities of every scenario under every draw; columns ``scenario``, ``draw``
    and the outputs."""
    theory = theory or _data.load()
    draws = weight_draws(theory) if draws is None else draws
    x, params = _expand(df, draws)
    c = _model.compile_theory(theory, params)
    arrays = _model.input_arrays(x, c.linkage_inputs + list(_data.LEVERS), theory)
    out = pd.DataFrame(_model.evaluate_arrays(arrays, c))
    out.insert(0, "draw", np.tile(np.arange(len(draws)), len(df)))
    out.insert(0, "scenario", np.repeat(np.arange(len(df)), len(draws)))
    return out


def simulate_draws(df: pd.DataFrame, quarters: int | None = None, draws: pd.DataFrame | None = None,
                   theory: Theory | None = None) -> dict[str, np.ndarray]:
    """Every scenario under every draw: named arrays shaped (quarters + 1, scenarios, draws)."""
    theory = theory or _data.load()
    draws = weight_draws(theory) if draws is None else draws
    quarters = int(theory.param("simulation.quarters") if quarters is None else quarters)
    x, params = _expand(df, draws)
    a = _dyn.simulate_core(x, quarters, theory, params=params)
    return {k: v.reshape(quarters + 1, len(df), len(draws)) for k, v in a.items()}


def summarize_draws(df: pd.DataFrame, quarters: int | None = None, draws: pd.DataFrame | None = None,
                    theory: Theory | None = None) -> pd.DataFrame:
    """Dysfunction summaries (cumulative, final, peak, functioning loss) per scenario and draw."""
    theory = theory or _data.load()
    draws = weight_draws(theory) if draws is None else draws
    quarters = int(theory.param("simulation.quarters") if quarters is None else quarters)
    x, params = _expand(df, draws)
    s = pd.DataFrame(_dyn.summarize_core(_dyn.simulate_core(x, quarters, theory, params=params)))
    s.insert(0, "draw", np.tile(np.arange(len(draws)), len(df)))
    s.insert(0, "scenario", np.repeat(np.arange(len(df)), len(draws)))
    return s


def capability_draws(connection: float, levers: dict[str, float], draws: pd.DataFrame | None = None,
                     theory: Theory | None = None) -> dict[str, np.ndarray]:
    """The capability part of the model (functioning, synergy, capabilities) for a given SMI
    connection and lever values under every draw: arrays of length ``len(draws)``. For explorers
    that take the connection from a slider instead of deriving it from the linkages."""
    theory = theory or _data.load()
    draws = weight_draws(theory) if draws is None else draws
    k = len(draws)
    params = {c: draws[c].to_numpy(dtype=float) for c in draws.columns if c != "simulation.quarters"}
    lv = {name: np.full(k, float(levers[name])) for name in _data.LEVERS}
    return _model.capability_arrays(np.full(k, float(connection)), lv, _model.compile_theory(theory, params))


def band(values: np.ndarray, axis: int = -1, q: tuple[float, float] = BAND) -> dict[str, np.ndarray]:
    """Low and high percentile, min, median and max along ``axis``."""
    lo, mid, hi = np.percentile(values, [q[0], 50.0, q[1]], axis=axis)
    return {"low": lo, "median": mid, "high": hi, "min": values.min(axis=axis), "max": values.max(axis=axis)}


def robustness(df: pd.DataFrame, outputs: list[str] | None = None, draws: pd.DataFrame | None = None,
               theory: Theory | None = None) -> pd.DataFrame:
    """For each scenario and output: the value at the shipped weights and its band over the draws.

    Columns: ``scenario`` (row position), ``output``, ``value`` (shipped weights), ``low``/``high``
    (5th/95th percentile over the draws), ``median``, ``min``, ``max``, ``draws``.
    Outputs may be linkages, capabilities or dysfunction summaries (``cumulative_dysfunction``...).
    """
    theory = theory or _data.load()
    draws = weight_draws(theory) if draws is None else draws
    df = df.reset_index(drop=True)
    static = [o for o in (outputs or _model.LINKAGE_OUTPUTS + _model.CAPABILITY_OUTPUTS) if o not in _dyn.SUMMARY_OUTPUTS]
    dyn = [o for o in (outputs or []) if o in _dyn.SUMMARY_OUTPUTS]
    frames = []
    for names, by_draw, shipped in (
            (static, lambda: evaluate_draws(df, draws, theory), lambda: _model.evaluate(df, theory)),
            (dyn, lambda: summarize_draws(df, None, draws, theory), lambda: _dyn.summarize(df, theory=theory))):
        if not names:
            continue
        d, s = by_draw(), shipped()
        for o in names:
            v = d[o].to_numpy().reshape(len(df), len(draws))
            b = band(v)
            frames.append(pd.DataFrame({"scenario": np.arange(len(df)), "output": o, "value": s[o].to_numpy(),
                                        **b, "draws": len(draws)}))
    return pd.concat(frames, ignore_index=True)
