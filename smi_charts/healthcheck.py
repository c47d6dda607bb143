"""Book components for the SMI health check and the class debrief (no server needed).

``health_check(key)`` renders the questionnaire of ``data/healthcheck.yaml`` as accessible
radio groups and a profile that the reader's browser computes: the question -> input mapping,
the labels and propositions, the dysfunction grid and a Vega-Lite spec of the whole chain
(``charts.explorable(kind="chain", bind=False)``) are emitted here as data, and
``static/healthcheck.js`` (inlined into the page) turns answers into inputs, drives the chart
with ``view.signal`` and ranks the weakest links and what to work on first. ``smi.healthcheck``
computes the same profile in Python; the browser tests compare the two.

``debrief(key)`` lets an instructor load the class's exported files or codes; the browser
validates each, skips and names malformed ones, and draws the class distribution
(:func:`class_chart`, also used by ``scripts/debrief.py``). Nothing leaves the machine.

Call in a chapter as ``from smi_charts import healthcheck as hc`` then ``hc.health_check(key="health")``.
"""
from __future__ import annotations

import html
import itertools
import json
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
from IPython.display import HTML, display

import smi
from smi import healthcheck as shc
from smi.data import DYSFUNCTIONS, LEVERS, LINKAGES, Theory
from smi.model import compiled

from . import charts
from .book import _check_key, _json_for_script

STATIC = Path(__file__).parent / "static"
CLASS_WIDTH = 360  # the class chart's panels (narrower than explorables: long measure labels)
AXIS = {"linkages": "Strength (0 = absent, 1 = strongest the model allows)",
        "levers": "Rating (0 = lowest answer, 1 = highest)",
        "triggers": "Starting level (0 = no trigger noticed, 1 = strongest)"}


def _static(name: str) -> str:
    text = (STATIC / name).read_text(encoding="utf-8")
    if "</script" in text.lower() or "</style" in text.lower():
        raise ValueError(f"{name} must not contain a closing script/style tag (it is inlined)")
    return text


# --------------------------------------------------------------------------- data for the browser

def dysfunction_grid(q: shc.Questionnaire) -> dict:
    """The health check's dysfunction-risk grid (``smi.healthcheck.risk_grid``) as JSON: per cell of
    starting levels and per SMI connection level, cumulative, final and peak dysfunction and the
    share of the connection kept. The browser interpolates in the connection exactly as
    ``smi.healthcheck.dysfunction_risk`` does."""
    g = shc.risk_grid(q)
    return {"inputs": g.starts, "steps": g.steps, "connection": [round(float(c), 6) for c in g.connection],
            "fields": list(shc.RISK_FIELDS), "values": np.round(g.values, 6).tolist(),
            "connectionShare": q.theory.param("functioning.connection_share")}


def chain_spec(theory: Theory, title: str = "Your firm in the teaching model") -> dict:
    """The chain explorable (linkage inputs and levers -> linkages, functioning, capabilities), no sliders."""
    names = [*theory.input_names("linkages"), *theory.input_names("capabilities")]
    exp = charts.explorable("chain", names, charts.default_values(None, theory), title, theory, bind=False)
    return exp.chart.to_dict()


def page_data(key: str, q: shc.Questionnaire, *, grid: bool = True, chain_title: str | None = None) -> dict:
    """Everything the browser needs to compute the profile, as plain JSON."""
    theory = q.theory
    spec = theory.inputs.set_index("name")
    labels = charts.output_labels(theory)
    irefs = shc.input_refs(theory)
    number = {qq.id: qq.number for qq in q.questions}
    inputs = {}
    for name in dict.fromkeys([*q.weights, *shc.actionable_inputs(theory)]):
        inputs[name] = {"label": spec.loc[name, "label"], "kind": spec.loc[name, "kind"],
                        "min": float(spec.loc[name, "min"]), "max": float(spec.loc[name, "max"]),
                        "cite": shc.cite(irefs[name]), "questions": [number[i] for i in q.questions_for(name)]}
    lrefs = shc.linkage_refs(theory)
    c = compiled(theory)
    out = {
        "key": key, "format": shc.FORMAT, "version": shc.VERSION, "codePrefix": shc.CODE_PREFIX,
        "fingerprint": q.fingerprint, "points": shc.POINTS,
        "questions": [{"id": qq.id, "number": qq.number, "text": qq.text} for qq in q.questions],
        "weights": {name: [[qid, sign] for qid, sign in pairs] for name, pairs in q.weights.items()},
        "inputs": inputs,
        "outputs": labels,
        "linkages": {k: {"label": labels[k], "members": shc.linkage_members(theory)[k], "cite": shc.cite(lrefs[k])}
                     for k in LINKAGES},
        "levers": list(LEVERS),
        "capabilities": list(theory.capabilities.capability),
        "dysfunctions": [{"name": d, "input": f"start_{d}"} for d in DYSFUNCTIONS],
        "actionable": shc.actionable_inputs(theory),
        "firstOutput": shc.FIRST_OUTPUT, "weakestPerLayer": shc.WEAKEST_PER_LAYER,
        "workOnFirst": shc.WORK_ON_FIRST, "alertLevel": shc.ALERT_LEVEL, "round": shc.ROUND,
        "linkageWeights": c.linkage_weights,
        "chain": chain_spec(theory, chain_title or "Your firm in the teaching model"),
        "classMeasures": shc.class_measures(theory),
    }
    if grid:
        out["grid"] = dysfunction_grid(q)
    return out


# --------------------------------------------------------------------------- HTML pieces

def _table(rid: str, caption: str, rows: list[tuple[str, str]], head: tuple[str, str] = ("Measure", "Value")) -> str:
    body = "".join(f"<tr data-output='{html.escape(name)}'><th scope='row'>{html.escape(label)}</th>"
                   f"<td class='smi-hc-value'>–</td></tr>" for name, label in rows)
    return (f"<table class='smi-table smi-hc-numbers' id='{rid}'><caption>{html.escape(caption)}</caption>"
            f"<thead><tr><th scope='col'>{head[0]}</th><th scope='col'>{head[1]}</th></tr></thead>"
            f"<tbody>{body}</tbody></table>")


def _question_html(root: str, qq: shc.Question) -> str:
    name = f"{root}-{qq.id}"
    opts = "".join(
        f"<span class='smi-hc-opt'><input type='radio' id='{name}-{i}' name='{name}' value='{i}'>"
        f"<label for='{name}-{i}'>{html.escape(label)}</label></span>"
        for i, label in enumerate(qq.labels, start=1))
    return (f"<fieldset class='smi-hc-q' id='{root}-q-{qq.id}' data-qid='{qq.id}'>"
            f"<legend><span class='smi-hc-n'>{qq.number}.</span> {html.escape(qq.text)}</legend>"
            f"<div class='smi-hc-scale'>{opts}</div></fieldset>")


def _scripts(root: str, data: dict, init: str) -> str:
    return (f"<style>{_static('healthcheck.css')}</style>"
            f"<script type='application/json' id='{root}-data'>{_json_for_script(data)}</script>"
            f"<script>{_static('healthcheck.js')}</script>"
            f"<script>window.smiHealth && window.smiHealth.{init}({json.dumps(root)});</script>")


def health_check(key: str = "health", path: str | Path | None = None) -> None:
    """The questionnaire and the reader's profile, computed in the browser (answers stay there)."""
    _check_key(key)
    q = shc.load(path)
    theory = q.theory
    root = f"smi-hc-{key}"
    data = page_data(key, q)
    labels = charts.output_labels(theory)
    in_label = dict(zip(theory.inputs.name, theory.inputs.label))
    sections = []
    for sid, title in q.sections.items():
        qs = [qq for qq in q.questions if qq.section == sid]
        if not qs:
            continue
        sections.append(f"<div class='smi-hc-section' role='group' aria-labelledby='{root}-s-{sid}'>"
                        f"<h3 id='{root}-s-{sid}'>{html.escape(title)}</h3>"
                        + "".join(_question_html(root, qq) for qq in qs) + "</div>")
    chain_rows = [(k, labels[k]) for k in [*LINKAGES, "smi_connection", "lever_integration", "smi_functioning",
                                             "synergy", *theory.capabilities.capability]]
    lever_rows = [(lv, in_label[lv]) for lv in LEVERS]
    dys_rows = ([(f"start_{d}", in_label[f"start_{d}"]) for d in DYSFUNCTIONS]
                + [(o, labels[o]) for o in ("cumulative_dysfunction", "peak_dysfunction", "final_dysfunction",
                                            "functioning_loss")])
    display(HTML(f"""<section class="smi-hc" id="{root}" data-key="{key}" aria-label="{html.escape(q.title)}">
<div class="smi-hc-caveat" role="note"><p><strong>What this questionnaire is, and is not.</strong> It is a teaching
exercise: its items were written for this book and have never been tested for reliability or validity, so it is
not a validated survey instrument. Your profile is what the book's teaching model makes of one person's answers,
not a measurement of your firm. Measuring these constructs for real would take validated multi-item scales from
the sales–marketing interface literature, answered by several informants from both sales and marketing.</p></div>
<p class="smi-hc-privacy">Your answers stay in this browser: they are saved on this device only, and nothing is sent
anywhere. Answer all {len(q.questions)} questions to see your profile.</p>
<noscript><p>The health check needs JavaScript to compute your profile in the browser.</p></noscript>
<form class="smi-hc-form" id="{root}-form" novalidate>{''.join(sections)}</form>
<div class="smi-hc-status" id="{root}-status" role="status" aria-live="polite"></div>
<div class="smi-hc-actions">
<button type="button" class="smi-hc-export" disabled>Export my answers (JSON file)</button>
<button type="button" class="smi-hc-makecode" disabled>Show my code</button>
<button type="button" class="smi-hc-clear">Clear my answers</button>
</div>
<div class="smi-hc-codebox" hidden>
<label for="{root}-code">Your code (it carries your answers; paste it into the class debrief or into another browser)</label>
<input type="text" id="{root}-code" class="smi-hc-code" readonly size="48">
<button type="button" class="smi-hc-copy">Copy the code</button>
</div>
<div class="smi-hc-restore">
<label for="{root}-restore">Have a code? Paste it here to restore those answers</label>
<input type="text" id="{root}-restore" class="smi-hc-restore-input" size="48" autocomplete="off">
<button type="button" class="smi-hc-restore-button">Restore answers</button>
</div>
<div class="smi-hc-message" id="{root}-message" role="status" aria-live="polite"></div>
<div class="smi-hc-profile" id="{root}-profile" hidden>
<h3>Your profile</h3>
<div class="smi-hc-alerts-box" hidden><p><strong>Triggers: dysfunctions already present.</strong> You report strong
triggers, the signs by which salespeople and marketers notice a dysfunction that already exists (Malshe et al. 2017).
The study suggests that one dysfunction may feed another (P7) and that managers are better off addressing a dysfunction
at its earliest stage (§4.2):</p>
<ul class="smi-hc-alerts"></ul></div>
<p><strong>Work on first.</strong> The inputs whose move alone raises SMI functioning most in the teaching model (its
sensitivity, at the book's assumed weights; the studies do not rank these inputs):</p>
<ol class="smi-hc-first"></ol>
<p><strong>Weakest links.</strong> Your lowest linkages and levers as the model computes them, with the propositions
that name each one (which input holds a linkage back most follows from the model's gates, an assumption of the
book):</p>
<ul class="smi-hc-weakest"></ul>
<figure class="smi-hc-figure" id="{root}-chart">
<div class="smi-hc-vis" id="{root}-chart-vis"></div>
<figcaption>Your firm in the teaching model: the five linkages, the SMI connection, SMI functioning and the five
capabilities, computed in your browser from your answers. The tables below hold the same numbers.</figcaption>
</figure>
{_table(f"{root}-chain", "The chain, computed from your answers (0 = absent, 1 = strongest the model allows)", chain_rows)}
{_table(f"{root}-levers", "The eight levers, as you rated them", lever_rows)}
{_table(f"{root}-dysfunction", "Dysfunction risk, estimated: starting levels from the triggers, run forward over the "
        "simulated quarters for a firm whose five linkages all stand at your SMI connection (dysfunction totals run "
        "0-3)", dys_rows)}
</div>
{_scripts(root, data, "initCheck")}
</section>"""))


def debrief(key: str = "debrief", path: str | Path | None = None) -> None:
    """Load a class's exported health checks (files, a folder or codes); show the distribution."""
    _check_key(key)
    q = shc.load(path)
    root = f"smi-hc-{key}"
    data = page_data(key, q, grid=False, chain_title="class debrief")
    data["classSpec"] = class_chart().to_dict()
    display(HTML(f"""<section class="smi-hc-debrief" id="{root}" data-key="{key}" aria-label="Class debrief">
<p class="smi-hc-privacy">The files and codes you load are read by this browser only; nothing is uploaded.</p>
<noscript><p>The debrief needs JavaScript to read the files in the browser.</p></noscript>
<div class="smi-hc-load">
<p><label for="{root}-folder">Choose a folder of exported health checks</label><br>
<input type="file" id="{root}-folder" class="smi-hc-folder" multiple webkitdirectory></p>
<p><label for="{root}-files">Or choose one or more files (<code>.json</code> exports, or <code>.txt</code> files of codes)</label><br>
<input type="file" id="{root}-files" class="smi-hc-files" multiple accept=".json,.txt,application/json,text/plain"></p>
<p><label for="{root}-codes">Or paste codes, one per line</label><br>
<textarea id="{root}-codes" class="smi-hc-codes" rows="4" cols="60" spellcheck="false"></textarea><br>
<button type="button" class="smi-hc-addcodes">Add the pasted codes</button>
<button type="button" class="smi-hc-clearall">Start over</button></p>
</div>
<div class="smi-hc-report" id="{root}-report" role="status" aria-live="polite"><p>No health checks loaded yet.</p></div>
<div class="smi-hc-class" hidden>
<figure class="smi-hc-figure" id="{root}-chart">
<div class="smi-hc-vis" id="{root}-chart-vis"></div>
<figcaption>Where the class's firms stand: each dot is one firm; boxes span the class's range and quartiles, bars
show the class average. The table below holds the same numbers.</figcaption>
</figure>
<table class="smi-table smi-hc-summary" id="{root}-summary"><caption>The class at a glance</caption>
<thead><tr><th scope="col">Measure</th><th scope="col">Firms</th><th scope="col">Mean</th><th scope="col">Minimum</th>
<th scope="col">Median</th><th scope="col">Maximum</th></tr></thead><tbody></tbody></table>
</div>
{_scripts(root, data, "initDebrief")}
</section>"""))


def questions_table(path: str | Path | None = None) -> None:
    """Every question with the construct behind it and the model input it sets."""
    q = shc.load(path)
    in_label = dict(zip(q.theory.inputs.name, q.theory.inputs.label))
    rows = []
    for qq in q.questions:
        sets = "; ".join(f"{in_label[n]} ({'higher answer raises it' if s == '+' else 'reversed: higher answer lowers it'})"
                         for n, s in qq.maps_to)
        rows.append({"#": qq.number, "question": qq.text, "construct": shc.cite(list(qq.construct)),
                     "sets the model input": sets})
    from .book import table
    table(pd.DataFrame(rows))


# --------------------------------------------------------------------------- the class chart

def class_chart(rows: pd.DataFrame | list[dict] | None = None, title: str = "Where the class's firms stand",
                subtitle: list[str] | None = None, theory: Theory | None = None) -> alt.VConcatChart:
    """Each firm's linkages (box and dots), levers and starting dysfunctions (class average bar and dots).

    With ``rows`` (``smi.healthcheck.class_table``) the data are embedded under the dataset name
    ``firms``; without, the spec refers to ``firms`` and the page supplies it.
    """
    theory = theory or smi.load()
    measures = shc.class_measures(theory)
    data = alt.Data(name="firms")
    panels = []
    for i, (group, gtitle) in enumerate(shc.CLASS_GROUPS.items()):
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
