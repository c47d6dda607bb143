"""Book components: what a chapter's hidden code cells call (see book/AUTHORING.md).

Each call displays one block of HTML that works in the static site with no kernel: Vega-Lite
computes explorables in the browser (``smi_charts.charts``), and a small script
(``smi_charts/static/smi.js``) runs the predict-then-reveal and self-check blocks and keeps the
reader's answers in the browser. Every chart carries a static fallback: an SVG rendered at the
starting values, alt text, and the numbers as a table that follows the sliders. Every explorer
also shows each output's robustness band (5th-95th percentile over ``smi.weight_draws``): in the
chart, in the table and in the alt text, with a caption line saying what it means.
"""
from __future__ import annotations

import base64
import json
import math
import os
import re

import altair as alt
import pandas as pd
import vl_convert as vlc
from IPython.display import HTML, display
from markupsafe import Markup
from markdown_it import MarkdownIt

import smi

from . import charts
from .templating import check_key, json_for_script, render

_md = MarkdownIt("commonmark")

# Voila lab each explorable links to; the labs are served next to the book (see `make serve`).
LABS_URL = os.environ.get("SMI_LABS_URL", "http://127.0.0.1:8866/voila/render/")
LAB_FOR = {"linkages": "linkage_lab.ipynb", "capabilities": "capability_lab.ipynb",
           "chain": "capability_lab.ipynb", "dynamics": "dysfunction_lab.ipynb"}


def _svg(spec: dict) -> str:
    return vlc.vegalite_to_svg(spec, vl_version="6.4")


def _data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def _image(svg: str) -> dict:
    """A fallback image: its data URI and, as the <img>'s width/height, its size, so its box is laid
    out before the image is decoded and nothing below it moves when it appears (CLS)."""
    size = _SVG_SIZE.search(svg)
    width, height = (round(float(v)) for v in size.groups()) if size else (None, None)
    return {"src": _data_uri(svg), "width": width, "height": height}


# Phones: smi.js embeds a chart whose box is narrower than its NARROW (600) px with titles and
# long labels wrapped (narrowSpec), then narrows the plot until it fits the box (fitWidth). The
# narrow fallback is that same chart, drawn here for a 390 px phone's box, so the live chart takes
# the fallback's height and nothing below moves when it replaces it. Keep in step with smi.js.
NARROW_BOX = 358  # the chart's box on a 390 px wide screen
TINY = 320  # smi.js TINY: in a box this narrow the values beside the bars are left out (the table has them)
MIN_PLOT = 100
_SVG_SIZE = re.compile(r'<svg[^>]*?\swidth="([\d.]+)"[^>]*?\sheight="([\d.]+)"')


def _wrap_lines(text, chars: int):
    """smi.js wrapLines: a string or a list of lines (one paragraph) in lines of ``chars`` at most."""
    if isinstance(text, list):
        text = " ".join(text)
    if not isinstance(text, str) or len(text) <= chars:
        return text
    lines = [""]
    for word in text.split(" "):
        last = lines[-1]
        if last and len(last + " " + word) > chars:
            lines.append(word)
        else:
            lines[-1] = last + " " + word if last else word
    return lines


# smi.js WRAP_LABEL: a long category label on two lines
_BEFORE = "lastindexof(slice(datum.label, 0, ceil(length(datum.label) / 2) + 4), ' ')"
_SPLIT_AT = f"({_BEFORE} > 0 ? {_BEFORE} : indexof(datum.label, ' '))"
WRAP_LABEL = (f"length(datum.label) > 16 && {_SPLIT_AT} > 0 ? [slice(datum.label, 0, {_SPLIT_AT}), "
              f"slice(datum.label, {_SPLIT_AT} + 1)] : datum.label")


def narrow_spec(spec: dict, box: int) -> dict:
    """smi.js narrowSpec, on a copy."""
    spec = json.loads(json.dumps(spec))
    t = spec.get("title")
    if isinstance(t, (str, list)):
        spec["title"] = _wrap_lines(t, box // 9)
    elif isinstance(t, dict):
        t["text"] = _wrap_lines(t.get("text"), box // 9)
        if t.get("subtitle"):
            t["subtitle"] = _wrap_lines(t["subtitle"], int(box / 7.5))

    def grow(s: dict) -> None:
        if isinstance(s.get("height"), (int, float)) and not isinstance(s.get("height"), bool):
            s["height"] = math.floor(s["height"] * 1.5 + 0.5)

    def units(s) -> bool:
        """Whether a view (its layers and inner spec included) had a nominal axis wrapped."""
        if not isinstance(s, dict):
            return False
        wrapped = False
        mark = s.get("mark")
        if mark == "text" or (isinstance(mark, dict) and mark.get("type") == "text"):
            s["mark"] = {"type": "text", **(mark if isinstance(mark, dict) else {}), "lineBreak": "  "}
            if box < TINY and (s.get("encoding") or {}).get("text"):
                s["encoding"]["text"] = {"value": ""}
        enc = s.get("encoding") or {}
        color = enc.get("color")
        if color and color.get("legend", {}) is not None:
            color["legend"] = {**(color.get("legend") or {}), "labelExpr": WRAP_LABEL}
        for ch in ("x", "y"):
            e = enc.get(ch)
            if not e or ("axis" in e and e["axis"] is None):
                continue
            if e.get("title"):
                e["title"] = _wrap_lines(e["title"], box // 9)
            if ch == "y" and e.get("type") == "nominal":
                e["axis"] = {**(e.get("axis") or {}), "labelExpr": WRAP_LABEL}
                wrapped = True
        for layer in s.get("layer") or []:
            wrapped = units(layer) or wrapped
        wrapped = units(s.get("spec")) or wrapped
        for panel in s.get("vconcat") or s.get("hconcat") or s.get("concat") or []:
            if units(panel):  # each panel of a concatenated chart grows on its own
                grow(panel)
        return wrapped

    if units(spec):
        grow(spec)
    return spec


def _narrow_svg(spec: dict, box: int = NARROW_BOX) -> str:
    """The chart as smi.js draws it in a ``box`` px wide box: narrowSpec, then fitWidth's passes."""
    spec = narrow_spec(spec, box)
    designed, svg = spec.get("width"), _svg(spec)
    if not isinstance(designed, (int, float)):
        return svg
    for _ in range(4):
        over = float(_SVG_SIZE.search(svg).group(1)) - box
        target = math.floor(max(MIN_PLOT, min(designed, spec["width"] - over)) + 0.5)
        if abs(target - spec["width"]) < 1:
            break
        spec["width"] = target
        svg = _svg(spec)
    return svg


def _placeholder_controls(spec: dict) -> list[dict]:
    """What Vega's bindings will show for each bound parameter (name, input, value, options)."""
    out = []
    for p in spec.get("params") or []:
        bind = p.get("bind")
        if not isinstance(bind, dict) or bind.get("input") not in ("range", "select"):
            continue
        c = {"input": bind["input"], "name": bind.get("name", p["name"]), "value": p.get("value")}
        if bind["input"] == "range":
            step = str(bind.get("step", 1))
            digits = len(step) - step.index(".") - 1 if "." in step else 0
            c.update(min=bind.get("min"), max=bind.get("max"), step=bind.get("step"),
                     text=f"{float(p.get('value', 0)):.{digits}f}")
        else:
            labels = bind.get("labels") or []
            c["options"] = [(o, str(labels[i]) if i < len(labels) else str(o), o == p.get("value"))
                            for i, o in enumerate(bind["options"])]
        out.append(c)
    return out


def _table_html(df: pd.DataFrame, key: str | None = None, caption: str | None = None, key_columns: int = 1) -> str:
    """``key``: rows carry ``data-output``, the first ``key_columns`` cells joined by ``|``, by
    which smi.js finds the row a chart's datum updates."""
    rows = [("|".join(str(v) for v in row.iloc[:key_columns]) if key else None,
             [f"{v:.3f}" if isinstance(v, float) else str(v) for v in row]) for _, row in df.iterrows()]
    return render("figure_table.html.j2", columns=[str(c) for c in df.columns], rows=rows, caption=caption)


def band_note(k: int) -> str:
    """The caption line under every chart with a robustness band."""
    return (f"The band (black whiskers on bars, shading around lines) spans the 5th to 95th percentile of each output "
            f"over {k} draws of the book's weights, each drawn within its suggested range (fixed seed). A conclusion "
            "that holds across the whole band does not depend on the assumed weights; one that changes within the band "
            "depends on them.")


def figure_html(key: str, chart: alt.TopLevelMixin | dict, title: str, alt_text: str, numbers: pd.DataFrame,
                lab: str | None, live: dict | None = None, note: str | None = None) -> str:
    """The one HTML shape every chart shares: live chart, fallback image, caption, numbers.

    ``live`` (explorables): the outputs drawn, their labels, the kind and starting values, so
    the numbers table follows the controls and tests can recompute what the chart shows; a
    ``table`` entry ({"key": fields, "columns": fields, "rows": n}) instead names the fields of
    the chart's rows that key and fill the table; ``presets`` ({key: {"title", "values"}}) adds
    a menu that sets the chart's parameters to a case preset's values.
    """
    spec = chart if isinstance(chart, dict) else chart.to_dict()
    live = live or {"outputs": [], "labels": {}}
    keyed = bool(live["outputs"] or live.get("table"))
    key_columns = len(live["table"]["key"]) if live.get("table") else 1
    # the case-preset menu: smi.js sets every control to the chosen preset's values
    presets = [(k, p["title"]) for k, p in (live.get("presets") or {}).items()]
    return render("figure.html.j2", key=key, title=title, alt_text=alt_text, note=note,
                  image=_image(_svg(spec)), narrow_image=_image(_narrow_svg(spec)),
                  controls=_placeholder_controls(spec), lab_url=LABS_URL + LAB_FOR[lab] if lab else None,
                  presets=presets, preset=live.get("preset"), pointer=not _has_params(spec),
                  numbers=Markup(_table_html(numbers, key=key if keyed else None, key_columns=key_columns)),
                  spec=json_for_script(spec), live=json_for_script(live))


def _has_params(spec) -> bool:
    """Whether a Vega-Lite spec, or any view inside it, declares a parameter (a control, a selection)."""
    if isinstance(spec, dict):
        return bool(spec.get("params")) or any(_has_params(v) for v in spec.values())
    if isinstance(spec, list):
        return any(_has_params(v) for v in spec)
    return False


def _figure(*args, **kwargs) -> None:
    display(HTML(figure_html(*args, **kwargs)))


def band_headers(k: int) -> dict[str, str]:
    """Numbers-table column for each band statistic (``charts.BAND_COLUMNS``)."""
    return {"value": "value (book's weights)", "low": f"5th percentile over {k} weight draws",
            "high": f"95th percentile over {k} weight draws", "min": f"lowest of the {k} draws",
            "max": f"highest of the {k} draws"}


def _numbers(kind: str, values: dict, exp: charts.Explorable, draws: pd.DataFrame) -> pd.DataFrame:
    b = charts.explorable_band(kind, values, draws)
    out = pd.DataFrame({"output": [exp.labels[o] for o in exp.outputs]})
    for col, head in band_headers(len(draws)).items():
        out[head] = [float(b.loc[o, col]) for o in exp.outputs]
    return out


# Case presets each explorer's menu offers, by kind (data/presets.yaml, field `study`).
PRESET_STUDIES = {"linkages": ("malshe2011",), "capabilities": ("hughes2012",), "chain": ("malshe2011", "hughes2012"),
                  "dynamics": ("malshe2017",)}
DEFAULTS_TITLE = "Book defaults (every input at its default)"


def preset_values(kind: str, preset: str | None, theory=None) -> dict[str, float]:
    """The value of every parameter of an explorable of ``kind`` under ``preset`` (None: defaults)."""
    values = charts.default_values(preset, theory)
    return {n: float(values[n]) for n in charts.kind_inputs(kind, theory)}


def _explorer_presets(kind: str, theory) -> dict[str, dict]:
    p = theory.presets
    out = {str(r.key): {"title": f"{r.title}", "values": preset_values(kind, r.key, theory)}
           for r in p[p.study.isin(PRESET_STUDIES[kind])].itertuples()}
    out["defaults"] = {"title": DEFAULTS_TITLE, "values": preset_values(kind, None, theory)}
    return out


def _explorer(kind: str, key: str, inputs: list[str] | None, preset: str | None, title: str | None,
              default_inputs: list[str]) -> None:
    check_key(key)
    theory = smi.load()
    inputs = list(inputs or default_inputs)
    known = set(theory.input_names()) | {"smi_connection"}
    bad = [i for i in inputs if i not in known]
    if bad:
        raise ValueError(f"{key}: unknown input {bad[0]!r}")
    values = charts.default_values(preset, theory)
    title = title or {"linkages": "Linkage explorer", "capabilities": "Capability explorer",
                      "chain": "From linkages to capabilities"}[kind]
    draws = charts.band_draws(theory)
    k = len(draws)
    exp = charts.explorable(kind, inputs, values, title, theory, draws=draws)
    numbers = _numbers(kind, values, exp, draws)
    cols = [band_headers(k)[c] for c in ("value", "low", "high")]
    start = ", ".join(f"{o.lower()} {v:.2f} ({lo:.2f} to {hi:.2f})" for o, v, lo, hi in numbers[["output", *cols]].itertuples(index=False))
    alt_text = (f"Bar chart '{title}'. Move the sliders to change: "
                f"{', '.join(theory.inputs.set_index('name').label.get(i, 'SMI connection') for i in inputs)}. "
                f"At the starting values{' of preset ' + preset if preset else ''}, with the 5th to 95th percentile "
                f"over {k} weight draws in brackets: {start}.")
    live = {"outputs": exp.outputs, "labels": exp.labels, "kind": kind,
            "values": {name: v for name, v in values.items() if not isinstance(v, str)},
            "band": {"columns": charts.BAND_COLUMNS, "draws": k, "percentiles": list(charts.BAND_Q)},
            "presets": _explorer_presets(kind, theory), "preset": preset or "defaults"}
    if preset and preset not in live["presets"]:  # the explorer's own case is always on its menu
        live["presets"] = {preset: {"title": theory.presets.set_index("key").loc[preset, "title"],
                                    "values": preset_values(kind, preset, theory)}, **live["presets"]}
    _figure(key, exp.chart, title, alt_text, numbers, lab=kind, live=live, note=band_note(k))


def linkage_explorer(key: str, inputs: list[str] | None = None, preset: str | None = None, title: str | None = None) -> None:
    """Sliders for linkage inputs; bars for the five linkages and the SMI connection (Malshe 2011)."""
    _explorer("linkages", key, inputs, preset, title, smi.load().input_names("linkages"))


def capability_explorer(key: str, inputs: list[str] | None = None, preset: str | None = None, title: str | None = None) -> None:
    """Sliders for the levers and the SMI connection; bars for functioning, synergy, capabilities (2012)."""
    _explorer("capabilities", key, inputs, preset, title, [*smi.load().input_names("capabilities"), "smi_connection"])


def integrated_explorer(key: str, inputs: list[str], preset: str | None = None, title: str | None = None) -> None:
    """Sliders for any linkage inputs and levers; bars for the whole chain."""
    _explorer("chain", key, inputs, preset, title, [])


def dysfunction_explorer(key: str, title: str | None = None, cases: bool = True) -> None:
    """Pick a starting point, curve, intervention and start quarter; lines over 40 quarters (2017),
    each over its robustness band. ``cases``: the starting points include the 2017 case presets'
    firms and mild and severe starts, the menu their packages, and a preset menu loads each case
    (about 0.8 MB of precomputed runs; without, about 0.3 MB)."""
    check_key(key)
    theory = smi.load()
    title = title or "Dysfunction dynamics"
    grid = charts.dysfunction_grid(cases=cases)
    k = grid.attrs["draws"]
    chart = charts.dysfunction_chart(grid, title)
    first = grid[(grid.point == f"communication_paucity@{charts.START_LEVEL:g}") & (grid.curve == "linear")
                 & (grid.intervention == "none")].iloc[0]
    quarters = [0, 4, 8, 12, 20, 30, 40]
    heads = band_headers(k)
    numbers = pd.DataFrame([{"quarter": q, "series": label, heads["value"]: float(first[s][q]),
                             heads["low"]: float(first[f"{s}_low"][q]), heads["high"]: float(first[f"{s}_high"][q])}
                            for q in quarters for s, label in charts.SERIES.items()])
    alt_text = (f"Line chart '{title}': the three dysfunctions and SMI functioning over 40 quarters, each with a "
                f"shaded band from the 5th to the 95th percentile over {k} weight draws. Menus choose the starting "
                "point, the incremental-effects curve, an intervention and its start quarter. "
                f"Starting from communication paucity at {charts.START_LEVEL:g} with no intervention (band in brackets): " +
                "; ".join(f"quarter {q}: " + ", ".join(
                    f"{charts.SERIES[s].lower()} {first[s][q]:.2f} ({first[f'{s}_low'][q]:.2f} to {first[f'{s}_high'][q]:.2f})"
                    for s in charts.SERIES) for q in (0, 8, 40)) + ".")
    live = {"outputs": [], "labels": {}, "kind": "dynamics",
            "table": {"key": ["quarter", "label"], "columns": ["level", "low", "high"],
                      "rows": (len(first["smi_functioning"])) * len(charts.SERIES)}}
    if cases:
        p = theory.presets.set_index("key")
        default = {"start_point": f"communication_paucity@{charts.START_LEVEL:g}", "curve": "linear",
                   "intervention": "none", "from_quarter": 4}
        live["presets"] = {key_: {"title": p.loc[key_, "title"], "values": {**default, **controls}}
                           for key_, controls in charts.dynamics_preset_controls(theory).items()}
        live["presets"]["defaults"] = {"title": "The explorer's opening settings", "values": default}
        live["preset"] = "defaults"
    _figure(key, chart, title, alt_text, numbers, lab="dynamics", live=live, note=band_note(k))


def sample_chart(study: str) -> None:
    """The study's sample, drawn from data/."""
    chart = charts.sample_chart(study)
    table = charts.sample_table(study)
    title = chart.to_dict().get("title", study)
    alt_text = f"Bar chart: {title}. " + "; ".join(", ".join(str(v) for v in r) for r in table.itertuples(index=False)) + "."
    _figure(f"sample-{study}", chart, str(title), alt_text, table, lab=None)


def table(df: pd.DataFrame, caption: str | None = None) -> None:
    display(HTML(_table_html(df, caption=caption)))


STUDY_NAMES = {"malshe2011": "Malshe (2011)", "hughes2012": "Hughes, Le Bon & Malshe (2012)",
               "malshe2017": "Malshe, Johnson & Viio (2017)"}


def preset_card(preset: str) -> None:
    """A case preset's title, source and vignette."""
    p = smi.load().presets.set_index("key")
    if preset not in p.index:
        raise KeyError(f"unknown preset {preset!r}; known: {', '.join(p.index)}")
    r = p.loc[preset]
    display(HTML(render("case.html.j2", title=r.title, vignette=r.vignette, teaching_point=r.teaching_point,
                        study=STUDY_NAMES[r.study], section=r.source_section, preset=preset)))


def propositions(study: str, numbers: list[str] | None = None) -> None:
    """The study's propositions (paraphrased) with their sub-items."""
    p = smi.load().propositions
    p = p[p.study == study]
    if numbers:
        p = p[p.proposition.isin(numbers)]
    if p.empty:
        raise ValueError(f"no propositions for study {study!r} {numbers or ''}")
    rows = pd.DataFrame({"proposition": p.proposition + p["item"].map(lambda i: f"({i})" if i else ""),
                         "statement (the project's paraphrase)": p.statement, "conditions": p.conditions,
                         "source": p.source_section})
    table(rows)


def predict_reveal(key: str, prompt: str, options: list[str], answer: int, explanation: str) -> None:
    """Commit to a prediction, then reveal the explanation (kept in the reader's browser)."""
    check_key(key)
    if not 0 <= answer < len(options):
        raise ValueError(f"{key}: answer {answer!r} is not an index into {len(options)} options")
    display(HTML(render("predict_reveal.html.j2", key=key, prompt=prompt, options=options, answer=answer,
                        explanation=Markup(_md.render(explanation)))))


def self_check(key: str, question: str, options: list[tuple[str, bool, str]]) -> None:
    """A multiple-choice question; each option explains why it is right or wrong."""
    check_key(key)
    if not any(ok for _, ok, _ in options):
        raise ValueError(f"{key}: at least one option must be correct")
    # the feedback is rendered HTML, escaped into the data-feedback attribute (smi.js shows it)
    display(HTML(render("self_check.html.j2", key=key, question=question,
                        options=[(text, bool(ok), _md.renderInline(fb)) for text, ok, fb in options])))
