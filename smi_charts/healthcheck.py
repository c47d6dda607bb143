"""Book components for the SMI health check and the class debrief (no server needed).

``health_check(key)`` renders the questionnaire of ``data/healthcheck.yaml`` as accessible
radio groups and a profile that the reader's browser computes: the question -> input mapping,
the labels and propositions, the dysfunction grid, a Vega-Lite spec of the whole chain
(``charts.explorable(kind="chain", bind=False)``) and a headless Vega spec of the model
(:func:`model_spec`: the outputs, what to work on first, the weakest links and the alerts, from
expressions generated from the model) are emitted here as data, and ``static/healthcheck.js``
(inlined into the page) turns answers into inputs, sets them on both views and shows what the
model view computed. ``smi.questionnaire`` computes the same profile in Python; the browser
tests compare the two.

``debrief(key)`` lets an instructor load the class's exported files or codes; the browser
validates each, skips and names malformed ones, and draws the class distribution
(:func:`class_chart`, also used by ``scripts/debrief.py``). Nothing leaves the machine.

Call in a chapter as ``from smi_charts import healthcheck as hc`` then ``hc.health_check(key="health")``.
"""
from __future__ import annotations

import json
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
from IPython.display import HTML, display

import smi
from smi import questionnaire as qn
from smi.data import DYSFUNCTIONS, LEVERS, LINKAGES, Theory
from smi.explain import outputs as model_outputs
from smi.model import compiled

from . import charts, expr
from . import questionnaire_io as qio
from .templating import check_key, inline, json_for_script, render

STATIC = Path(__file__).parent / "static"
CLASS_WIDTH = 360  # the class chart's panels (narrower than explorables: long measure labels)
AXIS = {"linkages": "Strength (0 = absent, 1 = strongest the model allows)",
        "levers": "Rating (0 = lowest answer, 1 = highest)",
        "triggers": "Starting level (0 = no trigger noticed, 1 = strongest)"}


def _static(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


# --------------------------------------------------------------------------- data for the browser

def dysfunction_grid(q: qn.Questionnaire) -> dict:
    """The health check's dysfunction-risk grid (``smi.questionnaire.risk_grid``) as JSON: per cell of
    starting levels and per SMI connection level, cumulative, final and peak dysfunction and the
    share of the connection kept, stored to 6 decimals. The page's model view interpolates in it
    (:func:`model_spec`) as ``smi.questionnaire.dysfunction_risk`` does."""
    g = qn.risk_grid(q)
    return {"inputs": g.starts, "steps": g.steps, "connection": [round(float(c), 6) for c in g.connection],
            "fields": list(qn.RISK_FIELDS), "values": np.round(g.values, 6).tolist(),
            "connectionShare": q.theory.param("functioning.connection_share")}


def chain_spec(theory: Theory, title: str = "Your firm in the teaching model") -> dict:
    """The chain explorable (linkage inputs and levers -> linkages, functioning, capabilities), no sliders."""
    names = [*theory.input_names("linkages"), *theory.input_names("capabilities")]
    exp = charts.explorable("chain", names, charts.default_values(None, theory), title, theory, bind=False)
    return exp.chart.to_dict()


def _rounded(e: str) -> str:
    """``e`` rounded to ``ROUND`` decimals, as the earlier hand-written JS rounded (Math.round)."""
    scale = expr.literal(10 ** qn.ROUND)
    return f"round({e} * {scale}) / {scale}"


def _ranked(field: str, ascending: bool, keep: int | None = None, groupby: str | None = None) -> list[dict]:
    """Vega transforms ranking rows as ``smi.questionnaire._rank`` does: by ``field`` rounded to
    ``ROUND`` decimals, ties by ``name``; the first ``keep`` (per ``groupby``) kept, in rank order.
    The sort comes last: a view keeps a data set's rows in the order of its final collector."""
    window = {"type": "window", "ops": ["row_number"], "as": ["rank"],
              "sort": {"field": ["rounded", "name"], "order": ["ascending" if ascending else "descending", "ascending"]}}
    if groupby:
        window["groupby"] = [groupby]
    out = [{"type": "formula", "as": "rounded", "expr": _rounded(f"datum.{field}")}, window]
    if keep is not None:
        out.append({"type": "filter", "expr": f"datum.rank <= {keep}"})
    return out + [{"type": "collect", "sort": {"field": [groupby, "rank"] if groupby else ["rank"]}}]


def _signal_value(names: list[str]) -> dict:
    """A formula setting ``value`` to the signal named by ``datum.name`` (Vega has no lookup by name)."""
    e = "null"
    for n in reversed(names):
        e = f"(datum.name === {json.dumps(n)} ? {n} : {e})"
    return {"type": "formula", "as": "value", "expr": e}


def _probes(theory: Theory) -> list[dict]:
    """``probes``: the firm (``end`` now) and each actionable input alone at either end of its range,
    every row through the model's expressions (a probed input read from the row); ``now``: the firm."""
    probed = qn.actionable_inputs(theory)

    def read(name: str) -> str:
        return f"(datum.name === {json.dumps(name)} ? datum.at : {name})" if name in probed else name

    c, chain = compiled(theory), charts.kind_inputs("chain", theory)
    values = charts.default_values(None, theory)
    calcs = (expr.linkage_calculations(c, set(chain), values, read=read)
             + expr.capability_calculations(c, set(chain), values, read=read))
    spec = theory.inputs.set_index("name")
    rows = [{"end": "now"}] + [{"name": n, "end": end, "at": float(spec.loc[n, end])} for n in probed for end in ("min", "max")]
    return [{"name": "probes", "values": rows, "transform": [{"type": "formula", "as": f, "expr": e} for f, e in calcs]},
            {"name": "now", "source": "probes", "transform": [{"type": "filter", "expr": "datum.end === 'now'"}]}]


def _work(theory: Theory, signals: list[str]) -> dict:
    """``work``: what to work on first, from the probes as ``smi.sensitivity`` computes gain and move
    (the change in ``FIRST_OUTPUT``'s better direction, floored at 0); gains that round to 0 dropped."""
    f = qn.FIRST_OUTPUT
    sign = 1 if model_outputs(theory).set_index("output").loc[f, "better"] == "higher" else -1
    return {"name": "work", "source": "probes", "transform": [
        {"type": "formula", "as": "now_only", "expr": f"datum.end === 'now' ? datum.{f} : null"},
        {"type": "joinaggregate", "ops": ["max"], "fields": ["now_only"], "as": ["output_now"]},
        {"type": "filter", "expr": "datum.end !== 'now'"},
        {"type": "formula", "as": "change", "expr": f"{sign} * (datum.{f} - datum.output_now)"},
        {"type": "pivot", "groupby": ["name"], "field": "end", "value": "change", "op": "max"},
        {"type": "formula", "as": "gain", "expr": "max(datum.max, datum.min, 0)"},
        {"type": "formula", "as": "move", "expr": "datum.gain > 0 ? (datum.max >= datum.min ? 'raise' : 'lower') : 'none'"},
        _signal_value(signals),
        {"type": "filter", "expr": f"{_rounded('datum.gain')} > 0"},
        *_ranked("gain", ascending=False, keep=qn.WORK_ON_FIRST)]}


def _weakest(theory: Theory, signals: list[str]) -> list[dict]:
    """``weakest``: the lowest linkages, each with its member input holding it back most, then the
    lowest levers (``smi.questionnaire.profile``'s weakest links); ``alerts``: the starting
    dysfunctions at or above ``ALERT_LEVEL``, strongest first."""
    members = [{"linkage": k, "name": m} for k, ms in qn.linkage_members(theory).items() for m in ms]

    def tag(layer: str, part: int) -> list[dict]:
        return [{"type": "formula", "as": "layer", "expr": f"'{layer}'"}, {"type": "formula", "as": "part", "expr": str(part)}]
    return [
        {"name": "held", "values": members, "transform": [_signal_value(signals), *_ranked("value", True, 1, "linkage")]},
        {"name": "weak_linkages", "source": "now", "transform": [
            {"type": "fold", "fields": list(LINKAGES), "as": ["name", "value"]},
            {"type": "project", "fields": ["name", "value"]},
            {"type": "lookup", "from": "held", "key": "linkage", "fields": ["name"], "values": ["name", "value"],
             "as": ["held", "heldValue"]},
            *tag("linkage", 0), *_ranked("value", True, qn.WEAKEST_PER_LAYER)]},
        {"name": "weak_levers", "values": [{"name": lv} for lv in LEVERS], "transform": [  # a lever holds itself back
            _signal_value(signals), {"type": "formula", "as": "held", "expr": "datum.name"},
            {"type": "formula", "as": "heldValue", "expr": "datum.value"},
            *tag("lever", 1), *_ranked("value", True, qn.WEAKEST_PER_LAYER)]},
        {"name": "weakest", "source": ["weak_linkages", "weak_levers"],  # linkages first, then levers
         "transform": [{"type": "collect", "sort": {"field": ["part", "rank"]}}]},
        {"name": "alerts", "values": [{"name": f"start_{d}"} for d in DYSFUNCTIONS], "transform": [
            _signal_value(signals), {"type": "filter", "expr": f"datum.value >= {expr.literal(qn.ALERT_LEVEL)}"},
            *_ranked("value", ascending=False)]},
    ]


def _risk(q: qn.Questionnaire) -> tuple[list[dict], dict]:
    """Signals holding the dysfunction grid and ``risk``: its estimate for the firm, as
    ``smi.questionnaire.dysfunction_risk`` computes it (the cell of the starting levels,
    interpolated linearly in the SMI connection; functioning loss from the connection kept)."""
    g = dysfunction_grid(q)
    cell = "0"
    for name, n in zip(g["inputs"], g["steps"]):
        cell = f"({cell}) * {n + 1} + round({name} * {n})"
    last = len(g["connection"]) - 1
    field = {f: f"risk_grid[datum.risk_cell][datum.risk_j][{i}] * (1 - datum.risk_t) + "
                f"risk_grid[datum.risk_cell][datum.risk_j + 1][{i}] * datum.risk_t" for i, f in enumerate(g["fields"])}
    share, kept = expr.literal(g["connectionShare"]), field["connection_kept"]
    out = {
        "cumulative_dysfunction": field["cumulative_dysfunction"], "final_dysfunction": field["final_dysfunction"],
        "peak_dysfunction": field["peak_dysfunction"],
        "functioning_loss": f"datum.smi_functioning > 0 ? {share} * datum.smi_connection * (1 - ({kept})) / datum.smi_functioning : 0",
    }
    steps = [("risk_cell", cell), ("risk_j", f"min(max(0, floor(datum.smi_connection * {last})), {last - 1})"),
             ("risk_t", "(datum.smi_connection - risk_levels[datum.risk_j]) / "
                        "(risk_levels[datum.risk_j + 1] - risk_levels[datum.risk_j])"),
             *((f"risk_{k}", e) for k, e in out.items())]
    signals = [{"name": "risk_grid", "value": g["values"]}, {"name": "risk_levels", "value": g["connection"]}]
    return signals, {"name": "risk", "source": "now", "transform": [
        *({"type": "formula", "as": f, "expr": e} for f, e in steps),
        {"type": "project", "fields": [f"risk_{k}" for k in out], "as": list(out)}]}  # new rows: only the estimate


def model_spec(q: qn.Questionnaire, risk: bool = True) -> dict:
    """A headless Vega spec of the model for the browser: one run gives what ``smi.questionnaire.profile``
    computes (with ``risk``, the dysfunction-risk estimate too, data set ``risk``).

    The inputs are Vega signals: the chain explorable's parameters and every input the questions
    set; the page sets them and reads the data sets ``now`` (the firm's outputs), ``work``
    (name, value, gain, move), ``weakest`` (layer, name, value, held, heldValue) and ``alerts``
    (name, value). The model's expressions come from :mod:`smi_charts.expr`, as the explorables'.
    """
    theory = q.theory
    signals = list(dict.fromkeys([*charts.kind_inputs("chain", theory), *q.weights]))
    defaults = charts.default_values(None, theory)
    spec = {"signals": [{"name": n, "value": float(defaults.get(n, theory.defaults[n]))} for n in signals],
            "data": [*_probes(theory), _work(theory, signals), *_weakest(theory, signals)]}
    if risk:
        grid, data = _risk(q)
        spec["signals"] += grid
        spec["data"].append(data)
    return spec


def page_data(key: str, q: qn.Questionnaire, *, profile: bool = True) -> dict:
    """Everything the browser needs, as plain JSON: the questions, their mapping and the model
    (:func:`model_spec`); with ``profile`` (the health check, not the debrief) also the visible
    chain chart and the model's dysfunction-risk estimate."""
    theory = q.theory
    spec = theory.inputs.set_index("name")
    labels = charts.output_labels(theory)
    irefs = qn.input_refs(theory)
    number = {qq.id: qq.number for qq in q.questions}
    inputs = {name: {"label": spec.loc[name, "label"], "cite": qn.cite(irefs[name]),
                     "questions": [number[i] for i in q.questions_for(name)]}
              for name in dict.fromkeys([*q.weights, *qn.actionable_inputs(theory)])}
    lrefs = qn.linkage_refs(theory)
    out = {
        "key": key, "format": qio.FORMAT, "version": qio.VERSION, "codePrefix": qio.CODE_PREFIX,
        "fingerprint": q.fingerprint, "points": qn.POINTS,
        "questions": [{"id": qq.id, "number": qq.number, "text": qq.text} for qq in q.questions],
        "weights": {name: [[qid, sign] for qid, sign in pairs] for name, pairs in q.weights.items()},
        "inputs": inputs,
        "linkages": {k: {"label": labels[k], "cite": qn.cite(lrefs[k])} for k in LINKAGES},
        "levers": list(LEVERS),
        "capabilities": list(theory.capabilities.capability),
        "dysfunctions": [{"name": d, "input": f"start_{d}"} for d in DYSFUNCTIONS],
        "model": model_spec(q, risk=profile),
        "classMeasures": qn.class_measures(theory),
    }
    if profile:
        out["chain"] = chain_spec(theory)
    return out


# --------------------------------------------------------------------------- HTML (templates/*.html.j2)

def _assets(root: str, data: dict) -> dict:
    """The inlined stylesheet, script and page data both components end with."""
    return {"css": inline(_static("healthcheck.css"), "healthcheck.css"),
            "js": inline(_static("healthcheck.js"), "healthcheck.js"), "data": json_for_script(data)}


def health_check(key: str = "health", path: str | Path | None = None) -> None:
    """The questionnaire and the reader's profile, computed in the browser (answers stay there)."""
    check_key(key)
    q = qio.load(path)
    theory = q.theory
    root = f"smi-hc-{key}"
    labels = charts.output_labels(theory)
    in_label = dict(zip(theory.inputs.name, theory.inputs.label))
    sections = [(sid, title, qs) for sid, title in q.sections.items()
                if (qs := [qq for qq in q.questions if qq.section == sid])]
    chain_rows = [(k, labels[k]) for k in [*LINKAGES, "smi_connection", "lever_integration", "smi_functioning",
                                             "synergy", *theory.capabilities.capability]]
    lever_rows = [(lv, in_label[lv]) for lv in LEVERS]
    dys_rows = ([(f"start_{d}", in_label[f"start_{d}"]) for d in DYSFUNCTIONS]
                + [(o, labels[o]) for o in ("cumulative_dysfunction", "peak_dysfunction", "final_dysfunction",
                                            "functioning_loss")])
    tables = [("chain", "The chain, computed from your answers (0 = absent, 1 = strongest the model allows)", chain_rows),
              ("levers", "The eight levers, as you rated them", lever_rows),
              ("dysfunction", "Dysfunction risk, estimated: starting levels from the triggers, run forward over the "
               "simulated quarters for a firm whose five linkages all stand at your SMI connection (dysfunction "
               "totals run 0-3)", dys_rows)]
    display(HTML(render("health_check.html.j2", root=root, key=key, title=q.title, n_questions=len(q.questions),
                        sections=sections, tables=tables, **_assets(root, page_data(key, q)))))


def debrief(key: str = "debrief", path: str | Path | None = None) -> None:
    """Load a class's exported health checks (files, a folder or codes); show the distribution."""
    check_key(key)
    q = qio.load(path)
    root = f"smi-hc-{key}"
    data = page_data(key, q, profile=False)
    data["classSpec"] = class_chart().to_dict()
    display(HTML(render("debrief.html.j2", root=root, key=key, **_assets(root, data))))


def questions_table(path: str | Path | None = None) -> None:
    """Every question with the construct behind it and the model input it sets."""
    q = qio.load(path)
    in_label = dict(zip(q.theory.inputs.name, q.theory.inputs.label))
    rows = []
    for qq in q.questions:
        sets = "; ".join(f"{in_label[n]} ({'higher answer raises it' if s == '+' else 'reversed: higher answer lowers it'})"
                         for n, s in qq.maps_to)
        rows.append({"#": qq.number, "question": qq.text, "construct": qn.cite(list(qq.construct)),
                     "sets the model input": sets})
    from .book import table
    table(pd.DataFrame(rows))


# --------------------------------------------------------------------------- the class chart

def class_chart(rows: pd.DataFrame | list[dict] | None = None, title: str = "Where the class's firms stand",
                subtitle: list[str] | None = None, theory: Theory | None = None) -> alt.VConcatChart:
    """Each firm's linkages (box and dots), levers and starting dysfunctions (class average bar and dots).

    With ``rows`` (``smi.questionnaire.class_table``) the data are embedded under the dataset name
    ``firms``; without, the spec refers to ``firms`` and the page supplies it.
    """
    theory = theory or smi.load()
    measures = qn.class_measures(theory)
    data = alt.Data(name="firms")
    panels = []
    for i, (group, gtitle) in enumerate(qn.CLASS_GROUPS.items()):
        order = [m["label"] for m in measures if m["group"] == group]
        base = alt.Chart(data).transform_filter(alt.datum.group == group)
        y = alt.Y("label:N", sort=order, title=None, axis=alt.Axis(labelLimit=260))
        xtitle = AXIS[group]
        x = alt.X("value:Q", scale=alt.Scale(domain=[0, 1]), title=xtitle)
        dots = base.mark_circle(size=60, opacity=0.75, color=charts.PALETTE[3]).encode(
            x=x, y=y, tooltip=[alt.Tooltip("firm:N", title="Firm"), alt.Tooltip("label:N", title="Measure"),
                               alt.Tooltip("value:Q", format=".3f", title="Value")])
        if group == "linkages":
            back = base.mark_boxplot(extent="min-max", color=charts.PALETTE[0], opacity=0.45, size=16).encode(x=x, y=y)
        else:
            back = base.mark_bar(color=charts.PALETTE[i], opacity=0.5).encode(
                x=alt.X("mean(value):Q", scale=alt.Scale(domain=[0, 1]), title=xtitle), y=y,
                tooltip=[alt.Tooltip("label:N", title="Measure"), alt.Tooltip("mean(value):Q", format=".3f", title="Class average")])
        panels.append((back + dots).properties(title=gtitle, width=CLASS_WIDTH, height=24 * len(order)))
    chart = alt.vconcat(*panels).properties(title=alt.TitleParams(title, subtitle=subtitle or alt.Undefined))
    return chart


def class_spec(rows: pd.DataFrame, skipped: list[str] | None = None, theory: Theory | None = None) -> dict:
    """The class chart as a Vega-Lite spec with the firms' rows embedded (for scripts/debrief.py)."""
    n = rows.firm.nunique() if len(rows) else 0
    sub = [f"{n} firm{'s' if n != 1 else ''}"] + ([f"Skipped (malformed): {', '.join(skipped)}"] if skipped else [])
    spec = class_chart(title="Where the class's firms stand", subtitle=sub, theory=theory).to_dict()
    spec["datasets"] = {"firms": rows.to_dict(orient="records")}
    return spec
