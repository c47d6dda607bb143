"""The static explorables compute in the browser what the Python model computes.

The Vega-Lite spec each explorable ships is evaluated by vl-convert (the same Vega engine the
browser runs) with its slider parameters set to several scenarios; the numbers it draws as
text must equal smi's, and the robustness band it computes from the shipped weight draws (bar
ends and whisker ends, read from the scenegraph) must equal ``smi.robustness``.
"""
from __future__ import annotations

import re

import altair as alt
import numpy as np
import pandas as pd
import pytest
import vl_convert as vlc

import smi
from smi.data import DYSFUNCTIONS
from smi_charts import charts

THEORY = smi.load()


def marks(spec: dict, marktype: str, name: str | None = None) -> list[list[dict]]:
    """The items of every mark of ``marktype`` (and layer ``name``) in the rendered scenegraph,
    one list per mark."""
    sg = vlc.vegalite_to_scenegraph(spec, vl_version="6.4")
    found: list[list[dict]] = []

    def walk(node):
        if isinstance(node, dict):
            if (node.get("marktype") == marktype and node.get("role") == "mark"
                    and (name is None or node.get("name") == f"{name}_marks")):
                found.append(node.get("items", []))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(sg)
    return found


def drawn_numbers(spec: dict) -> list[float]:
    """Values the chart draws as text labels (the bars' numbers), in drawing order."""
    return [float(it["text"].split()[0]) for items in marks(spec, "text") for it in items]


def with_params(spec: dict, values: dict[str, float]) -> dict:
    for p in spec.get("params", []):
        if p["name"] in values:
            p["value"] = values[p["name"]]
    return spec


CASES = [
    ("linkages", THEORY.input_names("linkages")),
    ("capabilities", [*THEORY.input_names("capabilities"), "smi_connection"]),
    ("chain", [*THEORY.input_names("linkages"), *THEORY.input_names("capabilities")]),
    ("linkages", ["key_terms", "vertical_communication", "hierarchy_depth"]),  # others fixed from a preset
]


@pytest.mark.parametrize("kind,inputs", CASES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_browser_numbers_equal_the_model(kind, inputs, seed):
    start = charts.default_values("diluted_key_terms")
    exp = charts.explorable(kind, inputs, start, "parity")
    moved = dict(start)
    scen = smi.random_scenarios(1, seed=seed).iloc[0]
    for name in inputs:
        moved[name] = float(np.random.default_rng(seed).uniform()) if name == "smi_connection" else float(scen[name])
    drawn = drawn_numbers(with_params(exp.chart.to_dict(), moved))
    expected = charts.explorable_values(kind, moved)[exp.outputs].to_numpy()
    assert len(drawn) == len(exp.outputs)
    np.testing.assert_allclose(drawn, expected.round(3), atol=0.0011)


def test_moving_a_slider_changes_the_drawn_numbers():
    start = charts.default_values("diluted_key_terms")
    exp = charts.explorable("linkages", ["vertical_communication"], start, "t")
    before = drawn_numbers(exp.chart.to_dict())
    after = drawn_numbers(with_params(exp.chart.to_dict(), {"vertical_communication": 0.95}))
    assert after[0] > before[0]  # language rises with vertical communication in a deep firm (P1a)
    assert after[1:5] == before[1:5]  # other linkages do not use it


# --------------------------------------------------------------------------- robustness bands

DRAWS = charts.band_draws()


def drawn_band(spec: dict, outputs: list[str], labels: dict[str, str]) -> pd.DataFrame:
    """What the band chart draws, per output: bar end (value) and whisker ends (low, high), read
    back from pixels (x = value * WIDTH exactly), plus the draws' min and max from the tooltips."""
    by_label = {labels[o]: o for o in outputs}

    def output(item):
        return by_label[item["description"].split("Output: ")[1].split(";")[0]]

    def stat(item, title):
        return float(item["description"].split(f"{title}: ")[1].split(";")[0])

    bars, = marks(spec, "rect", "value_bars")
    rules, = marks(spec, "rule", "band_whiskers")
    rows = {output(b): {"value": b["width"] / charts.WIDTH, "min": stat(b, "Lowest draw"),
                        "max": stat(b, "Highest draw")} for b in bars}
    for r in rules:
        lo, hi = sorted((r["x"], r["x2"]))
        rows[output(r)].update(low=lo / charts.WIDTH, high=hi / charts.WIDTH)
    return pd.DataFrame.from_dict(rows, orient="index").loc[outputs, charts.BAND_COLUMNS]


BAND_CASES = [
    ("linkages", THEORY.input_names("linkages"), "diluted_key_terms", {}),
    ("linkages", ["key_terms", "vertical_communication", "hierarchy_depth"], None,
     {"hierarchy_depth": 0.95, "vertical_communication": 0.2}),
    ("capabilities", [*THEORY.input_names("capabilities"), "smi_connection"], "territorial_crm", {}),
    ("capabilities", [*THEORY.input_names("capabilities"), "smi_connection"], None,
     {"smi_connection": 0.2, "information": 0.9, "culture": 0.05}),
    ("chain", ["key_terms", "vertical_communication", "rapport", "partner_view", "vision", "information", "culture"],
     "territorial_crm", {}),
    ("chain", ["key_terms", "vertical_communication", "rapport", "partner_view", "vision", "information", "culture"],
     "territorial_crm", {"key_terms": 0.0, "vision": 1.0, "information": 1.0, "culture": 1.0}),
    ("chain", [*THEORY.input_names("linkages"), *THEORY.input_names("capabilities")], "program_creep", "random"),
]


@pytest.mark.parametrize("kind,inputs,preset,moves", BAND_CASES)
def test_browser_band_equals_smi_robustness(kind, inputs, preset, moves):
    start = charts.default_values(preset)
    exp = charts.explorable(kind, inputs, start, "band", draws=DRAWS)
    moved = dict(start)
    if moves == "random":
        scen = smi.random_scenarios(1, seed=7).iloc[0]
        moves = {name: float(scen[name]) for name in inputs}
    moved.update(moves)
    drawn = drawn_band(with_params(exp.chart.to_dict(), moved), exp.outputs, exp.labels)
    expected = charts.explorable_band(kind, moved, DRAWS)
    # bar and whisker ends are exact pixels: the browser's quantiles are numpy's linear ones
    np.testing.assert_allclose(drawn[["value", "low", "high"]], expected[["value", "low", "high"]], rtol=0, atol=1e-9)
    np.testing.assert_allclose(drawn[["min", "max"]], expected[["min", "max"]].round(3), rtol=0, atol=1e-9)
    assert (expected.high - expected.low).max() > 0.01  # a band, not a line


@pytest.mark.parametrize("kind,preset", [("linkages", "diluted_key_terms"), ("chain", "territorial_crm")])
def test_band_on_shipped_draws_is_smi_robustness_on_its_own_draws(kind, preset):
    """The site ships the draws rounded to 6 decimals; no shown digit moves against the exact draws."""
    values = charts.default_values(preset)
    shipped = charts.explorable_band(kind, values, DRAWS)
    exact = smi.robustness(pd.DataFrame([values]), charts.KIND_OUTPUTS[kind]).set_index("output")
    np.testing.assert_allclose(shipped[["low", "high"]], exact.loc[shipped.index, ["low", "high"]], atol=5e-5)
    assert len(DRAWS) >= 200 and DRAWS.equals(charts.band_draws())  # fixed seed


def test_band_follows_the_slider():
    """In a deep hierarchy, how much diluted meanings cost is an assumption: the language band
    widens as vertical communication falls, and the whisker moves with the slider."""
    start = {**charts.default_values(None), "horizontal_bridges": 1.0, "two_way_channels": 1.0, "hierarchy_depth": 1.0}
    exp = charts.explorable("linkages", ["vertical_communication"], start, "t", draws=DRAWS)
    at = {v: drawn_band(with_params(exp.chart.to_dict(), {"vertical_communication": v}),
                        exp.outputs, exp.labels).loc["language"] for v in (1.0, 0.1)}
    assert at[1.0].high - at[1.0].low < 1e-9  # with every proviso met every gate is 1, whatever the weights
    assert at[0.1].high - at[0.1].low > 0.02
    assert at[0.1].high < at[1.0].low


def test_draws_ship_only_the_weights_the_outputs_use():
    start = charts.default_values(None)
    link = charts.explorable("linkages", ["key_terms"], start, "t", draws=DRAWS).chart.to_dict()
    chain = charts.explorable("chain", ["key_terms", "vision"], start, "t", draws=DRAWS).chart.to_dict()
    link_fields = set(link["data"]["values"][0]) - {"draw"}
    chain_fields = set(chain["data"]["values"][0]) - {"draw"}
    assert not any(f.startswith(("w_lever_weight", "w_spillover")) for f in link_fields)
    assert link_fields < chain_fields
    assert not any("coupling" in f or "erosion" in f for f in chain_fields)  # the dynamics' weights stay out
    row = chain["data"]["values"][0]
    assert row["draw"] == list(range(len(DRAWS) + 1))
    assert row["w_spillover__strength"] == [THEORY.params["spillover.strength"], *DRAWS["spillover.strength"]]


# --------------------------------------------------------------------------- dysfunction dynamics

def _grid_row(grid, point, curve, iv, q):
    return grid[(grid.point == point) & (grid.curve == curve) & (grid.intervention == iv)
                & (grid.from_quarter == q)].iloc[0]


def _scenario(point, curve, iv, q) -> pd.DataFrame:
    start, level = point.split("@")
    on = {m: 1.0 for m in charts.INTERVENTIONS[iv]}
    return smi.scenario(**{f"start_{start}": float(level), "incremental_effects": curve, **on,
                           **{f"{m}_start": q for m in charts.MEASURES}})


RUNS = [("lack_of_collaboration@0.5", "increasing", "all", 8), ("overt_conflict@0.5", "decreasing", "customized", 0),
        ("communication_paucity@0.5", "linear", "none", 0), ("communication_paucity@0.5", "linear", "joint_calls_rotation", 16),
        ("communication_paucity@0.2", "linear", "none", 0), ("communication_paucity@0.7", "increasing", "function_fix", 2)]


def _check_row(row, scen):
    sim = smi.simulate(scen, quarters=40)
    a = smi.simulate_draws(scen, 40, smi.weight_draws())
    for s in charts.SERIES:
        np.testing.assert_allclose(row[s], sim[s].to_numpy().round(3))
        lo, hi = np.percentile(a[s][:, 0, :], [5, 95], axis=-1)
        np.testing.assert_allclose(row[f"{s}_low"], lo, atol=5e-4 + 1e-12)
        np.testing.assert_allclose(row[f"{s}_high"], hi, atol=5e-4 + 1e-12)


@pytest.mark.parametrize("run", RUNS)
def test_dysfunction_grid_is_the_model(run):
    grid = charts.dysfunction_grid()
    _check_row(_grid_row(grid, *run), _scenario(*run))
    assert grid.attrs["draws"] >= 200


@pytest.mark.parametrize("preset", ["price_hike_discounted", "no_point_involving_sales", "price_hike_prevented"])
def test_loading_a_case_preset_shows_that_preset(preset):
    """The menu settings a case preset loads select a run that is the preset's own scenario."""
    controls = charts.dynamics_preset_controls()[preset]
    grid = charts.dysfunction_grid()
    row = _grid_row(grid, controls["start_point"], controls["curve"], controls["intervention"], 0)
    _check_row(row, smi.preset(preset))


@pytest.mark.parametrize("q", [2, 16])
def test_predict_reveal_package_is_in_the_explorer(q):
    """The dysfunction chapter's predict-then-reveal: the price-hike firm with the prevented case's
    package, every measure from quarter 2 or 16 (claims.yaml scenarios package_early/late)."""
    grid = charts.dysfunction_grid()
    row = _grid_row(grid, "price_hike_discounted", "linear", "pkg_price_hike_prevented_from", q)
    scen = smi.preset("price_hike_discounted").assign(function_fix=0.5, openness=0.8, joint_calls=0.6,
                                                      function_fix_start=q, openness_start=q, joint_calls_start=q)
    _check_row(row, scen)


def test_intervention_menu_follows_the_paper():
    labels = charts.intervention_labels()
    kinds = dict(zip(THEORY.interventions.intervention, THEORY.interventions.level))
    assert set(charts.MEASURES) == set(kinds)  # every measure of data/interventions.csv is on the menu
    singles = {ms[0] for ms in charts.INTERVENTIONS.values() if len(ms) == 1}
    assert {"function_fix", "openness", "customized"} <= singles
    assert labels["customized"] == "Customized individual approach"
    assert "timed as in the preset (quarters 1–2)" in labels["pkg_price_hike_prevented"]
    grid = charts.dysfunction_grid()
    assert set(grid.intervention) == set(labels)
    points = charts.starting_points()
    per_point = 2 + (len(charts.INTERVENTIONS) - 1 + 1) * len(charts.START_QUARTERS)
    assert len(grid) == len(points) * len(charts.CURVES) * per_point
    small = charts.dysfunction_grid(cases=False)  # the integration chapter: middling starts only
    assert set(small.point) == {f"{d}@0.5" for d in DYSFUNCTIONS}
    assert len(small) == len(DYSFUNCTIONS) * len(charts.CURVES) * (1 + (len(charts.INTERVENTIONS) - 1) * len(charts.START_QUARTERS))


@pytest.mark.parametrize("run", [("overt_conflict@0.5", "linear", "none", 0),
                                 ("lack_of_collaboration@0.5", "decreasing", "customized", 8),
                                 ("communication_paucity@0.7", "linear", "none", 0),
                                 ("price_hike_discounted", "linear", "pkg_price_hike_prevented_from", 16)])
def test_dysfunction_chart_draws_the_selected_run_and_its_band(run):
    point, curve, iv, q = run
    grid = charts.dysfunction_grid()
    spec = charts.dysfunction_chart(grid, "t").to_dict()
    spec = with_params(spec, {"start_point": point, "curve": curve, "intervention": iv, "from_quarter": q})
    lines, areas = marks(spec, "line"), marks(spec, "area")
    # one line and one band per series, each with all 41 quarters
    assert len(lines) == 4 and len(areas) == 4 and all(len(items) == 41 for items in lines + areas)
    row = _grid_row(grid, *run)
    height = spec["height"]

    def series(items):
        return next(s for s, label in charts.SERIES.items() if f"Series: {label};" in items[0]["description"])

    for items in lines:
        np.testing.assert_allclose([1 - it["y"] / height for it in items], row[series(items)], atol=1e-9)
    for items in areas:
        s = series(items)
        np.testing.assert_allclose([1 - it["y"] / height for it in items], row[f"{s}_low"], atol=1e-9)
        np.testing.assert_allclose([1 - it["y2"] / height for it in items], row[f"{s}_high"], atol=1e-9)
    if "@" in point:
        start, level = point.split("@")
        assert row[start][0] == float(level)


# --------------------------------------------------------------------------- case-preset menus

@pytest.mark.parametrize("kind,preset", [("linkages", "guarded_value_proposition"), ("capabilities", "packaging_flop"),
                                         ("chain", "hospital_accounts_feedback_loops")])
def test_preset_values_set_every_parameter_and_draw_the_preset(kind, preset):
    """An explorer opened on one preset, with the parameters another preset's menu entry sets,
    draws the other preset's numbers: every input the outputs read is a parameter."""
    from smi_charts import book
    exp = charts.explorable(kind, charts.kind_inputs(kind)[:3], charts.default_values("diluted_key_terms"), "t")
    values = book.preset_values(kind, preset)
    assert set(values) == {p["name"] for p in exp.chart.to_dict()["params"]}
    drawn = drawn_numbers(with_params(exp.chart.to_dict(), values))
    expected = charts.explorable_values(kind, charts.default_values(preset))[exp.outputs].to_numpy()
    np.testing.assert_allclose(drawn, expected.round(3), atol=0.0011)


# --------------------------------------------------------------------------- theme

def _builder_charts() -> dict[str, alt.TopLevelMixin]:
    from smi_charts import bands
    start = charts.default_values("program_creep")
    scen = smi.preset("program_creep")
    expl = smi.explain(scen, ["market_sensing"])
    sens = smi.sensitivity(scen, "market_sensing")
    sim = smi.simulate(smi.preset("price_hike_discounted"), quarters=12)
    labels = charts.output_labels(THEORY)
    sm = THEORY.sensemaking
    rows = pd.DataFrame([{"side": r.side, "dysfunction": r.dysfunction.replace("_", " "), "stage": stage,
                          "label": f"{r.label} ({r.dysfunction.replace('_', ' ')})", "value": 0.4, "low": 0.3, "high": 0.5}
                         for r, stage in zip(sm[sm.stage != "trigger"].itertuples(),
                                             ["situational meaning", "existential meaning", "response"] * 100)])
    caps = charts.KIND_OUTPUTS["capabilities"]
    values = charts.explorable_values("capabilities", start)
    out = {f"explorable_{k}": charts.explorable(k, charts.kind_inputs(k), start, f"t {k}", draws=DRAWS).chart
           for k in ("linkages", "capabilities", "chain")}
    out["explorable_plain"] = charts.explorable("chain", ["key_terms"], start, "plain").chart
    out["dysfunction_chart"] = charts.dysfunction_chart(charts.dysfunction_grid(cases=False), "dynamics")
    out.update({f"sample_{s}": charts.sample_chart(s) for s in ("malshe2011", "hughes2012", "malshe2017")})
    out["output_bars"] = charts.output_bars(dict(values), "bars")
    out["spillover_chart"] = charts.spillover_chart(dict(values), dict(values * 0.9), "spill")
    out["attribution_chart"] = charts.attribution_chart(smi.by_proposition(expl), "why")
    out["sensitivity_chart"] = charts.sensitivity_chart(sens, "move")
    out["trajectory_chart"] = charts.trajectory_chart({"A": sim, "B": sim}, list(charts.SERIES), "traj")
    out["sensemaking_chart"] = charts.sensemaking_chart(rows, "sides")
    out["facet_with_band"] = bands.facet_with_band(charts.sensemaking_chart(rows, "sides"), alt.Y("label:N", sort=None))
    bars = charts.explorable("capabilities", charts.kind_inputs("capabilities"), start, "lab", bind=False).chart
    out["with_band"] = bands.with_band(bars, caps, labels, {o: [0.1, 0.9] for o in caps}, "lab")
    traj = {s: [sim[s].tolist()] * 3 for s in charts.SERIES}
    out["trajectory_band_chart"] = bands.trajectory_band_chart(12, list(charts.SERIES), {**labels, **charts.SERIES},
                                                               traj, "band", run_b=sim)
    return out


BUILT = None


def _built():
    global BUILT
    if BUILT is None:
        BUILT = {k: c.to_dict() for k, c in _builder_charts().items()}
    return BUILT


def _walk(node, path=""):
    if isinstance(node, dict):
        for k, v in node.items():
            yield path, k, v
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v, path)


def _width(text: str, size: float) -> float:
    """A generous estimate of rendered text width: 0.62 em per character (Helvetica averages ~0.55)."""
    return 0.62 * size * len(text)


def test_every_builder_gets_the_theme():
    from smi_charts import theme
    for name, spec in _built().items():
        cfg = spec.get("config", {})
        assert cfg.get("axis", {}).get("labelFontSize", 0) >= theme.MIN_FONT, name
        for part, keys in {"axis": ("labelFontSize", "titleFontSize"), "legend": ("labelFontSize", "titleFontSize"),
                           "title": ("fontSize", "subtitleFontSize"), "header": ("labelFontSize", "titleFontSize"),
                           "text": ("fontSize",)}.items():
            for k in keys:
                assert cfg[part][k] >= theme.MIN_FONT, (name, part, k)
        # no builder overrides a size below the minimum anywhere in its spec
        for path, k, v in _walk(spec):
            if k.lower().endswith("fontsize") and isinstance(v, (int, float)):
                assert v >= theme.MIN_FONT, (name, path, k, v)
        assert cfg["legend"]["labelLimit"] == 0 and cfg["legend"]["titleLimit"] == 0  # 0: Vega truncates nothing


def test_no_axis_label_or_legend_is_cut_at_the_theme_font():
    """Axis labels fit their limit at 12 px; rendered, no text is truncated (no ellipsis)."""
    from smi_charts import theme
    longest = max(list(charts.output_labels(THEORY).values()) + list(charts.GROUP.values())
                  + list(THEORY.inputs.label) + [f"{r.label} ({r.dysfunction.replace('_', ' ')})"
                                                 for r in THEORY.sensemaking.itertuples()], key=len)
    for name, spec in _built().items():
        assert spec["config"]["axis"]["labelLimit"] == theme.AXIS_LABEL_LIMIT == 0
        for path, k, v in _walk(spec):  # any limit a builder sets fits the longest label at the theme's size
            if k in ("labelLimit", "titleLimit", "limit") and isinstance(v, (int, float)) and v:
                assert v >= _width(longest, theme.MIN_FONT), (name, path, k, v)
        svg = vlc.vegalite_to_svg(spec, vl_version="6.4")
        assert "…" not in svg, name
        sizes = [float(x) for x in re.findall(r'font-size="([0-9.]+)', svg)]
        assert sizes and min(sizes) >= theme.MIN_FONT, (name, sorted(set(sizes)))
