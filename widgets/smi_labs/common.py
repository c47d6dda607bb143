"""What every lab shares: URL state, presets, robustness bands, explanations, sensitivity,
export, layout.

Controls only wire the model (``smi``) to the chart builders (``smi_charts.charts``,
``smi_charts.bands``): no model logic lives here. Every output is shown at the shipped weights
with its band over the weight draws (``smi_labs.draws``).
"""
from __future__ import annotations

import base64
import functools
import json
import math
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qsl, urlencode

import altair as alt
import ipywidgets as W
import numpy as np
import pandas as pd
import vl_convert as vlc

import smi
from smi.data import Theory, split_tokens
from smi_charts import bands, charts
from smi_charts.templating import render_macro

from .draws import agreement, for_theory, how_often, spread

VL = "6.4"


def offline_charts(cache_dir: Path | None = None) -> Path:
    """Make JupyterChart carry its own JavaScript (no CDN), as ``alt.JupyterChart.enable_offline()``
    does, but bundle that JavaScript once per altair/vl-convert version instead of in every kernel:
    the bundling costs ~0.9 s of CPU, paid by each of the 30 pooled kernels a class needs. Returns
    the cache file. Concurrent kernels may race to write it: each writes its own temporary file
    and renames it into place, so a reader never sees half a bundle."""
    cache_dir = cache_dir or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "smi-labs"
    path = cache_dir / f"jupyterchart-altair{alt.__version__}-vlconvert{vlc.__version__}.js"
    try:
        bundle = path.read_text(encoding="utf-8")
    except OSError:
        bundle = ""
    if bundle:
        # what enable_offline() sets, with the bundle it would have built (tests/test_labs.py
        # checks they are identical)
        alt.JupyterChart._esm = bundle
        alt.JupyterChart._is_offline = True
        return path
    alt.JupyterChart.enable_offline()
    tmp = None
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(alt.JupyterChart._esm)
        os.replace(tmp, path)
    except OSError:  # a read-only or full home: every kernel bundles, as stock altair does
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    return path


# Under the labs' Voila server (scripts/voila_labs.py sets it): a directory that server serves at
# CHARTS_ROUTE under its base URL. Elsewhere (JupyterLab, JupyterHub, nbval) unset: every chart
# carries its bundle, as stock altair's enable_offline() does.
CHARTS_ENV = "SMI_LAB_CHARTS"
CHARTS_ROUTE = "voila/smi-lab/"
# anywidget gives a model's module 2 s to load and, past that, drops every later update to the
# chart ("[anywidget] Failed to initialize model."): a page on a slow phone, or one of a class's
# pages opened at once, takes longer than that to compile and run the ~0.9 MB bundle. So the
# module a chart carries starts importing the bundle without awaiting it (the module itself loads
# at once) and its render awaits the bundle. JupyterChart's front end has render only
# (tests/test_labs.py checks the bundle's default export).
_LAZY = """const bundle = import(%s);
bundle.catch(() => {});  // render reports it
export default { async render(props) { return (await bundle).default.render(props); } };
"""
# Served: the module imports the bundle from the lab server. The page's base URL (a JupyterHub
# prefix, say) is in Voila's page config; a blob: module (what anywidget makes of the text)
# cannot resolve a relative URL itself.
_IMPORT_SERVED = ("// JupyterChart's front end, served by the lab server (smi_labs.common.serve_bundle)\n"
                  'const config = JSON.parse(document.getElementById("jupyter-config-data")?.textContent || "{}");\n'
                  + _LAZY % 'new URL((config.baseUrl || "/") + "%s", document.baseURI).href')


def carry_bundle(bundle: str) -> str:
    """The module a chart carries when no server serves the bundle: the bundle as a string,
    imported (from a blob: URL) without being awaited. A string literal costs the page a scan;
    the bundle's code is compiled and run by the import, after the module has loaded."""
    return ("// JupyterChart's front end, carried by the chart (smi_labs.common.carry_bundle)\n"
            + _LAZY % f'URL.createObjectURL(new Blob([{json.dumps(bundle)}], {{type: "text/javascript"}}))')


def serve_bundle(bundle: str, directory: str | Path) -> str | None:
    """Put the chart bundle in `directory`, named by its checksum (so browsers may keep it for
    good), and return the module that imports it from there: ~400 bytes in each page's widget
    state instead of ~0.9 MB, and a file the browser caches across visits. None if the file
    cannot be written (the charts then carry the bundle)."""
    import zlib

    name = f"jupyterchart-{zlib.crc32(bundle.encode()):08x}.js"
    path = Path(directory) / name
    tmp = None
    try:
        if not path.is_file() or path.stat().st_size != len(bundle.encode()):
            fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(bundle)
            os.replace(tmp, path)  # kernels may race: each renames a whole file into place
    except OSError:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        return None
    return _IMPORT_SERVED % (CHARTS_ROUTE + name)


@functools.cache
def _offline_once() -> None:
    # on first use, not at import: importing smi_labs (tests, tools, the docs) must not write
    # to the home directory
    offline_charts()
    served = os.environ.get(CHARTS_ENV)
    module = serve_bundle(alt.JupyterChart._esm, served) if served else None
    alt.JupyterChart._esm = module if module is not None else carry_bundle(alt.JupyterChart._esm)


def warm() -> None:
    """Do once the first-use work every lab repeats, without creating a widget: load the data
    tables (cached), set up the offline chart bundle, build altair's schema validator.
    scripts/lab_kernels.py calls it before forking kernels, so each kernel starts with it done
    (a first lab build took 0.83 s cold, 0.46 s after this)."""
    smi.load()
    _offline_once()
    alt.Chart(pd.DataFrame({"x": [0.0], "y": ["a"]})).mark_bar().encode(x="x:Q", y="y:N").to_dict()


def unbound(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    """``chart`` without HTML inputs bound to its parameters, changed in place.

    The book's charts bind their parameters to HTML sliders and menus (a static page has no
    other controls); in a lab the ipywidgets are the controls, and a chart that drew its own
    inputs would show a second set that moves the chart without the lab knowing (its numbers,
    explanations and share link would keep the old value). Every lab chart goes through here."""
    def html_input(bind) -> bool:  # not a selection bound to "scales" or "legend": no HTML
        return isinstance(bind, alt.Binding) or (isinstance(bind, dict) and bool({"input", "element"} & set(bind)))

    def strip(obj) -> None:
        if isinstance(obj, list):
            for item in obj:
                strip(item)
        elif isinstance(obj, alt.SchemaBase):
            if html_input(obj._kwds.get("bind")):
                obj._kwds["bind"] = alt.Undefined
            for value in obj._kwds.values():
                if isinstance(value, (alt.SchemaBase, list)):
                    strip(value)

    strip(chart)
    return chart


def lab_chart(chart: alt.TopLevelMixin) -> alt.JupyterChart:
    """The widget that shows a lab's main chart: the JupyterChart bundle carried by the page
    (no CDN), the chart without HTML inputs of its own (:func:`unbound`)."""
    _offline_once()
    return alt.JupyterChart(unbound(chart), embed_options={"actions": False})


# --------------------------------------------------------------------------- URL state

@dataclass
class UrlState:
    """Inputs read from a query string, with a notice for everything that was not taken as is."""

    values: dict[str, float | str] = field(default_factory=dict)
    preset: str | None = None
    notices: list[str] = field(default_factory=list)


def parse_query(query: str | None, allowed: list[str], theory: Theory) -> UrlState:
    """Validate a query string: unknown names are ignored, out-of-range numbers clamped, a
    parameter given twice with different values ignored, and each such case gets a notice
    naming the parameter and the value. Never raises on user input."""
    state = UrlState()
    if not query:
        return state
    spec = theory.inputs.set_index("name")
    presets = set(theory.presets.key)
    try:
        pairs = parse_qsl(query.lstrip("?"), keep_blank_values=True, strict_parsing=False, max_num_fields=200)
    except ValueError as err:
        state.notices.append(f"The link could not be read ({err}); the lab starts from its defaults.")
        return state
    given: dict[str, list[str]] = {}
    for name, raw in pairs:
        given.setdefault(name, []).append(raw)
    for name, raws in given.items():
        if name != "preset" and name not in allowed:
            state.notices.append(f"Unknown parameter {name!r} in the link was ignored.")
            continue
        field = "Case preset (preset)" if name == "preset" else f"{spec.loc[name, 'label']} ({name})"
        if len(set(raws)) > 1:
            # a second value would silently win: neither is taken, the visitor sees both
            state.notices.append(f"{field} is given {len(raws)} times in the link "
                                 f"({', '.join(repr(r) for r in raws)}); ignored, the lab keeps its default. "
                                 "Give it once.")
            continue
        raw = raws[0]
        if name == "preset":
            if raw in presets:
                state.preset = raw
            else:
                state.notices.append(f"Unknown preset {raw!r} in the link was ignored.")
            continue
        s = spec.loc[name]
        if s.kind == "switch":
            choices = split_tokens(s.choices)
            if raw in choices:
                state.values[name] = raw
            else:
                state.notices.append(f"{field}: {raw!r} is not one of {', '.join(choices)}; ignored.")
            continue
        try:
            v = float(raw)
        except ValueError:
            state.notices.append(f"{field}: {raw!r} is not a number; ignored.")
            continue
        if not math.isfinite(v):
            state.notices.append(f"{field}: {raw!r} is not a finite number; ignored.")
            continue
        lo, hi = float(s["min"]), float(s["max"])
        clamped = min(max(v, lo), hi)
        if s.kind == "start_quarter":
            clamped = float(round(clamped))
        if clamped != v:
            state.notices.append(f"{field}: {raw} is outside [{lo:g}, {hi:g}]; set to {clamped:g}.")
        state.values[name] = clamped
    return state


def query_string() -> str | None:
    """The page's query string under Voila (also with preheated kernels); None elsewhere.

    What ``voila.utils.get_query_string`` does, without importing ``voila``: that import loads the
    Jupyter server and JupyterLab server packages, 1.6 s of CPU in every kernel a class starts (a
    pooled kernel is refilled for each visitor). A kernel Voila starts for a request has the query
    string in its environment; a preheated one waits, before it renders, on Voila's
    ``voila/query/<kernel id>`` websocket, which sends the request's variables when a visitor is
    handed the kernel (voila 0.5, pinned; tests/browser/test_labs.py opens preset links in pools).
    """
    if os.environ.get("VOILA_PREHEAT", "False") != "False":
        from websockets.sync.client import connect  # Voila's own dependency

        env = os.environ.get
        base = env("VOILA_WS_BASE_URL", env("VOILA_SERVER_URL", "/"))
        url = (f"{env('VOILA_WS_PROTOCOL', 'ws')}://{env('VOILA_APP_IP', '127.0.0.1')}:"
               f"{env('VOILA_APP_PORT', '8866')}{base}voila/query/{env('VOILA_KERNEL_ID')}")
        try:
            with connect(url, open_timeout=5) as ws:
                os.environ.update(json.loads(ws.recv()))
        except (OSError, TimeoutError) as err:  # as Voila: render without the request's variables
            warnings.warn(f"Failed to connect to {url}: {err}")
    return os.environ.get("QUERY_STRING")


def share_query(values: dict[str, float | str], names: list[str], preset: str | None = None) -> str:
    """A query string that restores ``names`` (after the preset, if one was loaded)."""
    pairs = [("preset", preset)] if preset else []
    pairs += [(n, f"{values[n]:.4g}" if isinstance(values[n], float) else str(values[n])) for n in names]
    return "?" + urlencode(pairs)


# --------------------------------------------------------------------------- rendering helpers

def svg(chart: alt.TopLevelMixin) -> str:
    """A chart as inline SVG (for panels that change rarely); scales down on narrow screens."""
    out = vlc.vegalite_to_svg(chart.to_dict(), vl_version=VL)
    return out.replace("<svg ", '<svg style="max-width:100%;height:auto" ', 1)


def num(v: float, spec: str = ".3f") -> str:
    """A number as the labs show it: ``format(v, spec)``, except that a value which rounds to
    zero shows as zero, never "-0.000" (a share lost of -1e-17 is no share)."""
    out = format(float(v), spec)
    if out.startswith("-") and float(out) == 0:
        out = format(0.0, spec)
    return out


def part(name: str, **args) -> str:
    """One piece of the labs' HTML (a macro of ``smi_charts/templates/lab_parts.html.j2``)."""
    return render_macro("lab_parts.html.j2", name, **args)


def table_html(df: pd.DataFrame, caption: str) -> str:
    rows = [[num(v) if isinstance(v, (float, np.floating)) else str(v) for v in r] for r in df.itertuples(index=False)]
    return part("table", caption=caption, columns=[str(c) for c in df.columns], rows=rows)


def csv_data_uri(df: pd.DataFrame) -> str:
    return "data:text/csv;base64," + base64.b64encode(df.to_csv(index=False).encode()).decode()


CSS = """<style>
.smi-lab { max-width: 1100px; font-size: 15px; }
/* a control's label takes the width its panel gives it (panel()) and wraps there, rather than
   cutting the label off or pushing the slider out of line with its neighbours */
.smi-lab .widget-slider > .widget-label, .smi-lab .widget-dropdown > .widget-label {
  white-space: normal; height: auto; line-height: 1.25; align-self: center; overflow-wrap: anywhere; }
.smi-lab .widget-slider { height: auto; min-height: var(--jp-widgets-inline-height, 28px); }
.smi-lab-table { border-collapse: collapse; margin: 0.4em 0; }
.smi-lab-table th, .smi-lab-table td { border: 1px solid #767676; padding: 0.15em 0.5em; text-align: left; }
.smi-lab-table caption { text-align: left; font-weight: 600; }
.smi-notice { background: #fff4e5; border-left: 4px solid #D55E00; padding: 0.4em 0.8em; color: #5a2a00; }
.smi-lab-ready { color: #1b5e20; }
.smi-band-note { font-size: 13px; color: #333; margin: 0.2em 0 0.6em; }
.smi-lab a { color: #004f7c; }
/* JupyterLab's grey for inactive tabs and closed accordion titles (#6d6d6d on #eeeeee, 4.45:1)
   misses WCAG AA's 4.5:1: darken it */
.smi-lab .lm-TabBar-tab, .smi-lab .jupyter-widget-Collapse-header, .smi-lab .p-Collapse-header { color: #333 !important; }
</style>"""

CONTROLS = (W.FloatSlider, W.IntSlider, W.Dropdown)


def control_layout() -> W.Layout:
    """Every control's box: the panel's width, up to a comfortable slider length."""
    return W.Layout(width="100%", max_width="520px")


def slider(name: str, theory: Theory, value: float) -> W.Widget:
    """A labelled, keyboard-operable control for one input, its help text as tooltip (its
    description width is set by the panel that holds it: :func:`panel`)."""
    s = theory.inputs.set_index("name").loc[name]
    common = dict(description=s.label, tooltip=s.help, layout=control_layout())
    if s.kind == "switch":
        return W.Dropdown(options=split_tokens(s.choices), value=value, **common)
    if s.kind == "start_quarter":
        return W.IntSlider(value=int(value), min=int(s["min"]), max=int(s["max"]), step=1, continuous_update=False,
                           **common)
    return W.FloatSlider(value=float(value), min=float(s["min"]), max=float(s["max"]), step=0.01,
                         readout_format=".2f", continuous_update=False, **common)


def panel(children: list[W.Widget]) -> W.VBox:
    """A group of controls (an accordion pane, a tab) whose labels all get one width, the
    longest label's (at most half the row), so that their sliders start and end in line and
    have the same length."""
    controls = [c for c in children if isinstance(c, CONTROLS)]
    longest = max((len(c.description) for c in controls), default=0)
    for c in controls:
        c.style.description_width = f"min({longest + 1}ch, 50%)"
        c.layout = control_layout()
    return W.VBox(children)


def accordion(panes: list[tuple[str, list[W.Widget]]]) -> W.Accordion:
    """The lab's controls: one :func:`panel` per group, the first one open."""
    acc = W.Accordion(children=[panel(children) for _, children in panes])
    for i, (title, _) in enumerate(panes):
        acc.set_title(i, title)
    acc.selected_index = 0
    return acc


def preset_picker(theory: Theory, study: str | None = None) -> W.Dropdown:
    p = theory.presets if study is None else theory.presets[theory.presets.study == study]
    options = [("(choose a case preset)", "")] + [(f"{r.title}", r.key) for r in p.itertuples()]
    return W.Dropdown(options=options, value="", description="Case preset",
                      tooltip="Load a scenario traced to a vignette in one of the studies", layout=control_layout())


def chart_box(widget: W.Widget) -> W.Box:
    box = W.Box([widget], layout=W.Layout(overflow="auto"))
    box.add_class("smi-lab-chart")
    return box


@dataclass
class LabResult:
    """What a lab shows for the current settings: one row per output (``output``, ``label``,
    ``value`` at the shipped weights, band ``low``/``high``) and sentences saying which of its
    conclusions hold over the weight draws."""

    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def result_rows(outputs: list[str], labels: dict[str, str], arrays: dict[str, np.ndarray]) -> pd.DataFrame:
    """Value and band of each output from its (K + 1,) array over the weight sets."""
    s = {o: spread(arrays[o]) for o in outputs}
    return pd.DataFrame({"output": outputs, "label": [labels[o] for o in outputs],
                         **{c: [float(s[o][c]) for o in outputs] for c in ("value", "low", "high")}})


def extreme_note(arrays: dict[str, np.ndarray], names: list[str], labels: dict[str, str], what: str,
                 lowest: bool) -> str:
    """The sentence naming the weakest (or strongest) of ``names`` at the shipped weights and in
    how many weight draws the same ones are."""
    found, agree, k = agreement(arrays, names, lowest)
    which = "Weakest" if lowest else "Strongest"
    tied = " (tied)" if len(found) > 1 else ""
    return (f"{which} {what} at the shipped weights: {', '.join(labels[n] for n in found)}{tied}. "
            f"{'They are' if len(found) > 1 else 'It is'} the {which.lower()} {how_often(agree, k)}.")


# the tabs under every lab's chart, by title (a lab may add its own after these)
NUMBERS, WHY, MOVE_FIRST, SHARE = "Numbers", "Why", "What to move first", "Share & export"
EXPLANATIONS = (WHY, MOVE_FIRST)  # computed only while one of them is open


class Lab:
    """Base: a set of input controls, a recompute callback, URL state, export and explanations."""

    title = "Lab"
    inputs: list[str] = []
    outputs: list[str] = []
    export_name = "scenario.csv"

    def __init__(self, theory: Theory | None = None):
        self.theory = theory or smi.load()
        self.values: dict[str, float | str] = dict(self.theory.defaults)
        self.controls = {n: slider(n, self.theory, self.values[n]) for n in self.inputs}
        self.presets = preset_picker(self.theory)
        self.notice = W.HTML()
        self.ready = W.HTML("")
        self.share = W.HTML()
        self.export = W.HTML()
        self.numbers = W.HTML()
        self.explain_output = W.Dropdown(
            options=[(label, o) for o, label in zip(smi.outputs(self.theory).output, smi.outputs(self.theory).label)
                     if o in self.outputs],
            description="Explain", tooltip="Which output to explain and to improve")
        self.why = W.HTML()
        self.sens = W.HTML()
        self._muted = False
        for n, c in self.controls.items():
            c.observe(lambda ch, n=n: self._changed(n, ch["new"]), names="value")
        self.presets.observe(lambda ch: self.load_preset(ch["new"]) if ch["new"] and not self._muted else None,
                             names="value")
        self.explain_output.observe(lambda ch: self._explain_other_output(), names="value")
        self.tabs: W.Tab | None = None
        self.tab_titles: list[str] = []
        self._tab_refresh: dict[str, Callable[[], None]] = {}  # a lab's own tabs, redrawn while open
        self._explained = False
        self.draws = for_theory(self.theory)  # once per kernel
        self.band_note = W.HTML(part("band_note", text=self.draws.note))
        self._result: LabResult | None = None
        self._result_for: tuple | None = None

    # -- state
    def set_values(self, values: dict[str, float | str]) -> None:
        """Several inputs at once (preset, link): the main chart is rebuilt with them."""
        self._muted = True
        try:
            for n, v in values.items():
                if n in self.controls:
                    self.controls[n].value = v
                self.values[n] = v
        finally:
            self._muted = False
        self.rebuild_main()
        self.recompute()

    def rebuild_main(self) -> None:
        """Bake the current values into the main chart's spec. A chart not yet drawn in the
        browser takes its parameters from the spec when it is drawn (and would drop values set
        before), so bulk changes go through the spec; single moves only set parameters."""

    def load_preset(self, key: str) -> None:
        row = smi.preset(key, self.theory).iloc[0].to_dict()
        self.set_values(row)

    def apply_query(self, query: str | None) -> None:
        state = parse_query(query, self.inputs, self.theory)
        values = {}
        if state.preset:
            values.update(smi.preset(state.preset, self.theory).iloc[0].to_dict())
            # the menu shows the preset without loading it: the preset and the link's own
            # values are applied together below, so the lab computes once per visitor
            self._muted = True
            try:
                self.presets.value = state.preset
            finally:
                self._muted = False
        values.update(state.values)
        if state.notices:
            self.notice.value = part("notice", messages=state.notices)
        if values:  # a plain link keeps the defaults run() computed before the visitor came
            self.set_values(values)

    def _changed(self, name: str, value) -> None:
        if self._muted:
            return
        self.values[name] = value
        self.recompute()

    # -- outputs
    def scenario(self) -> pd.DataFrame:
        return pd.DataFrame([self.values])[self.theory.input_names()]

    def recompute(self) -> None:
        """Draw the main chart first (what the reader is watching), then the rest."""
        self.update_main()
        self.update_numbers()
        self._explained = False
        if self._explanations_visible():
            self.refresh_explanations()
        if self.open_tab in self._tab_refresh:
            self._tab_refresh[self.open_tab]()
        self.share.value = part("share", href=share_query(self.values, self.inputs, self.presets.value or None))
        self.export.value = part("export", filename=self.export_name, href=csv_data_uri(self.export_frame()),
                                 text="Download the scenario and results (CSV)")

    def update_main(self) -> None:
        raise NotImplementedError

    def compute(self) -> LabResult:
        raise NotImplementedError

    def result(self) -> LabResult:
        """The current settings' result, computed once however many views ask for it."""
        key = tuple(self.values[n] for n in self.theory.input_names())
        if key != self._result_for:
            self._result, self._result_for = self.compute(), key
        return self._result

    def result_frame(self) -> pd.DataFrame:
        """The numbers as the Numbers tab shows them."""
        f = self.result().frame
        return pd.DataFrame({"output": f.label, "value (shipped weights)": f.value,
                             "band low (5th percentile)": f.low, "band high (95th percentile)": f.high})

    def update_numbers(self) -> None:
        self.numbers.value = (part("notes", items=self.result().notes)
                              + table_html(self.result_frame(), "Model results for the current settings, "
                                           f"each with its band over {self.draws.k} weight draws"))

    def export_frame(self) -> pd.DataFrame:
        inputs = pd.DataFrame({"kind": "input", "name": self.inputs, "value": [self.values[n] for n in self.inputs]})
        f = self.result().frame
        outputs = pd.DataFrame({"kind": "output", "name": f.label, "value": f.value, "low": f.low, "high": f.high})
        return pd.concat([inputs, outputs], ignore_index=True)

    def _explain_other_output(self) -> None:
        # a lab that picks its default output while it is built must not pay for explanations
        # nobody sees (attribution and sensitivity cost more than a second of a kernel's start)
        if self._explanations_visible():
            self.refresh_explanations()
        else:
            self._explained = False

    @property
    def open_tab(self) -> str | None:
        """The title of the tab open under the chart."""
        if self.tabs is None or self.tabs.selected_index is None:
            return None
        return self.tab_titles[self.tabs.selected_index]

    def show_tab(self, title: str) -> None:
        self.tabs.selected_index = self.tab_titles.index(title)

    def _explanations_visible(self) -> bool:
        return self.open_tab in EXPLANATIONS

    def refresh_explanations(self) -> None:
        """Attribution and sensitivity (a few hundred ms): computed when their tab is open, so
        moving a control redraws the chart without waiting for them."""
        self._explained = True
        out = self.explain_output.value
        label = self.explain_output.label
        expl = smi.explain(self.scenario(), [out], theory=self.theory)
        by_p = smi.by_proposition(expl, self.theory)
        top = (expl[expl.attribution.abs() > 1e-9].sort_values("attribution", key=abs, ascending=False)
               .head(6)[["input", "value", "attribution", "propositions"]])
        delta = expl.output_value.iloc[0] - expl.baseline_output.iloc[0]
        self.why.value = (
            part("why", label=str(label), value=num(expl.output_value.iloc[0]), delta=num(delta, "+.3f"))
            + svg(charts.attribution_chart(by_p, f"Why: {label}"))
            + table_html(top, "The inputs that moved it most"))
        sens = smi.sensitivity(self.scenario(), out, theory=self.theory)
        self.sens.value = (svg(charts.sensitivity_chart(sens, f"What to move first: {label}"))
                           + table_html(sens[sens.actionable].head(5)[["label", "value", "best_move", "gain", "propositions"]],
                                        "Best single moves (context and starting conditions are not levers)"))

    # -- layout
    def layout(self, controls: W.Widget, main: W.Widget,
               extra: list[tuple[str, W.Widget, Callable[[], None]]] | None = None) -> W.Widget:
        """Controls left, chart and tabs right. ``extra``: a lab's own tabs (title, content, and
        what redraws it: called when the tab opens and, while it is open, on every change)."""
        extra = extra or []
        pages = [(NUMBERS, self.numbers), (WHY, panel([self.explain_output, self.why])), (MOVE_FIRST, W.VBox([self.sens])),
                 (SHARE, W.VBox([self.share, self.export]))] + [(t, w) for t, w, _ in extra]
        tabs = W.Tab(children=[w for _, w in pages])
        self.tab_titles = [t for t, _ in pages]
        for i, t in enumerate(self.tab_titles):
            tabs.set_title(i, t)
        self.tabs = tabs
        self._tab_refresh = {t: refresh for t, _, refresh in extra}
        tabs.observe(lambda ch: self._tab_opened(), names="selected_index")
        left = W.VBox([panel([self.presets]), controls], layout=W.Layout(flex="1 1 360px", min_width="300px"))
        right = W.VBox([main, self.band_note, tabs], layout=W.Layout(flex="2 1 480px", min_width="300px"))
        body = W.Box([left, right], layout=W.Layout(display="flex", flex_flow="row wrap", align_items="flex-start"))
        root = W.VBox([W.HTML(CSS + part("heading", title=self.title)), self.notice, body, self.ready])
        root.add_class("smi-lab")
        return root

    def _tab_opened(self) -> None:
        if self._explanations_visible() and not self._explained:
            self.refresh_explanations()
        elif self.open_tab in self._tab_refresh:
            self._tab_refresh[self.open_tab]()

    def mark_ready(self) -> None:
        self.ready.value = part("ready")


class BarLab(Lab):
    """A lab whose main chart is the bars of a browser-computed explorable (``kind``), each
    with its band as a whisker. The sliders set the chart's parameters: the inputs (the chart
    computes the bars from the model's expressions) and the bands (computed here by ``smi``)."""

    kind = "linkages"
    chart_title = ""
    ranked: tuple[str, ...] = ()  # the outputs whose weakest and strongest the notes name
    ranked_as = ""  # what one of them is called ("linkage")

    def __init__(self, theory: Theory | None = None):
        super().__init__(theory)
        self.labels = charts.output_labels(self.theory)
        self.chart_outputs = charts.KIND_OUTPUTS[self.kind]
        self.chart = lab_chart(self._main_chart())

    def compute(self) -> LabResult:
        a = self.draws.evaluate(self.values)
        return LabResult(result_rows(self.outputs, self.labels, a),
                         [extreme_note(a, list(self.ranked), self.labels, self.ranked_as, lowest) for lowest in (True, False)])

    def _band(self) -> dict[str, list[float]]:
        f = self.result().frame
        return bands.band_value(f[f.output.isin(self.chart_outputs)])

    def _main_chart(self) -> alt.TopLevelMixin:
        # the bars compute in the browser from the model's expressions; the lab's sliders set
        # their params, and the whiskers' band param
        bars = charts.explorable(self.kind, self.inputs, self.values, self.chart_title, self.theory, bind=False).chart
        return bands.with_band(bars.properties(width=420, title=""), self.chart_outputs, self.labels, self._band(),
                               self.chart_title)

    def rebuild_main(self) -> None:
        self.chart.chart = unbound(self._main_chart())

    def update_main(self) -> None:
        with self.chart.hold_sync():
            for n in self.inputs:
                setattr(self.chart.params, n, float(self.values[n]))
            setattr(self.chart.params, bands.BAND_PARAM, self._band())


# Labs built before a fork, each waiting for the first kernel that shows it (prebuild, run).
_PREBUILT: dict[type, tuple[Lab, list[W.Widget]]] = {}


def prebuild(*lab_classes: type[Lab]) -> None:
    """Build each lab as run() would (shipped data, defaults, computed), before any kernel exists.

    scripts/lab_kernels.py calls it in the fork server: every forked kernel then holds these labs
    already built, and its first run() of one takes it over (_adopt) instead of building it,
    which cost 0.85 s of CPU for the linkage lab, most of a forked kernel's start. Without a
    kernel the widgets' comms publish nothing; _adopt gives each its kernel's comm."""
    from ipywidgets.widgets.widget import _instances

    for cls in lab_classes:
        before = set(_instances)
        lab = cls()
        lab.recompute()
        _PREBUILT[cls] = (lab, [w for key, w in list(_instances.items()) if key not in before])


def _adopt(lab_factory) -> Lab | None:
    """The prebuilt lab of this class, its widgets opened on this kernel's comms (None if there
    is none; only for the first lab a kernel runs: the other prebuilt labs are dropped).

    Each widget keeps its model id (Widget.open reuses it), so the references between widgets
    hold whatever the order. The comm a widget had is marked closed before it is dropped:
    otherwise its garbage collection, now that a kernel runs, would send the page a comm_close
    for the model id the widget still uses."""
    import comm
    from ipywidgets.widgets.widget import _instances

    entry = _PREBUILT.pop(lab_factory, None)
    if entry is None:
        return None
    # The kernel inherits the fork server's comm registry (ipykernel's comm manager, made when
    # prebuild opened the widgets' comms), so a dropped comm also leaves it: a page whose widget
    # manager does not hear back on the control comm within 4 s (a slow or busy browser) falls
    # back to asking for every comm listed there, one by one, and waits for all of them: a comm
    # with no widget behind it never answers, and the page never shows a widget.
    manager = comm.get_comm_manager()

    def drop(w: W.Widget) -> None:
        if w.comm is not None:
            w.comm._closed = True
            if manager.comms.get(w.comm.comm_id) is w.comm:
                del manager.comms[w.comm.comm_id]

    # the other prebuilt labs leave the kernel's widget registry: a page asks for the state of
    # every widget in it (three labs' states were 3.3 MB instead of 1.1)
    for _, others in _PREBUILT.values():
        for w in others:
            drop(w)
            _instances.pop(w._model_id, None)
    _PREBUILT.clear()
    lab, widgets = entry
    for w in widgets:
        drop(w)
        w.comm = None
        w.open()
    return lab


def run(lab_factory: Callable[[], Lab]) -> Lab:
    """Build the lab (or take over the one built before this kernel was forked: prebuild), show
    it, then take the page's query string (waits for it when preheated)."""
    from IPython.display import display

    lab = _adopt(lab_factory)
    if lab is None:
        lab = lab_factory()
        # the defaults are computed now, so a preheated kernel has them ready before its visitor
        # arrives; after the query string only what the link changes is computed
        lab.recompute()
    display(lab.root)
    lab.apply_query(query_string())
    lab.mark_ready()
    return lab
