"""Robustness bands: each output's spread over the model's admissible weights, drawn beside its
value at the shipped weights. Pure functions returning Altair charts (the Voila labs use them).

A band is what ``smi.robustness`` reports: the 5th-95th percentile of an output over draws of
every weight within its suggested range (``smi.weight_draws``: K = 200, fixed seed). The caller
computes bands with ``smi`` and passes them in; these builders only draw them. In the bar and
trajectory charts the bands reach the chart through a Vega-Lite parameter, so a host that holds
the chart (``alt.JupyterChart.params``) moves a band without redrawing the chart.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import altair as alt
import pandas as pd

from .charts import PALETTE, WHISKER_OFFSET, WIDTH

BAND_PARAM = "band"  # {output: [low, high]}
TRAJECTORY_PARAM = "trajectory"  # {series: [values, lows, highs]}, one entry per quarter
DASHES = [[1, 0], [6, 3], [2, 2], [8, 2, 2, 2]]


def band_value(frame: pd.DataFrame) -> dict[str, list[float]]:
    """The :data:`BAND_PARAM` value for a frame with ``output``, ``low`` and ``high`` columns."""
    return {r.output: [float(r.low), float(r.high)] for r in frame.itertuples()}


def trajectory_value(value: Mapping[str, Sequence[float]], low: Mapping[str, Sequence[float]],
                     high: Mapping[str, Sequence[float]]) -> dict[str, list[list[float]]]:
    """The :data:`TRAJECTORY_PARAM` value: per series, the shipped-weights line and its band."""
    return {s: [[float(v) for v in value[s]], [float(v) for v in low[s]], [float(v) for v in high[s]]]
            for s in value}


def _whisker(base: alt.Chart, y: alt.Y, what: str) -> alt.LayerChart:
    """A black rule from ``low`` to ``high`` with end ticks, in the lower half of each bar."""
    tooltip = [alt.Tooltip(what, title="Output"),
               alt.Tooltip("low:Q", format=".3f", title="5th percentile over the weight draws"),
               alt.Tooltip("high:Q", format=".3f", title="95th percentile over the weight draws")]
    rule = base.mark_rule(color="black", strokeWidth=2, yOffset=WHISKER_OFFSET).encode(
        x="low:Q", x2="high:Q", y=y, tooltip=tooltip).properties(name="band_whisker")
    ends = base.transform_fold(["low", "high"], as_=["end", "at"]).mark_tick(
        color="black", opacity=1, thickness=2, size=9, orient="vertical", yOffset=WHISKER_OFFSET).encode(
        x="at:Q", y=y, tooltip=tooltip)
    return alt.layer(rule, ends)


def with_band(chart: alt.TopLevelMixin, outputs: Sequence[str], labels: Mapping[str, str],
              band: Mapping[str, Sequence[float]], title: str) -> alt.LayerChart:
    """``chart`` (horizontal bars, one per output, y = ``label:N``) with each output's band drawn
    as a whisker over its bar. ``band`` is the starting :data:`BAND_PARAM` value; setting the
    parameter moves the whiskers."""
    order = [labels[o] for o in outputs]
    y = alt.Y("label:N", sort=order, title=None)
    base = alt.Chart(alt.Data(values=[{"output": o, "label": labels[o]} for o in outputs])).transform_calculate(
        low=f"{BAND_PARAM}[datum.output][0]", high=f"{BAND_PARAM}[datum.output][1]")
    param = alt.param(name=BAND_PARAM, value={o: [float(v) for v in band[o]] for o in outputs})
    return alt.layer(chart, _whisker(base, y, "label:N")).add_params(param).properties(title=title)


def trajectory_band_chart(quarters: int, series: Sequence[str], labels: Mapping[str, str],
                          trajectory: Mapping[str, Sequence[Sequence[float]]], title: str,
                          run_b: pd.DataFrame | None = None, run_b_label: str = "Run B") -> alt.LayerChart:
    """Lines over quarters at the shipped weights, each with its band as a shaded area.

    ``trajectory`` is the starting :data:`TRAJECTORY_PARAM` value (setting the parameter moves
    lines and bands). ``run_b``: an earlier run to compare (columns ``quarter`` and the series),
    drawn as thin lines with dots, without a band.
    """
    names = [labels[s] for s in series]
    color = alt.Color("label:N", title=None, scale=alt.Scale(domain=names, range=PALETTE[: len(names)]),
                      legend=alt.Legend(orient="bottom", columns=2, symbolType="stroke", symbolStrokeWidth=2.4,
                                        symbolOpacity=1))
    # dash patterns keep the series apart in greyscale and for colour-blind readers
    dash = alt.StrokeDash("label:N", scale=alt.Scale(domain=names, range=DASHES[: len(names)]), legend=None)
    x = alt.X("quarter:Q", title="Quarter", scale=alt.Scale(domain=[0, quarters]))
    level = alt.Scale(domain=[0, 1])
    rows = [{"series": s, "label": labels[s], "quarter": q} for s in series for q in range(quarters + 1)]
    base = alt.Chart(alt.Data(values=rows)).transform_calculate(
        level=f"{TRAJECTORY_PARAM}[datum.series][0][datum.quarter]",
        low=f"{TRAJECTORY_PARAM}[datum.series][1][datum.quarter]",
        high=f"{TRAJECTORY_PARAM}[datum.series][2][datum.quarter]")
    tooltip = [alt.Tooltip("label:N", title="Series"), alt.Tooltip("quarter:Q", title="Quarter"),
               alt.Tooltip("level:Q", format=".3f", title="Shipped weights"),
               alt.Tooltip("low:Q", format=".3f", title="5th percentile"),
               alt.Tooltip("high:Q", format=".3f", title="95th percentile")]
    layers = [
        base.mark_area(opacity=0.2).encode(x=x, y=alt.Y("low:Q", scale=level, title="Level (0 = none, 1 = maximal)"),
                                           y2="high:Q", color=color, tooltip=tooltip).properties(name="band_area"),
        base.mark_line(strokeWidth=2.4).encode(x=x, y=alt.Y("level:Q", scale=level), color=color, strokeDash=dash,
                                               tooltip=tooltip),
    ]
    subtitle = ["Lines: the model's shipped weights. Shaded: 5th-95th percentile over the weight draws."]
    if run_b is not None:
        b = run_b.melt(id_vars=["quarter"], value_vars=list(series), var_name="series", value_name="level")
        b["label"] = b.series.map(labels)
        layers.append(alt.Chart(b).mark_line(strokeWidth=1.4, opacity=0.8, point=alt.OverlayMarkDef(size=14)).encode(
            x=x, y=alt.Y("level:Q", scale=level), color=color, strokeDash=dash,
            tooltip=[alt.Tooltip("label:N", title="Series"), alt.Tooltip("quarter:Q", title="Quarter"),
                     alt.Tooltip("level:Q", format=".3f", title=run_b_label)]))
        subtitle.append(f"Thin lines with dots: {run_b_label}.")
    param = alt.param(name=TRAJECTORY_PARAM, value={s: [list(map(float, v)) for v in trajectory[s]] for s in series})
    return alt.layer(*layers).add_params(param).properties(
        title=alt.TitleParams(title, subtitle=subtitle), width=WIDTH, height=260)


def facet_with_band(chart: alt.FacetChart, y: alt.Y) -> alt.FacetChart:
    """A faceted bar chart whose data carry ``low`` and ``high`` columns, with each bar's band
    as a whisker (a static chart: the bands are in its data, not in a parameter). ``y``: the
    bars' y encoding, as a shorthand (``alt.Y("label:N", ...)``)."""
    inner = chart.spec.copy()
    size = {k: inner[k] for k in ("width", "height") if inner[k] is not alt.Undefined}
    inner.width = inner.height = alt.Undefined  # the layer carries the size
    layered = alt.layer(inner, _whisker(alt.Chart(), y, y.shorthand), data=chart.data).properties(**size)
    return layered.facet(row=chart.facet.row, column=chart.facet.column).properties(title=chart.title)
