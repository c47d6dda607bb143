"""Book components for the SMI health check and the class debrief (no server needed).

``health_check(key)`` renders the questionnaire of ``data/healthcheck.yaml`` as accessible
radio groups and a profile that the reader's browser computes: the question -> input mapping,
the labels and propositions, the dysfunction grid and a Vega-Lite spec of the whole chain
(``charts.explorable(kind="chain", bind=False)``) are emitted here as data, and
``static/healthcheck.js`` (inlined into the page) turns answers into inputs, drives the chart
with ``view.signal`` and ranks the weakest links and what to work on first. ``smi.questionnaire``
computes the same profile in Python; the browser tests compare the two.

``debrief(key)`` lets an instructor load the class's exported files or codes; the browser
validates each, skips and names malformed ones, and draws the class distribution
(:func:`class_chart`, also used by ``scripts/debrief.py``). Nothing leaves the machine.

Call in a chapter as ``from smi_charts import healthcheck as hc`` then ``hc.health_check(key="health")``.
"""
from __future__ import annotations

from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
from IPython.display import HTML, display

import smi
from smi import questionnaire as qn
from smi.data import DYSFUNCTIONS, LEVERS, LINKAGES, Theory
from smi.model import compiled

from . import charts
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
    share of the connection kept. The browser interpolates in the connection exactly as
    ``smi.questionnaire.dysfunction_risk`` does."""
    g = qn.risk_grid(q)
    return {"inputs": g.starts, "steps": g.steps, "connection": [round(float(c), 6) for c in g.connection],
            "fields": list(qn.RISK_FIELDS), "values": np.round(g.values, 6).tolist(),
            "connectionShare": q.theory.param("functioning.connection_share")}


def chain_spec(theory: Theory, title: str = "Your firm in the teaching model") -> dict:
    """The chain explorable (linkage inputs and levers -> linkages, functioning, capabilities), no sliders."""
    names = [*theory.input_names("linkages"), *theory.input_names("capabilities")]
    exp = charts.explorable("chain", names, charts.default_values(None, theory), title, theory, bind=False)
    return exp.chart.to_dict()


def page_data(key: str, q: qn.Questionnaire, *, grid: bool = True, chain_title: str | None = None) -> dict:
    """Everything the browser needs to compute the profile, as plain JSON."""
    theory = q.theory
    spec = theory.inputs.set_index("name")
    labels = charts.output_labels(theory)
    irefs = qn.input_refs(theory)
    number = {qq.id: qq.number for qq in q.questions}
    inputs = {}
    for name in dict.fromkeys([*q.weights, *qn.actionable_inputs(theory)]):
        inputs[name] = {"label": spec.loc[name, "label"], "kind": spec.loc[name, "kind"],
                        "min": float(spec.loc[name, "min"]), "max": float(spec.loc[name, "max"]),
                        "cite": qn.cite(irefs[name]), "questions": [number[i] for i in q.questions_for(name)]}
    lrefs = qn.linkage_refs(theory)
    c = compiled(theory)
    out = {
        "key": key, "format": qio.FORMAT, "version": qio.VERSION, "codePrefix": qio.CODE_PREFIX,
        "fingerprint": q.fingerprint, "points": qn.POINTS,
        "questions": [{"id": qq.id, "number": qq.number, "text": qq.text} for qq in q.questions],
        "weights": {name: [[qid, sign] for qid, sign in pairs] for name, pairs in q.weights.items()},
        "inputs": inputs,
        "outputs": labels,
        "linkages": {k: {"label": labels[k], "members": qn.linkage_members(theory)[k], "cite": qn.cite(lrefs[k])}
                     for k in LINKAGES},
        "levers": list(LEVERS),
        "capabilities": list(theory.capabilities.capability),
        "dysfunctions": [{"name": d, "input": f"start_{d}"} for d in DYSFUNCTIONS],
        "actionable": qn.actionable_inputs(theory),
        "firstOutput": qn.FIRST_OUTPUT, "weakestPerLayer": qn.WEAKEST_PER_LAYER,
        "workOnFirst": qn.WORK_ON_FIRST, "alertLevel": qn.ALERT_LEVEL, "round": qn.ROUND,
        "linkageWeights": c.linkage_weights,
        "chain": chain_spec(theory, chain_title or "Your firm in the teaching model"),
        "classMeasures": qn.class_measures(theory),
    }
    if grid:
        out["grid"] = dysfunction_grid(q)
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
    data = page_data(key, q, grid=False, chain_title="class debrief")
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
