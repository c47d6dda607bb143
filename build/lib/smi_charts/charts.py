"""Chart builders: pure functions from model output and data to Altair charts.

No widgets and no display here: the book (``smi_charts.book``) and the Voila labs render what
these return. Explorables carry Altair parameters bound to HTML inputs and compute in the
browser from expressions generated from the model (``smi_charts.expr``) or, for the
dysfunction dynamics, from a small grid the model precomputes.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import altair as alt
import numpy as np
import pandas as pd

import smi
from smi.data import CAPABILITIES, DYSFUNCTIONS, LINKAGES, Theory
from smi.model import compiled

from . import expr

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


def explorable(kind: str, inputs: list[str], values: dict[str, float], title: str,
               theory: Theory | None = None, bind: bool = True) -> Explorable:
    """Bars of model outputs computed in the browser; one slider per input in ``inputs``.

    ``kind``: ``linkages`` (linkage inputs -> linkages + connection), ``capabilities``
    (levers + an ``smi_connection`` slider -> functioning, synergy, capabilities) or ``chain``
    (linkage inputs and levers -> the whole chain). ``bind=False`` leaves the parameters without
    HTML inputs, for a host that drives them itself (the Voila labs' ipywidgets).
    """
    theory = theory or smi.load()
    c = compiled(theory)
    spec = theory.inputs.set_index("name")
    variable = set(inputs)
    if kind == "linkages":
        calcs = expr.linkage_calculations(c, variable, values)
    elif kind == "capabilities":
        conn = "smi_connection" if "smi_connection" in variable else expr._num(values["smi_connection"])
        calcs = expr.capability_calculations(c, variable, values, connection=conn)
    elif kind == "chain":
        calcs = expr.linkage_calculations(c, variable, values) + expr.capability_calculations(c, variable, values)
    else:
        raise ValueError(f"unknown explorable kind {kind!r} (linkages, capabilities, chain)")
    outputs = KIND_OUTPUTS[kind]
    labels = output_labels(theory)
    params = []
    for name in inputs:
        if name == "smi_connection":
            lo, hi, label = 0.0, 1.0, "SMI connection (from the linkages)"
        else:
            lo, hi, label = float(spec.loc[name, "min"]), float(spec.loc[name, "max"]), spec.loc[name, "label"]
        binding = alt.binding_range(min=lo, max=hi, step=0.01, name=f"{label} ") if bind else alt.Undefined
        params.append(alt.param(name=name, value=float(values[name]), bind=binding))
    base = alt.Chart(alt.Data(values=[{"scenario": "current"}]))
    for field, e in calcs:
        base = base.transform_calculate(**{field: e})
    order = [labels[o] for o in outputs]
    base = (base.transform_fold(outputs, as_=["output", "value"])
            .transform_calculate(label=f"{json.dumps(labels)}[datum.output]",
                                 group=f"{json.dumps(GROUP)}[datum.output]",
                                 shown="format(datum.value, '.3f')"))
    y = alt.Y("label:N", sort=order, title=None, axis=alt.Axis(labelLimit=260))
    groups = list(dict.fromkeys(GROUP[o] for o in outputs))
    bars = base.mark_bar().encode(
        x=alt.X("value:Q", scale=alt.Scale(domain=[0, 1]), title="Strength (0 = absent, 1 = strongest the model allows)"),
        y=y,
        color=alt.Color("group:N", scale=alt.Scale(domain=groups, range=PALETTE[: len(groups)]),
                        legend=alt.Legend(title=None, orient="bottom", columns=1)),
        tooltip=[alt.Tooltip("label:N", title="Output"), alt.Tooltip("value:Q", format=".3f", title="Value")],
    )
    text = base.mark_text(align="left", dx=4).encode(x="value:Q", y=y, text="shown:N")
    chart = (bars + text).add_params(*params).properties(title=title, width=WIDTH, height=24 * len(outputs))
    return Explorable(chart, outputs, labels, list(inputs), dict(values))


def explorable_values(kind: str, values: dict[str, float], theory: Theory | None = None) -> pd.Series:
    """What the Python model says the explorable shows for ``values`` (for tables and tests)."""
    theory = theory or smi.load()
    if kind == "capabilities":
        row = {k: v for k, v in values.items()}
        return smi.capabilities(pd.DataFrame([row]), theory).iloc[0][KIND_OUTPUTS[kind]]
    return smi.evaluate(pd.DataFrame([values]), theory).iloc[0][KIND_OUTPUTS[kind]]


# --------------------------------------------------------------------------- dysfunction dynamics

INTERVENTIONS = {
    "none": {},
    "function-level fix": {"function_fix": 1.0},
    "sensemaking measures": {"openness": 0.5, "joint_calls": 0.5, "job_rotation": 0.5},
    "both": {"function_fix": 1.0, "openness": 0.5, "joint_calls": 0.5, "job_rotation": 0.5},
}
START_QUARTERS = (0, 2, 4, 8, 12, 16, 24)
START_LEVEL = 0.5
SERIES = {"communication_paucity": "Communication paucity", "lack_of_collaboration": "Lack of collaboration",
          "overt_conflict": "Overt conflict", "smi_functioning": "SMI functioning"}


def dysfunction_grid(theory: Theory | None = None, quarters: int = 40) -> pd.DataFrame:
    """Every combination the dysfunction explorer offers, simulated by the model.

    One row per run: its settings plus one array per series (quarters 0..``quarters``).
    """
    theory = theory or smi.load()
    rows = []
    for start in DYSFUNCTIONS:
        for curve in ("increasing", "linear", "decreasing"):
            for iv, levers in INTERVENTIONS.items():
                for q in (START_QUARTERS if levers else (0,)):
                    row = dict(theory.defaults)
                    row[f"start_{start}"] = START_LEVEL
                    row["incremental_effects"] = curve
                    row.update(levers)
                    for m in ("function_fix", "openness", "joint_calls", "job_rotation"):
                        row[f"{m}_start"] = q
                    rows.append({"start": start, "curve": curve, "intervention": iv, "from_quarter": q, **row})
    settings = pd.DataFrame(rows)
    sim = smi.simulate(settings[theory.input_names()], quarters=quarters, theory=theory)
    out = settings[["start", "curve", "intervention", "from_quarter"]].copy()
    for s in SERIES:
        out[s] = list(sim[s].to_numpy().reshape(quarters + 1, len(settings)).T.round(4))
    return out


def dysfunction_chart(grid: pd.DataFrame, title: str, theory: Theory | None = None) -> alt.Chart:
    """Lines of the three dysfunctions and SMI functioning over quarters, for the selected run."""
    theory = theory or smi.load()
    quarters = len(grid[next(iter(SERIES))].iloc[0]) - 1
    records = [{"start": r.start, "curve": r.curve, "intervention": r.intervention, "from_quarter": int(r.from_quarter),
                "quarter": list(range(quarters + 1)), **{s: [float(v) for v in getattr(r, s)] for s in SERIES}}
               for r in grid.itertuples()]
    dys_labels = {d: SERIES[d] for d in DYSFUNCTIONS}
    p_start = alt.param(name="start_dysfunction", value="communication_paucity",
                        bind=alt.binding_select(options=list(dys_labels), labels=list(dys_labels.values()),
                                                name="Starting dysfunction (level 0.5) "))
    p_curve = alt.param(name="curve", value="linear",
                        bind=alt.binding_select(options=["increasing", "linear", "decreasing"],
                                                name="Incremental effects "))
    p_iv = alt.param(name="intervention", value="none",
                     bind=alt.binding_select(options=list(INTERVENTIONS), name="Intervention "))
    p_q = alt.param(name="from_quarter", value=4,
                    bind=alt.binding_select(options=list(START_QUARTERS), name="Intervention starts in quarter "))
    chart = (
        alt.Chart(alt.Data(values=records))
        .transform_filter("datum.start == start_dysfunction && datum.curve == curve && datum.intervention == intervention"
                          " && (intervention == 'none' || datum.from_quarter == from_quarter)")
        .transform_flatten(["quarter", *SERIES])
        .transform_fold(list(SERIES), as_=["series", "level"])
        .transform_calculate(label=f"{json.dumps(SERIES)}[datum.series]")
        .mark_line(strokeWidth=2.5)
        .encode(
            x=alt.X("quarter:Q", title="Quarter", scale=alt.Scale(domain=[0, quarters])),
            y=alt.Y("level:Q", title="Level (0 = none, 1 = maximal)", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("label:N", title=None, scale=alt.Scale(domain=list(SERIES.values()), range=PALETTE[:4]),
                            legend=alt.Legend(orient="bottom", columns=2)),
            # dash patterns keep the series apart in greyscale and for colour-blind readers
            strokeDash=alt.StrokeDash("label:N", scale=alt.Scale(domain=list(SERIES.values()),
                                      range=[[1, 0], [6, 3], [2, 2], [8, 2, 2, 2]]), legend=None),
            tooltip=[alt.Tooltip("label:N", title="Series"), alt.Tooltip("quarter:Q", title="Quarter"),
                     alt.Tooltip("level:Q", format=".3f", title="Level")],
        )
        .add_params(p_start, p_curve, p_iv, p_q)
        .properties(title=title, width=WIDTH, height=260)
    )
    return chart


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
    y = alt.Y("output:N", sort=order, title=None, axis=alt.Axis(labelLimit=260))
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
    text = alt.Chart(df).mark_text(align="left", dx=3).encode(x=alt.value(WIDTH + 4), y=y, text="shown:N")
    return (bars + text).properties(title=title, width=WIDTH, height=22 * len(df))


def sensitivity_chart(sens: pd.DataFrame, title: str, top: int = 8) -> alt.Chart:
    """The inputs whose move (alone, to the better end of its range) improves the output most."""
    df = sens[sens.actionable].head(top).copy()
    df["move"] = df.best_move.map({"raise": "raise it", "lower": "lower it", "none": "no gain"})
    y = alt.Y("label:N", sort=None, title=None, axis=alt.Axis(labelLimit=260))
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
        y=alt.Y("label:N", sort=None, title=None, axis=alt.Axis(labelLimit=220)),
        color=alt.Color("stage:N", title=None, scale=alt.Scale(domain=stages, range=PALETTE[:3]),
                        legend=alt.Legend(orient="bottom")),
        tooltip=["side", "dysfunction", "stage", "label", alt.Tooltip("value:Q", format=".3f")])
    return bars.properties(width=230, height=20 * 9).facet(
        column=alt.Column("side:N", title=None, sort=["sales", "marketing"],
                          header=alt.Header(labelFontSize=13, labelFontWeight="bold"))
    ).properties(title=title)


def spillover_chart(with_spill: dict[str, float], without: dict[str, float], title: str,
                    theory: Theory | None = None) -> alt.Chart:
    """Each capability with and without the spill-overs from the capabilities that feed it."""
    return output_bars(with_spill, title, theory, compare=without, compare_label="Without spill-overs")
