"""The labs' logic in-process (no server): what a visitor sees before and after the link is read.
The same labs in a real Voila server and browser: tests/browser/test_labs.py."""
from __future__ import annotations

import base64
import html
import io
import json
import re

import numpy as np
import pandas as pd
import pytest
import vl_convert as vlc
from markupsafe import escape  # how the labs' templates escape text

import smi
from smi.data import CAPABILITIES, DYSFUNCTIONS
from smi.dynamics import SUMMARY_OUTPUTS
from smi_charts import bands, charts
import smi_labs.common as common
from smi_labs import CapabilityLab, DysfunctionLab, LinkageLab, capability_lab, dysfunction_lab, linkage_lab
from smi_labs.common import Lab, offline_charts
from smi_labs.dysfunction import LEVELS, SERIES

LABS = [linkage_lab, capability_lab, dysfunction_lab]
THEORY = smi.load()
DRAWS = smi.weight_draws(THEORY)  # what the labs must use: K = 200, the fixed seed


def rows(lab: Lab) -> list[list[str]]:
    """The numbers table's cells as the page shows them."""
    body = lab.numbers.value.split("<tbody>", 1)[1]
    return [[html.unescape(c) for c in re.findall(r"<td>([^<]*)</td>", r)] for r in re.findall(r"<tr>(.*?)</tr>", body)]


def shown(lab: Lab) -> dict[str, str]:
    """The numbers table: output -> value at the shipped weights."""
    return {r[0]: r[1] for r in rows(lab)}


def shown_bands(lab: Lab) -> dict[str, tuple[str, str]]:
    """The numbers table: output -> (band low, band high)."""
    return {r[0]: (r[2], r[3]) for r in rows(lab)}


def fmt(v: float) -> str:
    """A number as the tables show it (three decimals, never "-0.000")."""
    return f"{round(float(v), 3) + 0.0:.3f}"


def exported(lab: Lab) -> pd.DataFrame:
    data = re.search(r'href="data:text/csv;base64,([^"]+)"', lab.export.value).group(1)
    return pd.read_csv(io.StringIO(base64.b64decode(data).decode()))


def assert_bands_are_smis(lab: Lab, scenario: pd.DataFrame, outputs: list[str]) -> None:
    """Numbers tab, the lab's own frame and its CSV export all carry smi.robustness's value and
    band for the scenario."""
    want = smi.robustness(scenario, outputs, draws=DRAWS, theory=lab.theory).set_index("output")
    frame = lab.result().frame.set_index("output")
    table, table_bands, csv = shown(lab), shown_bands(lab), exported(lab).set_index("name")
    for o in outputs:
        label = frame.loc[o, "label"]
        for col in ("value", "low", "high"):
            assert frame.loc[o, col] == pytest.approx(want.loc[o, col], abs=1e-12), (o, col)
            assert float(csv.loc[label, col]) == pytest.approx(want.loc[o, col], abs=1e-12), (o, col)
        assert table[label] == fmt(want.loc[o, "value"]), o
        assert table_bands[label] == (fmt(want.loc[o, "low"]), fmt(want.loc[o, "high"])), o


@pytest.mark.parametrize("factory", LABS, ids=lambda f: f.__name__)
def test_defaults_are_computed_before_the_link_is_read(factory, monkeypatch):
    """A preheated kernel runs everything before the visitor's query string: the lab's numbers,
    share link and export must be there already, so a plain link costs the visitor nothing."""
    seen = {}
    original = common.Lab.apply_query

    def spy(self, q):
        seen.update(numbers=self.numbers.value, share=self.share.value, export=self.export.value)
        return original(self, q)

    monkeypatch.setattr(common.Lab, "apply_query", spy)
    monkeypatch.setattr(common, "query_string", lambda: "")
    lab = factory()
    assert seen["numbers"] and seen["share"] and "smi-export" in seen["export"]
    assert lab.numbers.value == seen["numbers"]  # an empty link changed nothing
    assert "smi-lab-ready" in lab.ready.value


def test_plain_page_numbers_equal_the_model():
    lab = linkage_lab()
    expected = smi.linkages(smi.scenario()).iloc[0]
    numbers = shown(lab)
    labels = charts.output_labels(lab.theory)
    for out in lab.outputs:
        assert numbers[labels[out]] == f"{expected[out]:.3f}", out


def test_link_values_are_applied_and_unknown_ones_noticed():
    lab = linkage_lab()
    lab.apply_query("rapport=0.9&bogus=1")
    assert lab.values["rapport"] == pytest.approx(0.9)
    assert escape("Unknown parameter 'bogus'") in lab.notice.value
    expected = smi.linkages(smi.scenario(rapport=0.9)).iloc[0]
    labels = charts.output_labels(lab.theory)
    assert shown(lab)[labels["social"]] == f"{expected.social:.3f}"


def test_a_link_with_only_unknown_parameters_keeps_the_defaults():
    lab = linkage_lab()
    before = lab.numbers.value
    lab.apply_query("bogus=1")
    assert escape("Unknown parameter 'bogus'") in lab.notice.value
    assert lab.numbers.value == before
    assert all(lab.values[n] == lab.theory.defaults[n] for n in lab.inputs)


def test_cached_chart_bundle_is_what_altair_builds(tmp_path, monkeypatch):
    """The labs reuse one JupyterChart bundle instead of building it per kernel: the cached copy
    must equal what alt.JupyterChart.enable_offline() builds, and be reused on the next start."""
    import altair as alt

    for attr in ("_esm", "_is_offline"):  # restored after the test
        monkeypatch.setattr(alt.JupyterChart, attr, getattr(alt.JupyterChart, attr))
    alt.JupyterChart.enable_offline(False)
    path = offline_charts(tmp_path)  # nothing cached: altair builds it, and it is written
    built = alt.JupyterChart._esm
    assert alt.JupyterChart._is_offline and path.read_text(encoding="utf-8") == built
    assert "esm.sh" not in built and len(built) > 500_000  # vega inside, not imported from a CDN

    alt.JupyterChart.enable_offline(False)
    assert "esm.sh" in alt.JupyterChart._esm  # altair's online default
    path.write_text(built + "\n// from the cache", encoding="utf-8")
    assert offline_charts(tmp_path) == path  # cached: used as is, not rebuilt
    assert alt.JupyterChart._is_offline and alt.JupyterChart._esm == built + "\n// from the cache"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind


# --------------------------------------------------------------------------- robustness bands

@pytest.mark.parametrize("cls, preset, move", [
    (LinkageLab, "diluted_key_terms", {"vertical_communication": 0.9, "hierarchy_depth": 0.2}),
    (CapabilityLab, "program_creep", {"culture": 0.9, "key_terms": 0.1}),
], ids=["linkage", "capability"])
def test_bar_lab_bands_are_smis_and_follow_the_controls(cls, preset, move):
    """The bands in the numbers, the export and the chart are smi.robustness's for the lab's
    scenario, before and after a control moves (and the move changes them)."""
    lab = cls()
    lab.load_preset(preset)
    before = dict(lab.chart.params.band)
    assert_bands_are_smis(lab, lab.scenario(), lab.outputs)
    for name, value in move.items():
        lab.controls[name].value = value
    scenario = smi.preset(preset).assign(**move)
    assert_bands_are_smis(lab, scenario, lab.outputs)
    want = smi.robustness(scenario, lab.chart_outputs, draws=DRAWS, theory=lab.theory)
    band = bands.band_value(want)
    assert set(lab.chart.params.band) == set(band)
    for o, (low, high) in band.items():
        assert lab.chart.params.band[o] == pytest.approx([low, high], abs=1e-12), o
    assert lab.chart.params.band != before
    for name, value in move.items():  # the bars compute in the browser from these
        assert getattr(lab.chart.params, name) == value


def test_whiskers_are_drawn_at_the_band():
    """The chart as Vega renders it: each output's whisker spans its band on the 0-1 axis."""
    lab = LinkageLab()
    lab.set_values({"key_terms": 0.8, "two_way_channels": 0.2})
    svg = vlc.vegalite_to_svg(lab.chart.chart.to_dict(), vl_version=common.VL)
    group = re.search(r'<g class="mark-rule role-mark band_whisker[^"]*"[^>]*>(.*?)</g>', svg, re.S).group(1)
    lines = re.findall(r'<line aria-label="[^"]*Output: ([^;]+);[^"]*" [^>]*transform="translate\(([-\d.e]+),'
                       r'[-\d.e]+\)" x2="([-\d.e]+)"', group)
    want = smi.robustness(lab.scenario(), lab.chart_outputs, draws=DRAWS).set_index("output")
    labels = charts.output_labels(lab.theory)
    drawn = {label: (float(x), float(x) + float(dx)) for label, x, dx in lines}
    assert set(drawn) == {labels[o] for o in lab.chart_outputs}
    width = 420  # the lab's chart width, the x scale's range for the domain [0, 1]
    for o in lab.chart_outputs:
        assert drawn[labels[o]] == pytest.approx((want.loc[o, "low"] * width, want.loc[o, "high"] * width), abs=0.01)


def test_dysfunction_bands_are_smis_and_follow_the_controls():
    lab = DysfunctionLab()
    lab.load_preset("price_hike_discounted")
    assert_bands_are_smis(lab, lab.scenario(), list(SUMMARY_OUTPUTS))
    before = lab.chart.params.trajectory
    lab.controls["openness"].value = 0.8
    scenario = smi.preset("price_hike_discounted").assign(openness=0.8)
    assert_bands_are_smis(lab, scenario, list(SUMMARY_OUTPUTS))
    # the chart's lines are smi.simulate's, its bands the percentiles of smi.simulate_draws
    sim = smi.simulate(scenario)
    by_draw = smi.simulate_draws(scenario, draws=DRAWS)
    traj = lab.chart.params.trajectory
    assert traj != before
    frame = lab.result().frame.set_index("output")
    for s in SERIES:
        low, high = np.percentile(by_draw[s][:, 0, :], [5, 95], axis=1)
        assert traj[s][0] == pytest.approx(list(sim[s]), abs=1e-12)
        assert traj[s][1] == pytest.approx(list(low), abs=1e-12)
        assert traj[s][2] == pytest.approx(list(high), abs=1e-12)
        final = frame.loc[f"{s}@final"]
        assert (final.value, final.low, final.high) == pytest.approx((sim[s].iloc[-1], low[-1], high[-1]), abs=1e-12)
    csv = exported(lab).set_index("name")
    assert csv.loc["overt_conflict@q40", ["value", "low", "high"]].astype(float).tolist() == pytest.approx(traj["overt_conflict"][0][-1:]
                                                                                           + [traj["overt_conflict"][1][-1],
                                                                                              traj["overt_conflict"][2][-1]])


def test_notes_count_the_draws_as_smi_does():
    """"Weakest ... in N of 200 draws": N is what smi.evaluate_draws gives, and the note says
    whether the conclusion holds for every draw or depends on the weights."""
    lab = CapabilityLab()
    lab.set_values({"vision": 0.9, "information": 0.9, "knowledge": 0.9, "processes": 0.1, "resources": 0.1})
    by_draw = smi.evaluate_draws(lab.scenario(), DRAWS)
    shipped = smi.evaluate(lab.scenario()).iloc[0]
    weakest = min(CAPABILITIES, key=lambda c: shipped[c])
    assert sum(shipped[c] == shipped[weakest] for c in CAPABILITIES) == 1  # a profile without ties
    count = int((by_draw[list(CAPABILITIES)].idxmin(axis=1) == weakest).sum())
    label = charts.output_labels(lab.theory)[weakest]
    note = lab.result().notes[0]
    assert note.startswith(f"Weakest capability at the shipped weights: {label}.")
    if count == len(DRAWS):
        assert f"in all {len(DRAWS)} weight draws: it holds whatever the weights" in note
    else:
        assert f"in {count} of {len(DRAWS)} weight draws: it depends on the weights" in note
    assert escape(note) in lab.numbers.value

    lab = LinkageLab()  # social and philosophical tie at the defaults, in every draw
    assert lab.result().notes[1] == ("Strongest linkage at the shipped weights: Social linkage, Philosophical linkage "
                                     "(tied). They are the strongest in all 200 weight draws: it holds whatever the weights.")


def test_dysfunction_notes_compare_with_run_b_draw_by_draw():
    lab = DysfunctionLab()
    lab.set_values({"start_overt_conflict": 0.3})
    lab.keep_run()
    lab.set_values({"customized": 0.6, "customized_start": 2})
    a = smi.summarize_draws(smi.scenario(start_overt_conflict=0.3), draws=DRAWS).cumulative_dysfunction.to_numpy()
    b = smi.summarize_draws(lab.scenario(), draws=DRAWS).cumulative_dysfunction.to_numpy()
    lower = int((b < a - 1e-9).sum())
    note = lab.result().notes[1]
    assert note.startswith("At the shipped weights this run's cumulative dysfunction is lower than run B's; it is so in ")
    assert (f"in all {len(DRAWS)} weight draws" if lower == len(DRAWS) else f"in {lower} of {len(DRAWS)} weight draws") in note
    lab.clear_run()
    assert len(lab.result().notes) == 1


# --------------------------------------------------------------------------- interventions

def test_interventions_are_grouped_by_the_level_the_study_gives_them():
    """Every measure of data/interventions.csv has a strength and a start control, under the
    heading of its level (function-level §4.1, culture §4.2, individual §4.2)."""
    lab = DysfunctionLab()
    heading = None
    placed = {}
    for w in lab.interventions_pane.children:
        if hasattr(w, "value") and isinstance(w.value, str) and w.value.startswith("<h4>"):
            heading = html.unescape(re.search(r"<h4>(.*?)</h4>", w.value).group(1))
        elif hasattr(w, "description") and w in lab.controls.values():
            placed[next(n for n, c in lab.controls.items() if c is w)] = heading
    iv = lab.theory.interventions
    for r in iv.itertuples():
        assert placed[r.intervention] == LEVELS[r.level][0], r.intervention
        assert placed[f"{r.intervention}_start"] == LEVELS[r.level][0], r.intervention
    assert LEVELS[iv.set_index("intervention").loc["customized", "level"]][0] == "Customized to the individual (§4.2)"
    assert {LEVELS[lv][0] for lv in iv[iv.intervention.isin(["function_fix", "joint_calls", "job_rotation"])].level} == {
        "Function-level measures (§4.1)"}


def test_customized_control_changes_the_trajectory():
    lab = DysfunctionLab()
    lab.set_values({"start_communication_paucity": 0.4, "start_overt_conflict": 0.3})
    before = lab.sim[list(DYSFUNCTIONS)].to_numpy().copy()
    chart_before = lab.chart.params.trajectory
    lab.controls["customized"].value = 1.0
    lab.controls["customized_start"].value = 2
    after = lab.sim[list(DYSFUNCTIONS)].to_numpy()
    expected = smi.simulate(lab.scenario())
    assert after == pytest.approx(expected[list(DYSFUNCTIONS)].to_numpy(), abs=1e-12)
    assert np.abs(after - before).max() > 0.01
    assert (after <= before + 1e-12).all()  # a measure never raises a dysfunction (the model is monotone)
    assert lab.chart.params.trajectory != chart_before
    assert lab.values["customized"] == 1.0 and lab.values["customized_start"] == 2
    assert "customized=1" in lab.share.value and "customized_start=2" in lab.share.value


def test_sensemaking_tab_shows_each_construct_with_its_band():
    """Sales vs marketing: every construct at the chosen quarter, at the shipped weights and with
    its band over the draws of smi.simulate_draws."""
    lab = DysfunctionLab()
    lab.load_preset("price_hike_discounted")
    lab.quarter.value = 6
    lab.tabs.selected_index = 4
    sim = smi.simulate(lab.scenario()).set_index("quarter").loc[6]
    by_draw = smi.simulate_draws(lab.scenario(), draws=DRAWS)
    body = lab.sides.value.split("<tbody>", 1)[1]
    cells = [[html.unescape(c) for c in re.findall(r"<td>([^<]*)</td>", r)] for r in re.findall(r"<tr>(.*?)</tr>", body)]
    sm = lab.theory.sensemaking
    constructs = sm[sm.stage != "trigger"]
    assert len(cells) == len(constructs)
    for row, r in zip(cells, constructs.itertuples()):
        low, high = np.percentile(by_draw[r.construct][6, 0, :], [5, 95])
        assert row[3:] == [fmt(v) for v in (sim[r.construct], low, high)], r.construct
    assert "band_whisker" in lab.sides.value  # the chart draws the bands too


def test_explanations_wait_for_their_tab():
    """Attribution and sensitivity cost more than a second: a lab computes them when their tab
    is open (also when it picks its default output while it is built), then follows the output."""
    lab = CapabilityLab()
    lab.recompute()
    assert lab.why.value == "" and lab.sens.value == ""
    lab.tabs.selected_index = 1
    labels = charts.output_labels(lab.theory)
    assert lab.why.value.startswith(f"<p>{escape(labels['market_sensing'])}:")
    lab.explain_output.value = "npd"
    assert lab.why.value.startswith(f"<p>{escape(labels['npd'])}:")
    lab.tabs.selected_index = 0
    lab.explain_output.value = "crm"  # not shown: not computed until the tab opens again
    assert lab.why.value.startswith(f"<p>{escape(labels['npd'])}:")
    lab.tabs.selected_index = 2
    assert lab.why.value.startswith(f"<p>{escape(labels['crm'])}:") and lab.sens.value


# --------------------------------------------------------------------------- one set of controls

def bindings(spec) -> list:
    """Every ``bind`` in a Vega-Lite spec (dict/list tree)."""
    if isinstance(spec, dict):
        return ([spec["bind"]] if "bind" in spec else []) + [b for v in spec.values() for b in bindings(v)]
    if isinstance(spec, list):
        return [b for v in spec for b in bindings(v)]
    return []


@pytest.mark.parametrize("cls, move", [
    (LinkageLab, {"key_terms": 1.0}), (CapabilityLab, {"culture": 0.9}), (DysfunctionLab, {"openness": 0.8}),
], ids=["linkage", "capability", "dysfunction"])
def test_lab_charts_draw_no_controls_of_their_own(cls, move):
    """A chart that drew HTML inputs for its parameters would be a second set of controls that
    moves the chart without the lab (its numbers, explanations, link) knowing: a lab's chart has
    none, as built and as rebuilt for a bulk change."""
    lab = cls()
    assert bindings(lab.chart.chart.to_dict()) == []
    lab.set_values(move)  # rebuilds the chart's spec
    assert bindings(lab.chart.chart.to_dict()) == []


def test_unbound_removes_html_inputs_only():
    """The book's explorable binds every input to an HTML slider; unbound() drops those (the
    values stay) and keeps bindings that draw no HTML (a zoomable scale)."""
    import altair as alt

    inputs = THEORY.input_names("linkages")
    bound = charts.explorable("linkages", inputs, THEORY.defaults, "t", THEORY, bind=True).chart
    zoom = alt.selection_interval(bind="scales", name="zoom")
    bound = alt.layer(bound, alt.Chart(alt.Data(values=[{"x": 1}])).mark_point().encode(x="x:Q").add_params(zoom))
    assert len(bindings(bound.to_dict())) == len(inputs) + 1
    spec = common.unbound(bound).to_dict()
    assert bindings(spec) == ["scales"]
    params = {p["name"]: p.get("value") for p in spec["params"]}
    assert all(params[n] == THEORY.defaults[n] for n in inputs)


# --------------------------------------------------------------------------- what is shown

def test_numbers_never_show_negative_zero():
    assert common.num(-2.220446049250313e-16) == "0.000"
    assert common.num(-0.0) == "0.000" and common.num(-0.0004) == "0.000"
    assert common.num(-0.0006) == "-0.001"
    assert common.num(-1e-17, "+.3f") == "+0.000" and common.num(0.25, "+.3f") == "+0.250"
    assert common.num(-0.004, ".2f") == "0.00"
    cells = common.table_html(pd.DataFrame({"v": [-1e-17, np.float32(-1e-9)]}), "c")
    assert "-0" not in cells and cells.count("<td>0.000</td>") == 2


def test_why_tab_shows_no_negative_zero():
    """At the defaults the model's share of functioning lost is -2e-16: the Why tab said
    "Share of SMI functioning lost: -0.000"."""
    lab = DysfunctionLab()
    lab.explain_output.value = "functioning_loss"
    lab.show_tab(common.WHY)
    assert lab.why.value.startswith("<p>Share of SMI functioning lost: 0.000, that is +0.000 against")
    assert "-0.0" not in lab.why.value and "-0.0" not in lab.numbers.value


@pytest.mark.parametrize("cls", [LinkageLab, CapabilityLab, DysfunctionLab], ids=lambda c: c.__name__)
def test_controls_of_a_panel_share_one_label_width(cls):
    """Every accordion pane (and tab with controls) gives its controls one label width and one
    box, so their sliders line up with the same length (tests/browser/test_labs.py measures)."""
    import ipywidgets as W

    lab = cls()
    panes = [lab.root]
    seen = 0
    while panes:
        box = panes.pop()
        kids = list(getattr(box, "children", ()))
        controls = [c for c in kids if isinstance(c, common.CONTROLS)]
        if controls:
            assert len({c.style.description_width for c in controls}) == 1, [c.description for c in controls]
            assert len({(c.layout.width, c.layout.max_width) for c in controls}) == 1
            longest = max(len(c.description) for c in controls)
            assert controls[0].style.description_width == f"min({longest + 1}ch, 50%)"
            seen += len(controls)
        panes += [c for c in kids if isinstance(c, W.Box)]
    # every input, the preset menu, the explained output (and the quarter to inspect)
    assert seen == len(lab.inputs) + 2 + (cls is DysfunctionLab)


# --------------------------------------------------------------------------- links

def test_a_preset_link_computes_the_lab_once(monkeypatch):
    """run(): the defaults are computed before the visitor's link is read (a preheated kernel);
    after it, a preset link (with or without values of its own) evaluates the model once and
    redraws the lab once."""
    from smi_labs import draws as draws_mod

    for query in ("preset=program_creep", "preset=program_creep&culture=0.9"):
        counts = {"evaluate": 0, "recompute": 0, "rebuild": 0}
        at_link = {}
        evaluate, recompute, rebuild = draws_mod.Draws.evaluate, common.Lab.recompute, common.BarLab.rebuild_main

        def counted(key, f):
            def wrapper(*a, **k):
                counts[key] += 1
                return f(*a, **k)
            return wrapper

        monkeypatch.setattr(draws_mod.Draws, "evaluate", counted("evaluate", evaluate))
        monkeypatch.setattr(common.Lab, "recompute", counted("recompute", recompute))
        monkeypatch.setattr(common.BarLab, "rebuild_main", counted("rebuild", rebuild))
        monkeypatch.setattr(common, "query_string", lambda q=query: (at_link.update(counts), q)[1])
        lab = capability_lab()
        after = {k: counts[k] - at_link[k] for k in counts}
        assert after == {"evaluate": 1, "recompute": 1, "rebuild": 1}, (query, after)
        assert lab.presets.value == "program_creep"
        want = smi.preset("program_creep").assign(**({"culture": 0.9} if "culture" in query else {}))
        assert lab.result().frame.set_index("output").value["supply_chain"] == pytest.approx(
            smi.evaluate(want).supply_chain.iloc[0], abs=1e-12)
        monkeypatch.undo()


def test_dysfunction_preset_link_simulates_once(monkeypatch):
    from smi_labs import draws as draws_mod

    lab = DysfunctionLab()
    calls = []
    simulate = draws_mod.Draws.simulate
    monkeypatch.setattr(draws_mod.Draws, "simulate", lambda self, *a: calls.append(1) or simulate(self, *a))
    lab.apply_query("preset=price_hike_discounted&openness=0.7")
    assert len(calls) == 1
    assert lab.values["openness"] == 0.7 and lab.presets.value == "price_hike_discounted"


@pytest.mark.parametrize("query, name, values", [
    ("preset=program_creep&preset=diluted_key_terms", "preset", ["program_creep", "diluted_key_terms"]),
    ("rapport=0.2&key_terms=0.9&rapport=0.8", "rapport", ["0.2", "0.8"]),
])
def test_a_parameter_given_twice_is_refused_with_both_values(query, name, values):
    """A link that names a parameter twice is ambiguous: neither value is taken (the lab keeps
    its default for it and takes the rest of the link), and the notice names the parameter
    and both values."""
    lab = LinkageLab()
    lab.recompute()
    lab.apply_query(query)
    notice = html.unescape(lab.notice.value)
    assert f"({name})" in notice and "given 2 times" in notice, notice
    assert all(repr(v) in notice for v in values), notice
    assert lab.values["rapport"] == lab.theory.defaults["rapport"]
    assert lab.presets.value == ""
    if "&key_terms=" in query:  # the rest of the link is taken
        assert lab.values["key_terms"] == 0.9
        assert shown(lab)["Language linkage"] == fmt(smi.linkages(smi.scenario(key_terms=0.9)).language.iloc[0])
    lab.controls["rapport"].value = 0.9  # still usable
    assert shown(lab)["Social linkage"] == fmt(smi.linkages(lab.scenario()).social.iloc[0])


def test_a_repeated_identical_value_is_taken():
    state = common.parse_query("rapport=0.3&rapport=0.3", THEORY.input_names("linkages"), THEORY)
    assert state.values == {"rapport": 0.3} and state.notices == []


@pytest.mark.parametrize("query, field, value, result", [
    ("rapport=7", "(rapport)", "7", "set to 1"),
    ("customized_start=-3", "(customized_start)", "-3", "set to 0"),
    ("openness=nan", "(openness)", "'nan'", "not a finite number"),
    ("incremental_effects=wild", "(incremental_effects)", "'wild'", "is not one of"),
])
def test_an_out_of_range_link_value_is_named_in_the_notice(query, field, value, result):
    lab = DysfunctionLab() if "rapport" not in query else LinkageLab()
    lab.apply_query(query)
    notice = html.unescape(lab.notice.value)
    name = field.strip("()")
    label = lab.theory.inputs.set_index("name").loc[name, "label"]
    assert f"{label} {field}: {value}" in notice and result in notice, notice


def test_importing_the_labs_writes_nothing(tmp_path):
    """The chart bundle is cached on first use, not when smi_labs is imported."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "HOME": str(tmp_path / "home")}
    code = "import smi_labs, smi_labs.common"
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=300)
    assert not list(tmp_path.rglob("smi-labs*"))
    code = "import smi_labs; smi_labs.LinkageLab()"
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=300)
    assert [p.suffix for p in (tmp_path / "cache" / "smi-labs").iterdir()] == [".js"]


def test_spill_over_tab_follows_the_controls_while_open():
    lab = CapabilityLab()
    lab.recompute()
    assert lab.spill.value == ""  # not drawn while closed
    from smi_labs.capability import SPILL

    lab.show_tab(SPILL)
    before = lab.spill.value
    assert "<svg" in before
    lab.controls["culture"].value = 0.95
    assert lab.spill.value != before


def test_a_lab_kernel_does_not_load_the_server_or_a_grammar_it_never_uses():
    """Each visitor costs a kernel start, so its CPU bounds a class on two cores: importing the
    labs must not import Voila's server side (1.6 s; the query string is read without it) or
    rfc3987_syntax (2.7 s, a grammar for an IRI format check the labs never make)."""
    import subprocess
    import sys
    code = ("import sys, smi_labs; lab = smi_labs.linkage_lab(); "
            "print(sorted(m for m in ('voila', 'jupyter_server', 'jupyterlab_server', 'rfc3987_syntax') "
            "if sys.modules.get(m) is not None))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         cwd=str(common.__file__).rsplit("/smi_labs/", 1)[0], check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout[-500:]


# --------------------------------------------------------------------------- forked kernels

def test_chart_bundle_served_by_the_lab_server(tmp_path, monkeypatch):
    """Under the labs' Voila server a chart carries a small module importing the bundle from the
    server (smi_labs.common.serve_bundle), not the ~0.9 MB bundle itself."""
    import altair as alt

    bundle = "export default {render() {}};\n" + "// vega " * 1000
    module = common.serve_bundle(bundle, tmp_path)
    [path] = tmp_path.iterdir()
    assert re.fullmatch(r"jupyterchart-[0-9a-f]{8}\.js", path.name)
    assert path.read_text(encoding="utf-8") == bundle
    assert f'"{common.CHARTS_ROUTE}{path.name}"' in module and len(module) < 600
    assert "export default" in module and "jupyter-config-data" in module  # the page's base URL
    stamp = path.stat().st_mtime_ns
    assert common.serve_bundle(bundle, tmp_path) == module and path.stat().st_mtime_ns == stamp  # kept, not rewritten
    other = common.serve_bundle(bundle + "// another version", tmp_path)
    assert other != module and len(list(tmp_path.iterdir())) == 2  # a new bundle, a new name
    assert common.serve_bundle(bundle, tmp_path / "missing") is None  # cannot write: charts carry the bundle

    for attr in ("_esm", "_is_offline"):  # restored after the test
        monkeypatch.setattr(alt.JupyterChart, attr, getattr(alt.JupyterChart, attr))
    served = tmp_path / "served"
    served.mkdir()
    monkeypatch.setenv(common.CHARTS_ENV, str(served))
    common._offline_once.cache_clear()
    try:
        common._offline_once()
        [path] = served.iterdir()
        text = path.read_text(encoding="utf-8")
        assert len(text) > 500_000  # the whole offline bundle, served
        # the served module forwards render alone (it must load within anywidget's 2 s, so it
        # cannot await the bundle for an initialize): the bundle's default export is render only
        assert "const __default={render};export{__default as default};" in text
        assert alt.JupyterChart._esm == common.serve_bundle(text, served)
        assert "export default { async render(props)" in alt.JupyterChart._esm
        assert "await import(" not in alt.JupyterChart._esm  # never awaited while the module loads

        # no lab server (JupyterLab, JupyterHub, nbval): the chart carries the bundle, as a string
        # its module imports without awaiting
        monkeypatch.delenv(common.CHARTS_ENV)
        common._offline_once.cache_clear()
        common._offline_once()
        assert alt.JupyterChart._esm == common.carry_bundle(text)
        literal = re.search(r"new Blob\(\[(.*)\], \{type", alt.JupyterChart._esm, re.S).group(1)
        assert json.loads(literal) == text
        assert "export default { async render(props)" in alt.JupyterChart._esm
        assert "await import(" not in alt.JupyterChart._esm
    finally:
        common._offline_once.cache_clear()


def _lab_widgets(root) -> list:
    """Every widget a lab's page shows: its tree, with each widget's layout and style."""
    import ipywidgets as W

    seen, out, todo = set(), [], [root]
    while todo:
        w = todo.pop()
        if id(w) in seen:
            continue
        seen.add(id(w))
        out.append(w)
        for name in w.keys:
            value = getattr(w, name)
            for v in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(v, W.Widget):
                    todo.append(v)
    return out


def test_prebuilt_lab_is_taken_over_by_the_kernel(monkeypatch):
    """A forked kernel's first lab is the one its fork server built (common.prebuild): run()
    opens each of its widgets on the kernel's comms under the same model id, sends no comm_close,
    drops the other prebuilt labs, and the lab is the one a fresh build gives and still responds."""
    import gc

    import comm
    import IPython.display
    from ipywidgets.widgets.widget import _instances

    sent, kernel = [], []

    class KernelComm(comm.base_comm.BaseComm):
        """ipykernel's comm: it publishes nothing before a kernel runs (in the fork server),
        everything after (in the forked kernel), its own closing when collected included."""
        def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
            if kernel:
                sent.append((msg_type, self.comm_id))

    monkeypatch.setattr(comm, "create_comm", KernelComm)
    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: None)
    common.prebuild(LinkageLab, CapabilityLab)
    prebuilt, widgets = common._PREBUILT[LinkageLab]
    _, others = common._PREBUILT[CapabilityLab]
    ids = {w.model_id for w in widgets}
    old = [w.comm for w in widgets]
    kernel.append(True)  # forked: the kernel runs
    try:
        lab = common.run(LinkageLab)
        del old
        gc.collect()  # the widgets' old comms are gone: they must not close the models on the page
        assert lab is prebuilt and common._PREBUILT == {}
        shown = _lab_widgets(lab.root)
        assert {w.model_id for w in shown} <= ids and len(shown) > 50
        assert all(isinstance(w.comm, KernelComm) and w.comm.comm_id == w.model_id for w in shown)
        assert {i for kind, i in sent if kind == "comm_open"} == ids
        assert not [m for m in sent if m[0] == "comm_close"], "a comm_close reached the page"
        assert not any(w.model_id in _instances for w in others)  # their state is not sent to the page
        # the kernel's comm registry (inherited from the fork server) lists the shown widgets'
        # comms and none of the dropped ones: a page may ask each comm listed for its state
        registry = comm.get_comm_manager().comms
        assert not [w.model_id for w in others if w.model_id in registry]
        assert all(registry.get(w.model_id) is w.comm for w in shown)

        fresh = LinkageLab()
        fresh.recompute()
        for name in ("numbers", "share", "export"):
            assert getattr(lab, name).value == getattr(fresh, name).value
        assert lab.chart.spec == fresh.chart.spec
        before = lab.numbers.value
        lab.controls["key_terms"].value = 0.9  # still wired: the numbers follow the control
        assert lab.numbers.value != before
        assert common.run(LinkageLab) is not lab  # only the first lab of a kernel is prebuilt
    finally:
        common._PREBUILT.clear()
        for w in list(_instances.values()):
            w.close()


def test_lab_server_and_labs_agree_on_the_chart_bundle(monkeypatch):
    """scripts/voila_labs.py serves the directory smi_labs.common writes to, at the route the
    charts import from (two spellings: voila_labs does not import the heavy labs package)."""
    import importlib

    monkeypatch.syspath_prepend(str(common.Path(__file__).resolve().parents[1] / "scripts"))
    voila_labs = importlib.import_module("voila_labs")
    assert (voila_labs.CHARTS_ENV, voila_labs.CHARTS_ROUTE) == (common.CHARTS_ENV, common.CHARTS_ROUTE)
