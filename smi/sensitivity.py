"""What to move first: how far each input, moved on its own, shifts a chosen output."""
from __future__ import annotations

import math
import numbers

import numpy as np
import pandas as pd

from . import data as _data
from . import dynamics as _dyn
from . import model as _model
from .data import Theory
from .explain import with_defaults, outputs


def _evaluator(output: str, theory: Theory):
    if output in _dyn.SUMMARY_OUTPUTS:
        return lambda g: _dyn.summarize(g, theory=theory)[output].to_numpy()
    return lambda g: _model.evaluate(g, theory)[output].to_numpy()


def sensitivity(df: pd.DataFrame, output: str, step: float = 0.1, theory: Theory | None = None) -> pd.DataFrame:
    """For the first scenario in ``df``: per numeric input, the output now, after moving the
    input by ``step`` of its range either way, and at either end of its range.

    ``gain`` is the best improvement available from that input alone (in the output's
    better direction: up for linkages and capabilities, down for dysfunction); ``slope`` is
    the local change per unit of the input's range. Rows are sorted actionable first (context
    and starting dysfunction are the situation, not levers), then by ``gain``.

    ``step`` is a share of each input's range, in (0, 1]. A measure's start quarter takes whole
    quarters only, so for it the step is rounded to the nearest whole number of quarters (at
    least one): with ``step=0.33`` a start quarter in 0-40 moves by 13 quarters either way, never
    past 0 or 40. ``slope`` uses the move actually made.
    """
    theory = theory or _data.load()
    meta = outputs(theory).set_index("output")
    if output not in meta.index:
        raise ValueError(f"unknown output {output!r}; known: {', '.join(meta.index)}")
    if isinstance(step, bool) or not isinstance(step, numbers.Real) or not 0 < step <= 1:
        raise ValueError(f"step must be in (0, 1] (value {step!r})")
    layer = meta.loc[output, "layer"]
    spec = theory.inputs.set_index("name")
    layers = {"linkages": ["linkages"], "capabilities": ["linkages", "capabilities"],
              "dynamics": ["linkages", "capabilities", "dynamics"]}[layer]
    names = [n for n in spec.index if spec.loc[n, "layer"] in layers and spec.loc[n, "kind"] != "switch"]
    x = with_defaults(df.iloc[[0]], theory)
    probes = [x]
    moved, width = [], []
    for n in names:
        lo, hi = float(spec.loc[n, "min"]), float(spec.loc[n, "max"])
        v = float(x.at[0, n])
        d = step * (hi - lo)
        if spec.loc[n, "kind"] == "start_quarter":
            d = max(1.0, math.floor(d + 0.5))  # whole quarters (v, lo and hi are whole: checked on load)
        higher, lower = min(v + d, hi), max(v - d, lo)
        moved.append(higher - lower)
        width.append(hi - lo)
        for new in (higher, lower, lo, hi):
            row = x.copy()
            row[n] = new
            probes.append(row)
    grid = pd.concat(probes, ignore_index=True)
    y = _evaluator(output, theory)(grid)
    now, rest = y[0], y[1:].reshape(len(names), 4)
    sign = 1.0 if meta.loc[output, "better"] == "higher" else -1.0
    up, down, at_min, at_max = rest.T
    moved_share = np.array(moved) / np.array(width)  # the move made, as a share of the input's range
    slope = np.divide(up - down, moved_share, out=np.zeros(len(names)), where=moved_share > 0)
    gain = np.maximum(sign * (at_max - now), sign * (at_min - now)).clip(min=0.0)
    best = np.where(sign * (at_max - now) >= sign * (at_min - now), "raise", "lower")
    out = pd.DataFrame({
        "input": names, "label": [spec.loc[n, "label"] for n in names], "value": [x.at[0, n] for n in names],
        "output_now": now, "output_up": up, "output_down": down, "output_at_min": at_min, "output_at_max": at_max,
        "slope": slope, "gain": gain, "best_move": np.where(gain > 0, best, "none"),
        # context and starting dysfunction describe the situation; managers cannot move them
        "actionable": [spec.loc[n, "kind"] not in ("context", "start") for n in names],
        "propositions": [spec.loc[n, "propositions"] for n in names],
    })
    return out.sort_values(["actionable", "gain", "input"], ascending=[False, False, True], ignore_index=True)


# --------------------------------------------------------------------------- global sensitivity

def _factors(theory: Theory) -> pd.DataFrame:
    """Every numeric input (its range) and every weight that may vary (its suggested range)."""
    spec = theory.inputs
    rows = [(r.name, "input", float(r.min), float(r.max)) for r in spec.itertuples() if r.kind != "switch"]
    rows.append(("incremental_effects", "input", 0.0, 1.0))  # thirds: increasing, linear, decreasing
    rows += [(r.name, "weight", float(r.min), float(r.max)) for r in theory.parameters.itertuples() if r.max > r.min]
    return pd.DataFrame(rows, columns=["factor", "kind", "low", "high"])


def global_sensitivity(trajectories: int = 24, levels: int = 4, seed: int = 7, quarters: int = 24,
                       theory: Theory | None = None) -> pd.DataFrame:
    """Morris elementary effects (SALib) of every input and weight on every output, over the whole
    space at once: inputs within their ranges, weights within their suggested ranges.

    Returns one row per (factor, output): ``mu_star`` (mean absolute elementary effect: how much the
    output moves when the factor moves across its range, on average over the space), ``sigma``
    (spread: interactions and nonlinearity) and ``kind`` (input or weight). Outputs: the linkages,
    the connection, functioning, synergy, the capabilities and the dysfunction summaries over
    ``quarters`` quarters. All scenarios are evaluated in one vectorized pass.
    """
    from SALib.analyze import morris as analyze
    from SALib.sample import morris as sample

    theory = theory or _data.load()
    f = _factors(theory)
    problem = {"num_vars": len(f), "names": list(f.factor), "bounds": f[["low", "high"]].to_numpy().tolist()}
    X = sample.sample(problem, trajectories, num_levels=levels, seed=seed)
    cols = dict(zip(f.factor, X.T))
    spec = theory.inputs.set_index("name")
    inputs = {}
    for name in theory.input_names():
        if name == "incremental_effects":
            inputs[name] = np.array(["increasing", "linear", "decreasing"])[np.minimum((cols[name] * 3).astype(int), 2)]
        elif spec.loc[name, "kind"] == "start_quarter":
            inputs[name] = np.round(cols[name])
        else:
            inputs[name] = cols[name]
    x = pd.DataFrame(inputs)
    params = {n: cols[n] for n in f.factor[f.kind == "weight"]}
    static = pd.DataFrame(_model.evaluate_arrays(
        _model.input_arrays(x, theory.input_names("linkages") + theory.input_names("capabilities"), theory),
        _model.compile_theory(theory, params)))
    dyn = pd.DataFrame(_dyn.summarize_core(_dyn.simulate_core(x, quarters, theory, params=params)))
    Y = pd.concat([static, dyn], axis=1)
    frames = []
    for out in Y.columns:
        res = analyze.analyze(problem, X, Y[out].to_numpy(), num_levels=levels, seed=seed)
        frames.append(pd.DataFrame({"factor": f.factor, "kind": f.kind, "output": out,
                                    "mu_star": res["mu_star"], "sigma": res["sigma"]}))
    return pd.concat(frames, ignore_index=True)
