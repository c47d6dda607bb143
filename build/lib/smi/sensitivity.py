"""What to move first: how far each input, moved on its own, shifts a chosen output."""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import data as _data
from . import dynamics as _dyn
from . import model as _model
from .data import Theory
from .explain import _frame, outputs


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
    """
    theory = theory or _data.load()
    meta = outputs(theory).set_index("output")
    if output not in meta.index:
        raise ValueError(f"unknown output {output!r}; known: {', '.join(meta.index)}")
    if not 0 < step <= 1:
        raise ValueError(f"step must be in (0, 1] (value {step!r})")
    layer = meta.loc[output, "layer"]
    spec = theory.inputs.set_index("name")
    layers = {"linkages": ["linkages"], "capabilities": ["linkages", "capabilities"],
              "dynamics": ["linkages", "capabilities", "dynamics"]}[layer]
    names = [n for n in spec.index if spec.loc[n, "layer"] in layers and spec.loc[n, "kind"] != "switch"]
    x = _frame(df.iloc[[0]], theory)
    probes = [x]
    for n in names:
        lo, hi = float(spec.loc[n, "min"]), float(spec.loc[n, "max"])
        v = float(x.at[0, n])
        d = step * (hi - lo)
        for new in (min(v + d, hi), max(v - d, lo), lo, hi):
            row = x.copy()
            row[n] = new
            probes.append(row)
    grid = pd.concat(probes, ignore_index=True)
    y = _evaluator(output, theory)(grid)
    now, rest = y[0], y[1:].reshape(len(names), 4)
    sign = 1.0 if meta.loc[output, "better"] == "higher" else -1.0
    up, down, at_min, at_max = rest.T
    span = np.array([step * (float(spec.loc[n, "max"]) - float(spec.loc[n, "min"])) for n in names])
    moved = np.array([(min(x.at[0, n] + s, spec.loc[n, "max"]) - max(x.at[0, n] - s, spec.loc[n, "min"]))
                      for n, s in zip(names, span)])
    slope = np.divide(up - down, moved / (span / step), out=np.zeros(len(names)), where=moved > 0)
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
