"""Move a control on one explorable per chapter: the chart redraws, and the numbers it shows
are the Python model's for the new scenario, robustness band included."""
from __future__ import annotations

import json
import time

import pandas as pd
import pytest

from smi_charts import book, charts

from .conftest import all_charts_live, live_chart

EXPLORABLES = [("book/malshe2011.html", "m11-language"), ("book/hughes2012.html", "h12-capabilities"),
               ("book/integration.html", "int-chain")]
DRAWS = charts.band_draws()
BAND = "g.band_whiskers_marks"  # the whiskers' SVG group (the layer's name is its class)


def _live(page, key):
    fig = page.locator(f"#smi-{key}")
    live_chart(fig)
    live = json.loads(page.locator(f"#smi-{key}-live").text_content())
    spec = page.evaluate("id => window.smiLoadSpec(id)", f"smi-{key}")  # as smi.js reads it
    return fig, live, spec


def _table(fig, column: int = 2) -> list[float]:
    return [float(x) for x in fig.locator(f"tbody tr td:nth-child({column})").all_text_contents()]


def _band_svg(fig) -> str:
    return fig.locator(f".smi-vis svg {BAND}").first.inner_html()


@pytest.mark.parametrize("page_path,key", EXPLORABLES)
def test_slider_updates_chart_and_numbers_match_model(page_path, key, site_url, watched):
    page = watched.page
    page.goto(f"{site_url}/{page_path}")
    fig, live, spec = _live(page, key)
    slider_names = [p["name"] for p in spec["params"] if "bind" in p]
    name = slider_names[0]
    svg_before = fig.locator(".smi-vis svg").first.inner_html()
    table_before = _table(fig)
    new = 0.05 if live["values"][name] > 0.5 else 0.95
    slider = fig.locator("input[type=range]").first
    slider.fill(str(new))
    page.wait_for_function(
        "([id, before]) => document.querySelector('#' + id + ' .smi-vis svg').innerHTML !== before",
        arg=[f"smi-{key}", svg_before], timeout=5_000)
    page.wait_for_timeout(100)
    expected = charts.explorable_values(live["kind"], {**live["values"], name: new})[live["outputs"]]
    shown = _table(fig)
    assert shown != table_before
    assert shown == pytest.approx(expected.round(3).tolist(), abs=0.0011)
    assert not watched.errors, watched.errors


@pytest.mark.parametrize("page_path,key,name,new", [
    ("book/integration.html", "int-chain", "vertical_communication", 0.05),
    ("book/malshe2011.html", "m11-language", None, 0.95),
    ("book/hughes2012.html", "h12-capabilities", "smi_connection", 0.1),
])
def test_slider_moves_the_band_and_the_table_shows_it(page_path, key, name, new, site_url, watched):
    """The band is computed in the page from the shipped weight draws: moving a slider moves the
    whiskers, and the table's band columns equal smi.robustness for the new scenario."""
    page = watched.page
    page.goto(f"{site_url}/{page_path}")
    fig, live, spec = _live(page, key)
    assert live["band"]["draws"] == len(DRAWS) >= 200
    heads = fig.locator("thead th").all_text_contents()
    assert heads[2:4] == [f"5th percentile over {len(DRAWS)} weight draws", f"95th percentile over {len(DRAWS)} weight draws"]
    assert "does not depend on the assumed weights" in fig.locator("figcaption").text_content()
    assert f"over {len(DRAWS)} weight draws" in fig.locator("img.smi-fallback").get_attribute("alt")

    def table_band():
        return {c: _table(fig, j + 2) for j, c in enumerate(live["band"]["columns"])}

    start = charts.explorable_band(live["kind"], live["values"], DRAWS).loc[live["outputs"]]
    before = table_band()
    for c, vals in before.items():  # the table the page shows at first is the model's
        assert vals == pytest.approx(start[c].round(3).tolist(), abs=0.0011)
    sliders = [p["name"] for p in spec["params"] if "bind" in p]
    name = name or sliders[0]
    band_before = _band_svg(fig)
    fig.locator("input[type=range]").nth(sliders.index(name)).fill(str(new))
    page.wait_for_function(
        "([id, sel, before]) => document.querySelector('#' + id + ' .smi-vis svg ' + sel).innerHTML !== before",
        arg=[f"smi-{key}", BAND, band_before], timeout=5_000)
    page.wait_for_timeout(100)
    expected = charts.explorable_band(live["kind"], {**live["values"], name: new}, DRAWS).loc[live["outputs"]]
    after = table_band()
    assert after["low"] != before["low"] or after["high"] != before["high"]
    for c, vals in after.items():
        assert vals == pytest.approx(expected[c].round(3).tolist(), abs=0.0011), c
    assert not watched.errors, watched.errors


def test_dysfunction_explorer_menu_redraws_lines_and_bands(site_url, watched):
    page = watched.page
    page.goto(f"{site_url}/book/malshe2017.html")
    fig = page.locator("#smi-m17-dynamics")
    live_chart(fig)
    areas = fig.locator(".smi-vis svg g.mark-area path")
    assert areas.count() == 4  # one band per series
    before = fig.locator(".smi-vis svg").first.inner_html()
    band_before = [areas.nth(i).get_attribute("d") for i in range(4)]
    menu = fig.locator("select[name=intervention]")
    options = menu.locator("option").all_text_contents()
    assert "Customized individual approach" in options and "Broad function-level measures" in options
    menu.select_option("customized")
    page.wait_for_function(
        "(before) => document.querySelector('#smi-m17-dynamics .smi-vis svg').innerHTML !== before",
        arg=before, timeout=5_000)
    page.wait_for_timeout(100)
    assert [areas.nth(i).get_attribute("d") for i in range(4)] != band_before
    assert "5th to 95th percentile" in fig.locator("figcaption").text_content()
    assert not watched.errors, watched.errors


# --------------------------------------------------------------------------- the chapters' instructions
# One test per thing a chapter asks the reader to do with an explorer: the test does it in the
# built page and checks that the numbers the page shows are the model's and say what the text says.


TOL = 0.0011


def _open(page, url, key):
    page.goto(url)
    fig = page.locator(f"#smi-{key}")
    live_chart(fig, timeout=20_000)
    page.wait_for_function("(id) => window.smiViews && window.smiViews[id]", arg=f"smi-{key}", timeout=20_000)
    live = json.loads(page.locator(f"#smi-{key}-live").text_content())
    return fig, live


def _numbers(fig) -> dict[str, list[float]]:
    """The numbers table as the reader sees it: row key (data-output) -> its numbers."""
    out = {}
    for tr in fig.locator("tbody tr[data-output]").all():
        cells = tr.locator("td").all_text_contents()
        key = tr.get_attribute("data-output")
        out[key] = [float(c) for c in cells[key.count("|") + 1:]]
    return out


def _wait_numbers(fig, expected: dict[str, float], col: int = 0, timeout: float = 8.0) -> dict[str, float]:
    """Wait until the table shows ``expected`` (key -> value in column ``col``); return what it shows."""
    end = time.monotonic() + timeout
    while True:
        shown = {k: v[col] for k, v in _numbers(fig).items() if k in expected}
        if all(abs(shown[k] - v) <= TOL for k, v in expected.items()) or time.monotonic() > end:
            break
        time.sleep(0.1)
    assert shown == pytest.approx(expected, abs=TOL)
    return shown


def _model(live, values, outputs=None) -> dict[str, float]:
    """What the model says the explorer shows for ``values`` (label -> value, rounded as shown)."""
    v = charts.explorable_values(live["kind"], values)
    return {live["labels"][o]: round(float(v[o]), 3) for o in (outputs or live["outputs"])}


class Explorer:
    """Drive one bar explorer as a reader does and check each step against the model."""

    def __init__(self, page, url, key):
        self.page = page
        self.fig, self.live = _open(page, url, key)
        self.values = dict(self.live["values"])

    def set(self, **moves) -> dict[str, float]:
        for name, v in moves.items():
            self.fig.locator(f"input[type=range][name='{name}']").fill(str(v))
            self.values[name] = v
        return _wait_numbers(self.fig, _model(self.live, self.values))

    def load(self, preset: str) -> dict[str, float]:
        self.fig.locator(".smi-presets select").select_option(preset)
        self.fig.locator(".smi-presets .smi-load").click()
        self.values = book.preset_values(self.live["kind"], None if preset == "defaults" else preset)
        shown = _wait_numbers(self.fig, _model(self.live, self.values))
        for name, v in self.values.items():  # every slider shows the preset's value, to its step
            slider = self.fig.locator(f"input[type=range][name='{name}']")
            if slider.count():
                assert float(slider.input_value()) == pytest.approx(v, abs=0.005), name
        assert "Loaded:" in self.fig.locator(".smi-preset-status").text_content()
        return shown

    def label(self, output: str) -> str:
        return self.live["labels"][output]


def test_m11_raise_vertical_communication_lifts_language(site_url, watched):
    """'First raise vertical communication and watch how much of the top-level agreement now
    reaches the language bar' (claim preset-diluted-key-terms)."""
    e = Explorer(watched.page, f"{site_url}/book/malshe2011.html", "m11-language")
    lang = e.label("language")
    before = _numbers(e.fig)[lang][0]
    after = e.set(vertical_communication=0.9)[lang]
    assert after > before + 0.05
    assert not watched.errors, watched.errors


def test_m11_flat_firm_loses_less_language(site_url, watched):
    """'Set hierarchy depth near zero and drag vertical communication from high to low, then repeat
    with hierarchy depth near one and compare how far the language bar falls' (predict-then-reveal,
    claim m11-flat-firm-vertical-communication)."""
    e = Explorer(watched.page, f"{site_url}/book/malshe2011.html", "m11-language")
    lang = e.label("language")
    drops = {}
    for depth in (0.05, 0.95):
        high = e.set(hierarchy_depth=depth, vertical_communication=0.9)[lang]
        low = e.set(vertical_communication=0.1)[lang]
        drops[depth] = high - low
    assert 0 <= drops[0.05] < drops[0.95] / 2  # much less in the flat firm
    assert not watched.errors, watched.errors


def test_m11_closing_channels_costs_more_with_a_long_horizon(site_url, watched):
    """'Close the two-way channels once with the strategy horizon at its maximum and once near its
    minimum' (claim preset-hospital-accounts)."""
    e = Explorer(watched.page, f"{site_url}/book/malshe2011.html", "m11-language")
    lang = e.label("language")
    drops = {}
    for horizon in (1.0, 0.1):
        opened = e.set(strategy_horizon=horizon, two_way_channels=0.9)[lang]
        closed = e.set(two_way_channels=0.1)[lang]
        drops[horizon] = opened - closed
    assert drops[1.0] > drops[0.1] >= 0
    assert not watched.errors, watched.errors


def test_m11_preset_menu_loads_a_case(site_url, watched):
    """The language explorer's case menu: load the contrasting case, then the chapter's own again
    (claim preset-diluted-key-terms: the diluted firm's language is the weaker)."""
    e = Explorer(watched.page, f"{site_url}/book/malshe2011.html", "m11-language")
    lang = e.label("language")
    e.set(key_terms=0.2)
    guarded = e.load("guarded_value_proposition")[lang]
    diluted = e.load("diluted_key_terms")[lang]
    assert diluted < guarded
    assert not watched.errors, watched.errors


def test_m11_raise_ownership_lifts_structure(site_url, watched):
    """'Raise ownership and watch the structure bar rise' (claim preset-plan-without-blessing)."""
    e = Explorer(watched.page, f"{site_url}/book/malshe2011.html", "m11-structure")
    s = e.label("structure")
    before = _numbers(e.fig)[s][0]
    assert e.set(ownership=0.9)[s] > before
    assert not watched.errors, watched.errors


def test_m11_flexibility_matters_where_the_process_needs_adapting(site_url, watched):
    """'Move flexibility from low to high, once with the need to adapt the common process set high
    and once set low' (claim m11-flexibility-needs-context)."""
    e = Explorer(watched.page, f"{site_url}/book/malshe2011.html", "m11-structure")
    s = e.label("structure")
    gains = {}
    for need in (0.9, 0.1):
        low = e.set(regional_heterogeneity=need, flexibility=0.1)[s]
        gains[need] = e.set(flexibility=0.9)[s] - low
    assert gains[0.9] > gains[0.1] >= 0
    assert not watched.errors, watched.errors


CAPS = ["market_sensing", "npd", "supply_chain", "crm", "planning"]


def test_h12_all_levers_then_no_connection(site_url, watched):
    """'Push every lever to its maximum and watch the capabilities rise, then drag the SMI connection
    down to zero and see how far the best levers get without it' (claims
    h12-all-levers-lift-every-capability, h12-broken-connection-holds-back)."""
    e = Explorer(watched.page, f"{site_url}/book/hughes2012.html", "h12-capabilities")
    start = _numbers(e.fig)
    best = e.set(**{lv: 1.0 for lv in book.smi.load().input_names("capabilities")})
    assert all(best[e.label(c)] > start[e.label(c)][0] for c in CAPS)
    broken = e.set(smi_connection=0.0)
    assert all(0 < broken[e.label(c)] < best[e.label(c)] for c in CAPS)
    assert not watched.errors, watched.errors


def test_h12_return_to_preset_and_raise_supply_chain_levers(site_url, watched):
    """'Return to the preset and raise only the levers the supply chain section stresses: supply
    chain moves most' (claim preset-program-creep)."""
    e = Explorer(watched.page, f"{site_url}/book/hughes2012.html", "h12-capabilities")
    e.set(vision=0.1, culture=0.9, smi_connection=0.8)  # wander off first
    base = e.load("program_creep")
    after = e.set(vision=1.0, decision=1.0, information=1.0, knowledge=1.0, culture=1.0)
    gains = {c: after[e.label(c)] - base[e.label(c)] for c in CAPS}
    assert max(gains, key=gains.get) == "supply_chain"
    assert not watched.errors, watched.errors


def test_h12_information_and_culture_alone(site_url, watched):
    """'Return to the preset and raise information and culture alone' (claim h12-information-culture-crm)."""
    e = Explorer(watched.page, f"{site_url}/book/hughes2012.html", "h12-capabilities")
    e.set(processes=1.0)
    base = e.load("program_creep")
    after = e.set(information=1.0, culture=1.0)
    assert after[e.label("crm")] - base[e.label("crm")] > after[e.label("planning")] - base[e.label("planning")]
    assert not watched.errors, watched.errors


def test_int_broken_language_with_strong_levers(site_url, watched):
    """'Set agreement on key terms to zero, then push vision, information and culture to the top.
    Watch the SMI connection, SMI functioning and market sensing' (claims int-levers-leave-connection,
    int-broken-language-holds-back)."""
    e = Explorer(watched.page, f"{site_url}/book/integration.html", "int-chain")
    conn, func, ms = e.label("smi_connection"), e.label("smi_functioning"), e.label("market_sensing")
    broken = e.set(key_terms=0.0)
    strong = e.set(vision=1.0, information=1.0, culture=1.0)
    assert strong[conn] == broken[conn] and strong[func] > broken[func] and strong[ms] > broken[ms]
    repaired = e.set(key_terms=book.preset_values("chain", "territorial_crm")["key_terms"])
    assert strong[ms] < repaired[ms]
    assert not watched.errors, watched.errors


def test_int_diluted_meanings_cost_every_capability(site_url, watched):
    """'Restore agreement on key terms and then lower vertical communication ... watch every
    capability' (claim int-diluted-meanings-cost-every-capability)."""
    e = Explorer(watched.page, f"{site_url}/book/integration.html", "int-chain")
    e.set(key_terms=0.0)
    restored = e.set(key_terms=book.preset_values("chain", "territorial_crm")["key_terms"])
    diluted = e.set(vertical_communication=0.05)
    assert all(diluted[e.label(c)] < restored[e.label(c)] for c in CAPS)
    assert not watched.errors, watched.errors


def test_int_people_side_lifts_the_chain(site_url, watched):
    """'Raise rapport and the partner view and watch the social and philosophical linkages, the
    connection and then all five capabilities' (claim int-people-side-lifts-chain)."""
    e = Explorer(watched.page, f"{site_url}/book/integration.html", "int-chain")
    before = {k: v[0] for k, v in _numbers(e.fig).items()}
    after = e.set(rapport=0.9, partner_view=0.9)
    for o in ["social", "philosophical", "smi_connection", *CAPS]:
        assert after[e.label(o)] > before[e.label(o)], o
    assert not watched.errors, watched.errors


def test_int_information_alone_then_culture_alone(site_url, watched):
    """'Raise information alone, then culture alone, and compare how much each capability responds.'"""
    e = Explorer(watched.page, f"{site_url}/book/integration.html", "int-chain")
    base = {k: v[0] for k, v in _numbers(e.fig).items()}
    info = e.set(information=1.0)
    e.set(information=base_value(e, "information"))
    culture = e.set(culture=1.0)
    assert any(info[e.label(c)] != culture[e.label(c)] for c in CAPS)  # the capabilities respond differently
    assert all(info[e.label(c)] > base[e.label(c)] and culture[e.label(c)] > base[e.label(c)] for c in CAPS)
    assert not watched.errors, watched.errors


def base_value(e: Explorer, name: str) -> float:
    return float(e.live["values"][name])


# --------------------------------------------------------------------------- dysfunction explorers

GRID = None
QUARTERS = [0, 4, 8, 12, 20, 30, 40]


def _grid(cases=True):
    global GRID
    if GRID is None:
        GRID = {c: charts.dysfunction_grid(cases=c) for c in (True, False)}
    return GRID[cases]


class Dynamics:
    def __init__(self, page, url, key, cases=True):
        self.page, self.key = page, key
        self.fig, self.live = _open(page, url, key)
        self.grid = _grid(cases)
        self.state = {"start_point": "communication_paucity@0.5", "curve": "linear", "intervention": "none",
                      "from_quarter": 4}

    def row(self):
        g, s = self.grid, self.state
        by_q = g[(g.intervention == s["intervention"])].by_quarter.iloc[0]
        return g[(g.point == s["start_point"]) & (g.curve == s["curve"]) & (g.intervention == s["intervention"])
                 & (g.from_quarter == (s["from_quarter"] if by_q else 0))].iloc[0]

    def expected(self) -> dict[str, float]:
        r = self.row()
        return {f"{q}|{label}": float(r[s][q]) for q in QUARTERS for s, label in charts.SERIES.items()}

    def check(self) -> dict[str, list[float]]:
        """The table shows the selected run (value and band) as the model computed it."""
        r = self.row()
        _wait_numbers(self.fig, self.expected())
        shown = _numbers(self.fig)
        for q in QUARTERS:
            for s, label in charts.SERIES.items():
                assert shown[f"{q}|{label}"] == pytest.approx([r[s][q], r[f"{s}_low"][q], r[f"{s}_high"][q]], abs=TOL)
        return shown

    def choose(self, **menus) -> dict[str, list[float]]:
        for name, v in menus.items():
            self.fig.locator(f"select[name='{name}']").select_option(str(v))
            self.state[name] = v
        return self.check()

    def load(self, preset: str) -> dict[str, list[float]]:
        self.fig.locator(".smi-presets select").select_option(preset)
        self.fig.locator(".smi-presets .smi-load").click()
        self.state.update(self.live["presets"][preset]["values"])
        shown = self.check()
        for name, v in self.live["presets"][preset]["values"].items():  # the menus show the preset
            assert self.fig.locator(f"select[name='{name}']").input_value() == str(v), name
        return shown


def dysfunction_total(shown, q=None) -> float:
    """Dysfunction the table shows: at quarter ``q``, or summed over its quarters."""
    dys = [charts.SERIES[d] for d in ("communication_paucity", "lack_of_collaboration", "overt_conflict")]
    qs = [q] if q is not None else QUARTERS
    return sum(shown[f"{x}|{label}"][0] for x in qs for label in dys)


@pytest.mark.parametrize("page_path,key,cases", [("book/malshe2017.html", "m17-dynamics", True),
                                                 ("book/integration.html", "int-dynamics", False)])
def test_dyn_one_start_spreads_then_another(page_path, key, cases, site_url, watched):
    """'Start from a single dysfunction with no intervention and watch the other two appear after
    it; then start from a different one' (claim dys-any-start-spreads)."""
    d = Dynamics(watched.page, f"{site_url}/{page_path}", key, cases)
    for point in ("communication_paucity@0.5", "overt_conflict@0.5", "lack_of_collaboration@0.5"):
        shown = d.choose(start_point=point)
        start = point.split("@")[0]
        others = [s for s in ("communication_paucity", "lack_of_collaboration", "overt_conflict") if s != start]
        for s in others:
            assert shown[f"0|{charts.SERIES[s]}"][0] == 0 and shown[f"8|{charts.SERIES[s]}"][0] > 0
    assert not watched.errors, watched.errors


def test_dyn_mild_and_severe_start(site_url, watched):
    """'Compare a mild and a severe start of communication paucity' (claim dys-start-severity-matters)."""
    d = Dynamics(watched.page, f"{site_url}/book/malshe2017.html", "m17-dynamics")
    mild = d.choose(start_point="communication_paucity@0.2")
    severe = d.choose(start_point="communication_paucity@0.7")
    assert mild["0|Communication paucity"][0] == 0.2 and severe["0|Communication paucity"][0] == 0.7
    assert dysfunction_total(severe, 40) > dysfunction_total(mild, 40)
    assert not watched.errors, watched.errors


@pytest.mark.parametrize("page_path,key,cases", [("book/malshe2017.html", "m17-dynamics", True),
                                                 ("book/integration.html", "int-dynamics", False)])
def test_dyn_from_quarter_menu_early_and_late(page_path, key, cases, site_url, watched):
    """'Move one intervention's start quarter from early to late and compare how high the lines climb
    and how much SMI functioning is left' (claim dys-early-beats-late): the 'from quarter' menu."""
    d = Dynamics(watched.page, f"{site_url}/{page_path}", key, cases)
    d.choose(intervention="function_fix")
    early = d.choose(from_quarter=0)
    late = d.choose(from_quarter=16)
    assert early != late
    assert dysfunction_total(early) < dysfunction_total(late)
    assert early["40|SMI functioning"][0] >= late["40|SMI functioning"][0]
    assert not watched.errors, watched.errors


@pytest.mark.parametrize("page_path,key,cases", [("book/malshe2017.html", "m17-dynamics", True),
                                                 ("book/integration.html", "int-dynamics", False)])
def test_dyn_compare_measures(page_path, key, cases, site_url, watched):
    """'Compare broad function-level measures alone, the empathy-building measures, the customized
    individual approach and the combinations in the intervention menu' (claims dys-customized-is-a-lever,
    dys-best-measure-depends)."""
    d = Dynamics(watched.page, f"{site_url}/{page_path}", key, cases)
    none = d.choose(from_quarter=0)
    totals = {iv: dysfunction_total(d.choose(intervention=iv)) for iv in charts.INTERVENTIONS if iv != "none"}
    assert all(t < dysfunction_total(none) for t in totals.values())
    assert totals["all"] == min(totals.values())
    assert not watched.errors, watched.errors


@pytest.mark.parametrize("page_path,key,cases", [("book/malshe2017.html", "m17-dynamics", True),
                                                 ("book/integration.html", "int-dynamics", False)])
def test_dyn_flip_the_curve(page_path, key, cases, site_url, watched):
    """'Flip the incremental-effects curve and compare how much dysfunction the firm lives through'
    (claim dys-increasing-curve-least-harm)."""
    d = Dynamics(watched.page, f"{site_url}/{page_path}", key, cases)
    totals = {c: dysfunction_total(d.choose(curve=c)) for c in ("increasing", "linear", "decreasing")}
    assert totals["increasing"] < totals["linear"] < totals["decreasing"]
    assert not watched.errors, watched.errors


def test_dyn_predict_reveal_scenario_early_and_late_package(site_url, watched):
    """The predict-then-reveal: the price-hike firm's package from quarter 2, then from quarter 16
    (claim dys-early-beats-late)."""
    d = Dynamics(watched.page, f"{site_url}/book/malshe2017.html", "m17-dynamics")
    d.choose(start_point="price_hike_discounted", intervention="pkg_price_hike_prevented_from")
    early = d.choose(from_quarter=2)
    late = d.choose(from_quarter=16)
    assert early["0|Communication paucity"][0] == 0.7  # the price-hike firm's own start
    assert dysfunction_total(early) < dysfunction_total(late)
    assert not watched.errors, watched.errors


def test_dyn_load_prevented_compare_original_then_delay(site_url, watched):
    """'Load it in the explorer, compare it with the original case, then delay the same measures and
    see how much of the advantage survives' (claim preset-price-hike-prevented)."""
    d = Dynamics(watched.page, f"{site_url}/book/malshe2017.html", "m17-dynamics")
    prevented = d.load("price_hike_prevented")
    original = d.load("price_hike_discounted")
    d.load("price_hike_prevented")
    delayed = d.choose(intervention="pkg_price_hike_prevented_from", from_quarter=16)
    assert dysfunction_total(prevented) < dysfunction_total(delayed) < dysfunction_total(original)
    back = d.load("defaults")
    assert back["0|Communication paucity"][0] == 0.5
    assert not watched.errors, watched.errors


# --------------------------------------------------------------------------- theme and robustness of smi.js

CHART_PAGES = ["book/malshe2011.html", "book/hughes2012.html", "book/malshe2017.html", "book/integration.html"]

SMALL_TEXT_JS = """() => {
  const out = [];
  document.querySelectorAll('.smi-vis svg text').forEach(t => {
    const r = t.getBoundingClientRect();
    if (!t.textContent.trim() || r.width === 0 || getComputedStyle(t).visibility === 'hidden') return;
    out.push([t.textContent, parseFloat(getComputedStyle(t).fontSize)]);
  });
  return out;
}"""


@pytest.mark.parametrize("page_path", CHART_PAGES)
def test_no_chart_text_below_12px_or_cut(page_path, site_url, watched):
    page = watched.page
    page.goto(f"{site_url}/{page_path}")
    n = page.locator(".smi-figure").count()
    all_charts_live(page)
    page.wait_for_function("(n) => document.querySelectorAll('.smi-vis svg').length >= n", arg=n, timeout=30_000)
    texts = page.evaluate(SMALL_TEXT_JS)
    assert len(texts) > 20
    small = [t for t in texts if t[1] < 12]
    assert not small, small[:5]
    cut = [t for t in texts if t[0].endswith("…")]
    assert not cut, cut[:5]
    # slider readouts show the value to the slider's step, never 17 digits
    readouts = page.evaluate("() => [...document.querySelectorAll('.vega-bind input[type=range]')]"
                             ".map(i => i.nextElementSibling.textContent)")
    assert bool(readouts) == (page_path != "book/malshe2017.html")  # that chapter's explorer has menus only
    assert all(len(r.split(".")[-1]) <= 2 for r in readouts), readouts
    assert not watched.errors, watched.errors


def test_table_follows_a_label_with_an_apostrophe(site_url, watched):
    """smi.js finds a numbers-table row by its data attribute: a label holding quotes must not stop
    the table following the slider (a CSS selector built from it would throw)."""
    values = charts.default_values("diluted_key_terms")
    exp = charts.explorable("linkages", ["key_terms"], values, "Quotes", draws=DRAWS)
    labels = {**exp.labels, "language": "Sales' and marketing's \"language\""}
    band = charts.explorable_band("linkages", values, DRAWS)
    numbers = pd.DataFrame({"output": [labels[o] for o in exp.outputs],
                            **{c: [float(band.loc[o, c]) for o in exp.outputs] for c in charts.BAND_COLUMNS}})
    live = {"outputs": exp.outputs, "labels": labels, "kind": "linkages", "values": values,
            "band": {"columns": charts.BAND_COLUMNS, "draws": len(DRAWS), "percentiles": list(charts.BAND_Q)}}
    fig_html = book.figure_html("quotes", exp.chart, "Quotes", "alt", numbers, lab=None, live=live)
    page = watched.page
    page.set_content(f"""<!doctype html><html><head>
<script src="{site_url}/_static/vendor/vega-embed-bundle.js"></script>
<script src="{site_url}/_static/smi.js"></script></head><body>{fig_html}</body></html>""")
    fig = page.locator("#smi-quotes")
    fig.locator(".smi-vis svg").first.wait_for(timeout=15_000)
    fig.locator("input[type=range][name='key_terms']").fill("0.1")
    expected = charts.explorable_values("linkages", {**values, "key_terms": 0.1})
    _wait_numbers(fig, {labels[o]: round(float(expected[o]), 3) for o in exp.outputs})
    assert fig.locator("tbody tr").nth(0).get_attribute("data-output") == labels["language"]
    assert not watched.errors, watched.errors
