"""Chart builders: pure functions from model output and data to Altair charts.

No widgets and no display here: the book (``smi_charts.book``) and the Voila labs render what
these return. Explorables carry Altair parameters bound to HTML inputs and compute in the
browser from expressions generated from the model (``smi_charts.expr``) or, for the
dysfunction dynamics, from a small grid the model precomputes. Given weight draws, they also
show each output's robustness band: the explorables evaluate the same expressions on every
draw in the browser; the dynamics grid carries the band ``smi.simulate_draws`` precomputes.
"""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass

import altair as alt
import numpy as np
import pandas as pd

import smi
from smi.data import CAPABILITIES, DYSFUNCTIONS, LEVERS, LINKAGES, Theory
from smi.model import compiled
from smi.robustness import BAND, capability_draws
from smi.robustness import band as band_stats

from . import expr, theme

theme.enable()  # every chart the builders return: readable text, legends that fit (smi_charts.theme)

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
WIDTH = 460


def output_labels(theory: Theory) -> dict[str, str]:
    return dict(zip(smi.outputs(theory).output, smi.outputs(theory).label))


@dataclass(frozen=True)
class Explorable:
    """A chart plus what the page needs around it: the outputs drawn and their labels."""

    chart: alt.Chart
    outputs: list[str]
    labels: dict[str, str]
    inputs: list[str]
    values: dict[str, float]  # starting value of every input


KIND_OUTPUTS = {
    "linkages": [*LINKAGES, "smi_connection"],
    "capabilities": ["lever_integration", "smi_functioning", "synergy", *CAPABILITIES],
    "chain": [*LINKAGES, "smi_connection", "smi_functioning", *CAPABILITIES],
}
GROUP = {**{k: "Linkage (Malshe 2011)" for k in LINKAGES}, "smi_connection": "Overall SMI connection",
         "lever_integration": "Levers and functioning (Hughes et al. 2012)",
         "smi_functioning": "Levers and functioning (Hughes et al. 2012)",
         "synergy": "Levers and functioning (Hughes et al. 2012)",
         **{c: "Capability (Hughes et al. 2012)" for c in CAPABILITIES}}


BAND_Q = BAND  # percentiles of the robustness band (5th, 95th), smi.robustness's
DRAW_DECIMALS = 6  # weight draws shipped to the browser: no displayed digit depends on the 7th decimal
BAND_NOTE = ["Bars: the value at the book's weights. Black whiskers: the 5th-95th percentile of that output",
             "over {k} draws of the weights, each drawn within its suggested range."]
WHISKER_OFFSET = 7  # px below the bar's centre line, so the whisker clears the value label (the labs use it too)


def band_draws(theory: Theory | None = None) -> pd.DataFrame:
    """The weight draws the static site ships: ``smi.weight_draws`` (K = 200, fixed seed) rounded
    to :data:`DRAW_DECIMALS` decimals, so a page carries them compactly."""
    return smi.weight_draws(theory or smi.load()).round(DRAW_DECIMALS)


def _calculations(kind: str, c, variable: set[str], values: dict[str, float], weight=None) -> list[tuple[str, str]]:
    if kind == "linkages":
        return expr.linkage_calculations(c, variable, values, weight=weight)
    if kind == "capabilities":
        conn = "smi_connection" if "smi_connection" in variable else expr.literal(values["smi_connection"])
        return expr.capability_calculations(c, variable, values, connection=conn, weight=weight)
    if kind == "chain":
        return (expr.linkage_calculations(c, variable, values, weight=weight)
                + expr.capability_calculations(c, variable, values, weight=weight))
    raise ValueError(f"unknown explorable kind {kind!r} (linkages, capabilities, chain)")


def _draw_data(used: list[str], draws: pd.DataFrame, theory: Theory) -> dict:
    """One row of arrays (flattened in the browser): index 0 holds the shipped weights, 1..K the draws."""
    row = {"draw": list(range(len(draws) + 1))}
    for name in used:
        row[expr.weight_field(name)] = [float(theory.params[name])] + [float(v) for v in draws[name]]
    return row


def _quantile_expr(p: float) -> str:
    """Percentile ``p`` of the sorted array ``datum.q`` (last index ``datum.n1``), interpolated
    linearly between order statistics: numpy's default (and d3's) definition."""
    h = f"(datum.n1 * {p!r})"
    i = f"floor({h})"
    return f"datum.q[{i}] + (datum.q[min({i} + 1, datum.n1)] - datum.q[{i}]) * ({h} - {i})"


def kind_inputs(kind: str, theory: Theory | None = None) -> list[str]:
    """The inputs an explorable of ``kind`` computes from (its parameters)."""
    theory = theory or smi.load()
    if kind == "linkages":
        return theory.input_names("linkages")
    if kind == "capabilities":
        return [*theory.input_names("capabilities"), "smi_connection"]
    if kind == "chain":
        return [*theory.input_names("linkages"), *theory.input_names("capabilities")]
    raise ValueError(f"unknown explorable kind {kind!r} (linkages, capabilities, chain)")


def explorable(kind: str, inputs: list[str], values: dict[str, float], title: str,
               theory: Theory | None = None, bind: bool = True, draws: pd.DataFrame | None = None) -> Explorable:
    """Bars of model outputs computed in the browser; one slider per input in ``inputs``.

    ``kind``: ``linkages`` (linkage inputs -> linkages + connection), ``capabilities``
    (levers + an ``smi_connection`` slider -> functioning, synergy, capabilities) or ``chain``
    (linkage inputs and levers -> the whole chain). ``bind=False`` leaves the parameters without
    HTML inputs, for a host that drives them itself (the Voila labs' ipywidgets).

    ``draws`` (rows of weights, e.g. :func:`band_draws`): the chart also computes, in the browser,
    each output under every draw with the same expressions and draws its robustness band (the
    5th-95th percentile over the draws, numpy's linear interpolation) as a whisker; the rows it
    ends with carry ``value`` (shipped weights), ``low``, ``high``, ``min`` and ``max``.
    """
    theory = theory or smi.load()
    unknown = [i for i in inputs if i not in kind_inputs(kind, theory)]
    if unknown:
        raise ValueError(f"explorable {kind!r}: input {unknown[0]!r} is not one this kind computes from "
                         f"({', '.join(kind_inputs(kind, theory))})")
    # every input the outputs read is a parameter (a preset sets them all); `inputs` get sliders
    variable = set(kind_inputs(kind, theory))
    fields = expr.DrawFields() if draws is not None else None
    calcs = _calculations(kind, compiled(theory), variable, values, weight=fields)
    outputs = KIND_OUTPUTS[kind]
    labels = output_labels(theory)
    params = _explorable_params(kind, inputs, values, theory, bind)
    enc = _bar_encodings(outputs, labels)
    if draws is None:
        chart = _plain_bars(calcs, outputs, enc).add_params(*params).properties(
            title=title, width=WIDTH, height=24 * len(outputs))
    else:
        data = _draw_data(fields.used, draws, theory)
        chart = _band_bars(calcs, outputs, enc, data, len(draws)).add_params(*params).properties(
            data=alt.Data(values=[data]),
            title=alt.TitleParams(title, subtitle=[line.format(k=len(draws)) for line in BAND_NOTE]),
            width=WIDTH, height=28 * len(outputs))
    return Explorable(chart, outputs, labels, list(inputs), dict(values))


def _explorable_params(kind: str, inputs: list[str], values: dict[str, float], theory: Theory,
                       bind: bool) -> list:
    """One Vega parameter per input the outputs read; those in ``inputs`` bound to a range slider."""
    spec = theory.inputs.set_index("name")
    params = []
    for name in [*inputs, *(n for n in kind_inputs(kind, theory) if n not in inputs)]:
        if name == "smi_connection":
            lo, hi, label = 0.0, 1.0, "SMI connection (from the linkages)"
        else:
            lo, hi, label = float(spec.loc[name, "min"]), float(spec.loc[name, "max"]), spec.loc[name, "label"]
        slider = bind and name in inputs
        binding = alt.binding_range(min=lo, max=hi, step=0.01, name=f"{label} ") if slider else alt.Undefined
        params.append(alt.param(name=name, value=float(values[name]), bind=binding))
    return params


@dataclass(frozen=True)
class _BarEncodings:
    x: alt.X
    y: alt.Y
    color: alt.Color
    tooltip: list
    label: str  # Vega expressions naming a folded row's output and its group
    group: str


def _bar_encodings(outputs: list[str], labels: dict[str, str]) -> _BarEncodings:
    groups = list(dict.fromkeys(GROUP[o] for o in outputs))
    return _BarEncodings(
        x=alt.X("value:Q", scale=alt.Scale(domain=[0, 1]), title="Strength (0 = absent, 1 = strongest the model allows)"),
        y=alt.Y("label:N", sort=[labels[o] for o in outputs], title=None),
        color=alt.Color("group:N", scale=alt.Scale(domain=groups, range=PALETTE[: len(groups)]),
                        legend=alt.Legend(title=None, orient="bottom", columns=1)),
        tooltip=[alt.Tooltip("label:N", title="Output"), alt.Tooltip("value:Q", format=".3f", title="Value")],
        label=f"{json.dumps(labels)}[datum.output]", group=f"{json.dumps(GROUP)}[datum.output]")


def _plain_bars(calcs: list[tuple[str, str]], outputs: list[str], enc: _BarEncodings) -> alt.LayerChart:
    """Bars and their values at the shipped weights, one row computed from the parameters."""
    base = alt.Chart(alt.Data(values=[{"scenario": "current"}]))
    for field, e in calcs:
        base = base.transform_calculate(**{field: e})
    base = (base.transform_fold(outputs, as_=["output", "value"])
            .transform_calculate(label=enc.label, group=enc.group, shown="format(datum.value, '.3f')"))
    key = alt.Key("output:N")  # update the SVG elements in place (see the band chart below)
    bars = base.mark_bar().encode(x=enc.x, y=enc.y, color=enc.color, tooltip=enc.tooltip, key=key)
    text = base.mark_text(align="left", dx=4).encode(x="value:Q", y=enc.y, text="shown:N", key=key)
    return bars + text


def _band_bars(calcs: list[tuple[str, str]], outputs: list[str], enc: _BarEncodings, data: dict,
               k: int) -> alt.LayerChart:
    """Bars at the shipped weights with their band over the ``k`` draws in ``data`` as whiskers."""
    tooltip = enc.tooltip + [
        alt.Tooltip("low:Q", format=".3f", title=f"5th percentile over {k} weight draws"),
        alt.Tooltip("high:Q", format=".3f", title=f"95th percentile over {k} weight draws"),
        alt.Tooltip("min:Q", format=".3f", title="Lowest draw"),
        alt.Tooltip("max:Q", format=".3f", title="Highest draw")]
    x, y = enc.x, enc.y
    # named layers: their SVG groups carry the name as a class (tests and the benchmark find the band)
    # Vega re-derives folded rows on every move; keying the marks by output lets it update the
    # SVG elements in place instead of replacing them all (about half a move's main-thread time)
    key = alt.Key("output:N")
    bars = alt.Chart(name="value_bars").mark_bar().encode(x=x, y=y, color=enc.color, tooltip=tooltip, key=key)
    # the numbers in a fixed column right of the plot: a moving label would resize the chart (and
    # reflow the page) on every slider move
    text = alt.Chart(name="value_labels").mark_text(align="left", dx=8).encode(
        x=alt.value("width"), y=y, text="shown:N", key=key)
    rule = alt.Chart(name="band_whiskers").mark_rule(color="black", strokeWidth=2, yOffset=WHISKER_OFFSET).encode(
        x="low:Q", x2="high:Q", y=y, tooltip=tooltip, key=key)
    ends = [alt.Chart(name=f"band_{end}").mark_tick(color="black", opacity=1, thickness=2, size=9, orient="vertical",
                                                   yOffset=WHISKER_OFFSET).encode(x=f"{end}:Q", y=y, tooltip=tooltip, key=key)
            for end in ("low", "high")]
    # one list, and the data joined last: Altair copies the whole chart at every transform_* call
    chart = alt.layer(bars, rule, *ends, text)
    chart.transform = [alt.FlattenTransform(flatten=list(data)),
                       *(alt.CalculateTransform(calculate=e, **{"as": field}) for field, e in calcs)]
    # Per output, sort its values over the draws and read the percentiles off the sorted array.
    # Two groups (shipped weights, draws) keep the rows after the model's calculations few and
    # narrow: folding the 201 wide rows once per output (Vega copies every field) made a move
    # several times slower.
    return (chart.transform_calculate(is_draw="datum.draw > 0")
            .transform_aggregate([alt.AggregatedFieldDef(op="values", **{"as": "rows"})], groupby=["is_draw"])
            .transform_calculate(**{o: f"sort(pluck(datum.rows, '{o}'))" for o in outputs})
            .transform_fold(outputs, as_=["output", "q"])
            .transform_calculate(n1="length(datum.q) - 1")
            .transform_calculate(low=_quantile_expr(BAND_Q[0] / 100), high=_quantile_expr(BAND_Q[1] / 100),
                                 min="datum.q[0]", max="datum.q[datum.n1]",
                                 shipped="datum.is_draw ? null : datum.q[0]")
            .transform_joinaggregate(value="max(shipped)", groupby=["output"])
            .transform_filter("datum.is_draw")
            .transform_calculate(label=enc.label, group=enc.group,
                                 shown="format(datum.value, '.3f') + '  (' + format(datum.low, '.3f') + '–'"
                                       " + format(datum.high, '.3f') + ')'"))


def explorable_values(kind: str, values: dict[str, float], theory: Theory | None = None) -> pd.Series:
    """What the Python model says the explorable shows for ``values`` (for tables and tests)."""
    theory = theory or smi.load()
    if kind == "capabilities":
        row = {k: v for k, v in values.items()}
        return smi.capabilities(pd.DataFrame([row]), theory).iloc[0][KIND_OUTPUTS[kind]]
    return smi.evaluate(pd.DataFrame([values]), theory).iloc[0][KIND_OUTPUTS[kind]]


BAND_COLUMNS = ["value", "low", "high", "min", "max"]


def explorable_band(kind: str, values: dict[str, float], draws: pd.DataFrame,
                    theory: Theory | None = None) -> pd.DataFrame:
    """What the Python model says the explorable's band shows for ``values``: per output (index)
    the value at the shipped weights, the 5th/95th percentile (``low``/``high``), ``min`` and
    ``max`` over ``draws``, as ``smi.robustness`` defines them."""
    theory = theory or smi.load()
    outputs = KIND_OUTPUTS[kind]
    if kind != "capabilities":
        r = smi.robustness(pd.DataFrame([values]), outputs, draws=draws, theory=theory)
        return r.set_index("output").loc[outputs, BAND_COLUMNS]
    # this explorable takes the SMI connection from a slider, where smi.robustness derives it from
    # the linkages: same draws and percentiles, on the capability part of the model only
    arr = capability_draws(values["smi_connection"], values, draws, theory)
    shipped = explorable_values(kind, values, theory)
    rows = {o: {"value": float(shipped[o]), **{s: float(v) for s, v in band_stats(arr[o]).items()}} for o in outputs}
    return pd.DataFrame.from_dict(rows, orient="index")[BAND_COLUMNS]


# --------------------------------------------------------------------------- dysfunction dynamics

MEASURES = ("function_fix", "joint_calls", "job_rotation", "openness", "customized")
# The explorer's intervention menu: the 2017 measures as the paper classes them (§4.1 function-level
# measures incl. joint calls and job rotation; §4.2 culture of openness and the customized
# individual approach), each at full strength, plus combinations. key -> measures switched on.
# The measures of each 2017 case preset that has any are added to the menu (``dynamics_packages``).
INTERVENTIONS = {
    "none": (),
    "function_fix": ("function_fix",),
    "joint_calls_rotation": ("joint_calls", "job_rotation"),
    "openness": ("openness",),
    "customized": ("customized",),
    "function_fix_customized": ("function_fix", "customized"),
    "all": MEASURES,
}
START_QUARTERS = (0, 2, 4, 8, 16)
# The middling firm (the book's defaults) starts from one dysfunction at START_LEVEL; communication
# paucity also mild and severe, the starts of data/claims.yaml's mild and severe scenarios (one
# dysfunction only: every start multiplies the runs a page ships).
START_LEVEL = 0.5
START_LEVELS = {"communication_paucity": (0.2, 0.5, 0.7)}
MIDDLING = "middling"
SERIES = {"communication_paucity": "Communication paucity", "lack_of_collaboration": "Lack of collaboration",
          "overt_conflict": "Overt conflict", "smi_functioning": "SMI functioning"}
CURVES = ("increasing", "linear", "decreasing")
GRID_DECIMALS = 3  # levels shipped in thousandths (the chart and its tooltips show 3 decimals)
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_MEASURE_FIELDS = {f for m in MEASURES for f in (m, f"{m}_start")}
_FIRM_SKIP = _MEASURE_FIELDS | {"incremental_effects"}  # what the menus set, not the firm


def _dynamics_presets(theory: Theory) -> pd.DataFrame:
    p = theory.presets
    return p[p.study == "malshe2017"]


def dynamics_cases(theory: Theory | None = None) -> dict[str, dict]:
    """The firms the dysfunction explorer runs: the middling firm (the book's defaults, plus the
    starting dysfunction and level the menus choose) and each distinct firm of the 2017 case
    presets (``data/presets.yaml``): a preset's inputs without its measures and curve, which the
    menus set. key (the first preset with that firm) -> {"title", "inputs"}."""
    theory = theory or smi.load()
    names = theory.input_names()
    cases = {MIDDLING: {"title": "A middling firm (the book's defaults)", "inputs": dict(theory.defaults)}}
    for r in _dynamics_presets(theory).itertuples():
        firm = {n: getattr(r, n) for n in names if n not in _FIRM_SKIP}
        if not any({k: v for k, v in c["inputs"].items() if k not in _FIRM_SKIP} == firm
                   for key, c in cases.items() if key != MIDDLING):
            cases[r.key] = {"title": r.title, "inputs": {**dict(theory.defaults), **firm}}
    return cases


def _firm_of(preset_row, cases: dict[str, dict]) -> str:
    for key, c in cases.items():
        if key != MIDDLING and all(c["inputs"][k] == getattr(preset_row, k) for k in c["inputs"] if k not in _FIRM_SKIP):
            return key
    raise ValueError(f"presets.yaml: preset {preset_row.key!r} matches no firm of the dysfunction explorer")


def dynamics_packages(theory: Theory | None = None) -> dict[str, dict]:
    """The measures of each 2017 case preset that switches any on: preset key -> {"title",
    "strength": {measure: strength}, "start": {measure: quarter}}. The menu offers each package
    twice: timed as the preset times it, and with every measure from the quarter the menu picks."""
    theory = theory or smi.load()
    out = {}
    for r in _dynamics_presets(theory).itertuples():
        on = {m: float(getattr(r, m)) for m in MEASURES if float(getattr(r, m)) > 0}
        if on:
            out[r.key] = {"title": r.title, "strength": on, "start": {m: int(getattr(r, f"{m}_start")) for m in on}}
    return out


def _package_keys(preset: str) -> tuple[str, str]:
    return f"pkg_{preset}", f"pkg_{preset}_from"  # timed as the preset; all from the chosen quarter


def intervention_labels(theory: Theory | None = None) -> dict[str, str]:
    """Menu labels, from ``data/interventions.csv`` (and the 2017 presets' packages)."""
    theory = theory or smi.load()
    names = dict(zip(theory.interventions.intervention, theory.interventions.label))

    def joined(parts: list[str]) -> str:
        return " + ".join(p if i == 0 else p[0].lower() + p[1:] for i, p in enumerate(parts))

    out = {}
    for key, measures in INTERVENTIONS.items():
        if not measures:
            out[key] = "None"
        elif measures == MEASURES:
            out[key] = "All five measures"
        else:
            out[key] = joined([names[m] for m in measures])
    for preset, pk in dynamics_packages(theory).items():
        what = joined([f"{names[m]} {v:g}" for m, v in pk["strength"].items()])
        starts = sorted(set(pk["start"].values()))
        when = f"quarter {starts[0]}" if len(starts) == 1 else f"quarters {starts[0]}–{starts[-1]}"
        asis, moved = _package_keys(preset)
        out[asis] = f"{what}, timed as in the preset ({when})"
        out[moved] = f"{what}, all from the quarter below"
    return out


def _intervention_settings(theory: Theory) -> list[tuple[str, dict[str, float], bool]]:
    """(menu key, inputs it sets given a start quarter ``q`` as a placeholder, depends on the quarter)."""
    out = [(key, {m: 1.0 for m in ms}, bool(ms)) for key, ms in INTERVENTIONS.items()]
    for preset, pk in dynamics_packages(theory).items():
        asis, moved = _package_keys(preset)
        out.append((asis, {**pk["strength"], **{f"{m}_start": q for m, q in pk["start"].items()}}, False))
        out.append((moved, dict(pk["strength"]), True))
    return out


def dynamics_preset_controls(theory: Theory | None = None) -> dict[str, dict]:
    """What loading each 2017 case preset sets in the dysfunction explorer's menus: its firm,
    its curve and its measures (none, or its package timed as the preset times it)."""
    theory = theory or smi.load()
    cases = dynamics_cases(theory)
    packages = dynamics_packages(theory)
    out = {}
    for r in _dynamics_presets(theory).itertuples():
        out[r.key] = {"start_point": _firm_of(r, cases), "curve": r.incremental_effects,
                      "intervention": _package_keys(r.key)[0] if r.key in packages else "none"}
    return out


def starting_points(theory: Theory | None = None, cases: bool = True) -> dict[str, dict]:
    """The dysfunction explorer's "Starting point" menu: key -> {"label", "case", "start", "level"}.

    The middling firm from each dysfunction at :data:`START_LEVEL` (and communication paucity at
    the other :data:`START_LEVELS`); with ``cases``, also the firm of each 2017 case preset
    (``dynamics_cases``), which sets its own starting levels."""
    theory = theory or smi.load()
    out = {}
    for d in DYSFUNCTIONS:
        for lv in START_LEVELS.get(d, (START_LEVEL,)) if cases else (START_LEVEL,):
            tag = " (mild)" if lv < START_LEVEL else " (severe)" if lv > START_LEVEL else ""
            out[f"{d}@{lv:g}"] = {"label": f"{SERIES[d]} at {lv:g}{tag}, middling firm", "case": MIDDLING,
                                  "start": d, "level": lv}
    if cases:
        for key, c in dynamics_cases(theory).items():
            if key != MIDDLING:
                starts = ", ".join(f"{SERIES[d].lower()} {c['inputs'][f'start_{d}']:g}" for d in DYSFUNCTIONS)
                out[key] = {"label": f"Case preset: {c['title']} ({starts})", "case": key, "start": None, "level": None}
    return out


def _grid_settings(theory: Theory, cases: bool) -> pd.DataFrame:
    rows = []
    ivs = _intervention_settings(theory) if cases else [
        (k, {m: 1.0 for m in ms}, bool(ms)) for k, ms in INTERVENTIONS.items()]
    firms = dynamics_cases(theory)
    for point, sp in starting_points(theory, cases).items():
        for curve in CURVES:
            for iv, sets, by_quarter in ivs:
                for q in (START_QUARTERS if by_quarter else (0,)):
                    row = dict(firms[sp["case"]]["inputs"])
                    row.update({m: 0.0 for m in MEASURES})  # the menus choose the measures
                    if sp["start"] is not None:
                        row[f"start_{sp['start']}"] = sp["level"]
                    row["incremental_effects"] = curve
                    row.update({f"{m}_start": q for m in MEASURES})
                    row.update(sets)
                    rows.append({"point": point, "case": sp["case"], "start": sp["start"], "level": sp["level"],
                                 "curve": curve, "intervention": iv, "from_quarter": q, "by_quarter": by_quarter, **row})
    return pd.DataFrame(rows)


@functools.lru_cache(maxsize=4)
def _grid(theory: Theory, quarters: int, band: bool, cases: bool) -> pd.DataFrame:
    settings = _grid_settings(theory, cases)
    x = settings[theory.input_names()]
    sim = smi.simulate(x, quarters=quarters, theory=theory)
    out = settings[["point", "case", "start", "level", "curve", "intervention", "from_quarter", "by_quarter"]].copy()
    for s in SERIES:
        out[s] = list(sim[s].to_numpy().reshape(quarters + 1, len(settings)).T.round(GRID_DECIMALS))
    if band:
        draws = smi.weight_draws(theory)
        low = {s: [] for s in SERIES}
        high = {s: [] for s in SERIES}
        for i in range(0, len(x), 25):  # 25 runs x K draws at a time keeps memory small
            a = smi.simulate_draws(x.iloc[i:i + 25], quarters, draws, theory)
            for s in SERIES:
                b = band_stats(a[s])  # over the draws: (quarters + 1, runs)
                low[s] += list(b["low"].T.round(GRID_DECIMALS))
                high[s] += list(b["high"].T.round(GRID_DECIMALS))
        for s in SERIES:
            out[f"{s}_low"], out[f"{s}_high"] = low[s], high[s]
        out.attrs["draws"] = len(draws)
    out.attrs["cases"] = cases
    return out


def dysfunction_grid(theory: Theory | None = None, quarters: int = 40, band: bool = True,
                     cases: bool = True) -> pd.DataFrame:
    """Every combination the dysfunction explorer offers, simulated by the model.

    One row per run: its settings (``point``, a key of :func:`starting_points`, with its
    ``case``, ``start`` and ``level``; ``curve``; ``intervention``; ``from_quarter``, 0 where
    the intervention does not depend on it) plus one array per series (quarters 0..``quarters``,
    rounded to :data:`GRID_DECIMALS`). ``band``: also ``<series>_low`` and ``<series>_high``, the
    5th and 95th percentile at each quarter over ``smi.weight_draws`` (``smi.simulate_draws``).
    ``cases``: also the 2017 case presets' firms and packages, and the mild and severe starts
    (the chapter that asks for them); without, each dysfunction from the middling start only.
    Cached per theory: the book's dynamics explorers and the tests share the grids.
    """
    return _grid(theory or smi.load(), quarters, band, cases).copy()


def _b36(levels) -> str:
    """Levels (0-1) as two base-36 digits of thousandths each, decoded in the browser with parseInt."""
    return "".join(_B36[v // 36] + _B36[v % 36] for v in np.rint(np.asarray(levels) * 1000).astype(int))


def _run_code(r, keys: list[str], band: bool) -> str:
    """One run's series as :func:`_b36` digits: values, then (``band``) 5th and 95th percentiles."""
    code = "".join(_b36(getattr(r, s)) for s in keys)
    if band:
        code += "".join(_b36(getattr(r, f"{s}_{e}")) for e in ("low", "high") for s in keys)
    return code


def _run_records(grid: pd.DataFrame, point_keys: list[str], iv_keys: list[str], band: bool) -> list[str]:
    """A run is one string: its menu entries as one digit each (their index in the menu; "x": any
    start quarter), then its series; the page carries nothing else per run."""
    keys = list(SERIES)
    records = []
    for r in grid.itertuples():
        q = str(START_QUARTERS.index(int(r.from_quarter))) if r.by_quarter else "x"
        records.append(f"{point_keys.index(r.point)}{CURVES.index(r.curve)}{iv_keys.index(r.intervention)}{q}"
                       f"{_run_code(r, keys, band)}")
    return records


def _dynamics_params(points: dict[str, dict], iv_labels: dict[str, str]) -> list:
    """The explorer's four menus: starting point, curve, intervention, start quarter."""
    return [alt.param(name="start_point", value=f"communication_paucity@{START_LEVEL:g}",
                      bind=alt.binding_select(options=list(points), labels=[p["label"] for p in points.values()],
                                              name="Starting point ")),
            alt.param(name="curve", value="linear",
                      bind=alt.binding_select(options=list(CURVES), name="Incremental effects ")),
            alt.param(name="intervention", value="none",
                      bind=alt.binding_select(options=list(iv_labels), labels=list(iv_labels.values()),
                                              name="Intervention (full strength unless stated) ")),
            alt.param(name="from_quarter", value=4,
                      bind=alt.binding_select(options=list(START_QUARTERS), name="Intervention starts in quarter "))]


def _run_filter(point_keys: list[str], iv_keys: list[str]) -> str:
    """Vega expression keeping the run the four menus select (its first four characters)."""
    return (f"substring(datum.data, 0, 3) == '' + indexof({json.dumps(point_keys)}, start_point)"
            f" + indexof({json.dumps(list(CURVES))}, curve) + indexof({json.dumps(iv_keys)}, intervention)"
            f" && (substring(datum.data, 3, 4) == 'x' || substring(datum.data, 3, 4) == ''"
            f" + indexof({json.dumps(list(START_QUARTERS))}, from_quarter))")


def _run_decoder(n: int, band: bool) -> dict[str, str]:
    """Vega expressions decoding the selected run's level (and band) of series ``datum.i`` at ``datum.quarter``."""
    keys = list(SERIES)

    def dec(block: str) -> str:  # block: 0 values, 1 lows, 2 highs
        at = f"4 + 2 * ({block} * {len(keys) * n} + datum.i * {n} + datum.quarter)"
        return f"parseInt(substring(datum.data, {at}, {at} + 2), 36) / 1000"

    calc = {"level": dec("0"), "label": f"{json.dumps(list(SERIES.values()))}[datum.i]"}
    if band:
        calc.update(low=dec("1"), high=dec("2"))
    return calc


def _dynamics_tooltip(k: int | None) -> list:
    """Series, quarter, level and (``k`` draws) the band's percentiles."""
    tooltip = [alt.Tooltip("label:N", title="Series"), alt.Tooltip("quarter:Q", title="Quarter"),
               alt.Tooltip("level:Q", format=".3f", title="Level at the book's weights")]
    if k is not None:
        tooltip += [alt.Tooltip("low:Q", format=".3f", title=f"5th percentile over {k} weight draws"),
                    alt.Tooltip("high:Q", format=".3f", title=f"95th percentile over {k} weight draws")]
    return tooltip


def _dynamics_layers(quarters: int, k: int | None) -> list:
    """The lines over (``k`` draws) their shaded bands, encoded from the decoded run's fields."""
    names = list(SERIES.values())
    x = alt.X("quarter:Q", title="Quarter (three months each)", scale=alt.Scale(domain=[0, quarters]))
    level = alt.Scale(domain=[0, 1])
    color = alt.Color("label:N", title=None, scale=alt.Scale(domain=names, range=PALETTE[:4]),
                      legend=alt.Legend(orient="bottom", columns=2, symbolType="stroke", symbolStrokeWidth=2.5))
    tooltip = _dynamics_tooltip(k)
    line = alt.Chart().mark_line(strokeWidth=2.5).encode(
        x=x, y=alt.Y("level:Q", title="Level (0 = none, 1 = maximal)", scale=level), color=color,
        # dash patterns keep the series apart in greyscale and for colour-blind readers
        strokeDash=alt.StrokeDash("label:N", scale=alt.Scale(domain=names, range=[[1, 0], [6, 3], [2, 2], [8, 2, 2, 2]]),
                                  legend=None),
        tooltip=tooltip)
    if k is None:
        return [line]
    area = alt.Chart().mark_area(opacity=0.18).encode(
        x=x, y=alt.Y("low:Q", scale=level, title="Level (0 = none, 1 = maximal)"), y2="high:Q",
        color=color, tooltip=tooltip)
    return [area, line]


def dysfunction_chart(grid: pd.DataFrame, title: str, theory: Theory | None = None) -> alt.Chart:
    """Lines of the three dysfunctions and SMI functioning over quarters, for the selected run, each
    over its robustness band (a shaded area) when the grid carries one.

    Menus: the starting point (the middling firm from one dysfunction, or a 2017 case's firm), the
    incremental-effects curve, the intervention and the quarter it starts. Each run ships as one
    string: its menu entries as digits, then its series (:func:`_b36`, series after series: values,
    then 5th and 95th percentiles); the browser decodes only the selected run's 41 quarters.
    """
    theory = theory or smi.load()
    n = len(grid[next(iter(SERIES))].iloc[0])  # quarters 0..n-1
    band = f"{next(iter(SERIES))}_low" in grid.columns
    k = grid.attrs["draws"] if band else None
    points = starting_points(theory, bool(grid.attrs.get("cases", True)))
    iv_labels = {key: v for key, v in intervention_labels(theory).items() if key in set(grid.intervention)}
    point_keys, iv_keys = list(points), list(iv_labels)
    assert max(len(point_keys), len(iv_keys), len(START_QUARTERS)) <= 10  # one digit per menu entry
    subtitle = [f"Lines: the book's weights. Shaded: 5th-95th percentile over {k} weight draws."] if band else alt.Undefined
    # the transforms sit on the layer, so Vega decodes the selected run once for both marks
    chart = (
        alt.layer(*_dynamics_layers(n - 1, k), data=alt.Data(values=_run_records(grid, point_keys, iv_keys, band)))
        .transform_filter(_run_filter(point_keys, iv_keys))
        .transform_calculate(quarter=f"sequence(0, {n})")
        .transform_flatten(["quarter"])
        .transform_calculate(i=f"sequence(0, {len(SERIES)})")
        .transform_flatten(["i"])
        .transform_calculate(**_run_decoder(n, band))
    )
    return chart.add_params(*_dynamics_params(points, iv_labels)).properties(
        title=alt.TitleParams(title, subtitle=subtitle), width=WIDTH, height=260)


# --------------------------------------------------------------------------- study facts

def _facts(theory: Theory, study: str) -> dict[str, str]:
    f = theory.study_facts[theory.study_facts.study == study]
    return dict(zip(f.fact, f.value))


def sample_table(study: str, theory: Theory | None = None) -> pd.DataFrame:
    """The numbers a sample chart draws, as a table (also its text alternative)."""
    theory = theory or smi.load()
    f = _facts(theory, study)
    if study == "malshe2011":
        rows = [("Function", "Sales", int(f["informants_sales"])), ("Function", "Marketing", int(f["informants_marketing"])),
                ("Firm's linkages", "Constructive", int(f["informants_constructive_linkages"])),
                ("Firm's linkages", "Not constructive", int(f["informants_no_constructive_linkages"]))]
        return pd.DataFrame(rows, columns=["breakdown", "group", "informants"])
    if study == "hughes2012":
        rows = [("Senior", int(f["level_senior"])), ("Middle", int(f["level_middle"])), ("Junior", int(f["level_junior"]))]
        return pd.DataFrame(rows, columns=["level", "percent of informants"])
    if study == "malshe2017":
        d = theory.dyads_2017
        t = d.groupby(["industry", "level"]).size().rename("dyads").reset_index()
        return t.sort_values(["industry", "level"], ignore_index=True)
    raise ValueError(f"unknown study {study!r}")


def sample_chart(study: str, theory: Theory | None = None) -> alt.Chart:
    theory = theory or smi.load()
    t = sample_table(study, theory)
    if study == "malshe2011":
        return (alt.Chart(t).mark_bar().encode(
            x=alt.X("informants:Q", title="Informants"), y=alt.Y("group:N", title=None, sort=None),
            color=alt.Color("breakdown:N", title=None, scale=alt.Scale(range=PALETTE[:2]), legend=alt.Legend(orient="bottom")),
            tooltip=["breakdown", "group", "informants"])
            + alt.Chart(t).mark_text(align="left", dx=3).encode(x="informants:Q", y=alt.Y("group:N", sort=None), text="informants:Q")
        ).properties(title="Malshe (2011): 47 informants, two ways of splitting them", width=WIDTH, height=120)
    if study == "hughes2012":
        return (alt.Chart(t).mark_bar(color=PALETTE[0]).encode(
            x=alt.X("percent of informants:Q", title="Percent of the 25 informants", scale=alt.Scale(domain=[0, 100])),
            y=alt.Y("level:N", title="Seniority", sort=None), tooltip=list(t.columns))
            + alt.Chart(t).mark_text(align="left", dx=3).encode(x="percent of informants:Q", y=alt.Y("level:N", sort=None),
                                                                text="percent of informants:Q")
        ).properties(title="Hughes, Le Bon & Malshe (2012): informants by seniority", width=WIDTH, height=90)
    levels = ["Bottom", "Middle", "Top"]
    return alt.Chart(t).mark_bar().encode(
        x=alt.X("sum(dyads):Q", title="Dyads (one salesperson + one marketer at the same level)"),
        y=alt.Y("industry:N", title=None, sort="-x"),
        color=alt.Color("level:N", title="Level", scale=alt.Scale(domain=levels, range=PALETTE[:3]),
                        legend=alt.Legend(orient="bottom")),
        order=alt.Order("level:N"),
        tooltip=["industry", "level", "dyads"],
    ).properties(title="Malshe, Johnson & Viio (2017): the 21 dyads of Table 1", width=WIDTH, height=240)


def default_values(preset: str | None, theory: Theory | None = None) -> dict[str, float]:
    """Every input's starting value: a preset's, or the defaults."""
    theory = theory or smi.load()
    if preset:
        row = smi.preset(preset, theory).iloc[0].to_dict()
    else:
        row = dict(theory.defaults)
    row["smi_connection"] = float(smi.linkages(pd.DataFrame([row]), theory).smi_connection.iloc[0])
    return row


# --------------------------------------------------------------------------- lab charts (static specs)

def output_bars(values: dict[str, float], title: str, theory: Theory | None = None,
                compare: dict[str, float] | None = None, compare_label: str = "Run B") -> alt.Chart:
    """Horizontal bars of model outputs (0-1), optionally beside a second scenario."""
    theory = theory or smi.load()
    labels = output_labels(theory)
    rows = [{"output": labels.get(k, k), "value": float(v), "run": "Current", "group": GROUP.get(k, "")}
            for k, v in values.items()]
    if compare:
        rows += [{"output": labels.get(k, k), "value": float(v), "run": compare_label, "group": GROUP.get(k, "")}
                 for k, v in compare.items()]
    order = [labels.get(k, k) for k in values]
    df = pd.DataFrame(rows)
    y = alt.Y("output:N", sort=order, title=None)
    enc = dict(x=alt.X("value:Q", scale=alt.Scale(domain=[0, 1]), title="Strength (0 = absent, 1 = strongest the model allows)"),
               y=y, tooltip=[alt.Tooltip("output:N"), alt.Tooltip("run:N"), alt.Tooltip("value:Q", format=".3f")])
    if compare:
        enc["yOffset"] = alt.YOffset("run:N")
        enc["color"] = alt.Color("run:N", title=None, scale=alt.Scale(range=PALETTE[:2]), legend=alt.Legend(orient="bottom"))
    else:
        groups = list(dict.fromkeys(df.group))
        enc["color"] = alt.Color("group:N", title=None, scale=alt.Scale(domain=groups, range=PALETTE[: len(groups)]),
                                 legend=alt.Legend(orient="bottom", columns=1))
    bars = alt.Chart(df).mark_bar().encode(**enc)
    text = alt.Chart(df).mark_text(align="left", dx=3).encode(
        x="value:Q", y=y, text=alt.Text("value:Q", format=".3f"), **({"yOffset": alt.YOffset("run:N")} if compare else {}))
    return (bars + text).properties(title=title, width=WIDTH, height=(40 if compare else 24) * len(values))


def attribution_chart(by_prop: pd.DataFrame, title: str) -> alt.Chart:
    """Signed contribution of each proposition to an output's change from the baseline."""
    df = by_prop[by_prop.attribution.abs() > 1e-9].copy()
    if df.empty:
        df = by_prop.head(1).assign(attribution=0.0)
    df["direction"] = np.where(df.attribution >= 0, "raises it", "lowers it")
    df["shown"] = df.attribution.map(lambda v: f"{v:+.3f}")
    y = alt.Y("proposition:N", sort=alt.EncodingSortField("attribution", op="sum", order="descending"), title=None)
    bars = alt.Chart(df).mark_bar().encode(
        x=alt.X("attribution:Q", title="Contribution to the change from the baseline scenario"),
        y=y,
        color=alt.Color("direction:N", title=None, scale=alt.Scale(domain=["raises it", "lowers it"],
                        range=[PALETTE[0], PALETTE[3]]), legend=alt.Legend(orient="bottom")),
        tooltip=[alt.Tooltip("proposition:N"), alt.Tooltip("attribution:Q", format="+.4f"),
                 alt.Tooltip("inputs:N", title="Inputs"), alt.Tooltip("statement:N", title="Proposition")])
    text = alt.Chart(df).mark_text(align="left", dx=4).encode(x=alt.value("width"), y=y, text="shown:N")
    return (bars + text).properties(title=title, width=WIDTH, height=22 * len(df))


def sensitivity_chart(sens: pd.DataFrame, title: str, top: int = 8) -> alt.Chart:
    """The inputs whose move (alone, to the better end of its range) improves the output most."""
    df = sens[sens.actionable].head(top).copy()
    df["move"] = df.best_move.map({"raise": "raise it", "lower": "lower it", "none": "no gain"})
    y = alt.Y("label:N", sort=None, title=None)
    bars = alt.Chart(df).mark_bar().encode(
        x=alt.X("gain:Q", title="Best improvement from moving this input alone"),
        y=y,
        color=alt.Color("move:N", title=None, scale=alt.Scale(domain=["raise it", "lower it", "no gain"],
                        range=[PALETTE[2], PALETTE[4], "#767676"]), legend=alt.Legend(orient="bottom")),
        tooltip=[alt.Tooltip("label:N", title="Input"), alt.Tooltip("value:Q", format=".2f", title="Now"),
                 alt.Tooltip("gain:Q", format=".3f"), alt.Tooltip("propositions:N")])
    text = alt.Chart(df).mark_text(align="left", dx=3).encode(x="gain:Q", y=y, text=alt.Text("gain:Q", format=".3f"))
    return (bars + text).properties(title=title, width=WIDTH, height=24 * len(df))


def trajectory_chart(runs: dict[str, pd.DataFrame], series: list[str], title: str, theory: Theory | None = None) -> alt.Chart:
    """Lines over quarters for one or more simulated runs (solid = first run, dashed = second)."""
    theory = theory or smi.load()
    labels = {**output_labels(theory), **SERIES}
    frames = []
    for name, sim in runs.items():
        long = sim.melt(id_vars=["quarter"], value_vars=series, var_name="series", value_name="level")
        long["series"] = long.series.map(lambda s: labels.get(s, s.replace("_", " ")))
        long["run"] = name
        frames.append(long)
    df = pd.concat(frames, ignore_index=True)
    names = list(runs)
    return alt.Chart(df).mark_line(strokeWidth=2.2).encode(
        x=alt.X("quarter:Q", title="Quarter"),
        y=alt.Y("level:Q", title="Level (0 = none, 1 = maximal)", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("series:N", title=None, scale=alt.Scale(range=PALETTE), legend=alt.Legend(orient="bottom", columns=2)),
        strokeDash=alt.StrokeDash("run:N", title=None, scale=alt.Scale(domain=names, range=[[1, 0], [6, 3]][: len(names)]),
                                  legend=alt.Legend(orient="bottom") if len(names) > 1 else None),
        detail="run:N",
        tooltip=[alt.Tooltip("run:N"), alt.Tooltip("series:N"), alt.Tooltip("quarter:Q"), alt.Tooltip("level:Q", format=".3f")],
    ).properties(title=title, width=WIDTH, height=240)


def sensemaking_chart(rows: pd.DataFrame, title: str) -> alt.Chart:
    """Side by side: how sales and marketing read and respond to each dysfunction at one quarter.

    ``rows``: columns dysfunction, side, stage, label, value (0-1, 'falls' constructs shown as read).
    """
    stages = ["situational meaning", "existential meaning", "response"]
    base = alt.Chart(rows)
    bars = base.mark_bar().encode(
        x=alt.X("value:Q", scale=alt.Scale(domain=[0, 1]), title="Intensity (0-1)"),
        y=alt.Y("label:N", sort=None, title=None),
        color=alt.Color("stage:N", title=None, scale=alt.Scale(domain=stages, range=PALETTE[:3]),
                        legend=alt.Legend(orient="bottom")),
        tooltip=["side", "dysfunction", "stage", "label", alt.Tooltip("value:Q", format=".3f")])
    # one side above the other: the construct labels are long, so two panels side by side would
    # be wider than a lab or a phone and get scaled down below a readable size
    return bars.properties(width=230, height=20 * 9).facet(
        row=alt.Row("side:N", title=None, sort=["sales", "marketing"],
                    header=alt.Header(labelFontSize=13, labelFontWeight="bold", labelAngle=0,
                                      labelOrient="top", labelAnchor="start"))
    ).properties(title=title)


def spillover_chart(with_spill: dict[str, float], without: dict[str, float], title: str,
                    theory: Theory | None = None) -> alt.Chart:
    """Each capability with and without the spill-overs from the capabilities that feed it."""
    return output_bars(with_spill, title, theory, compare=without, compare_label="Without spill-overs")
