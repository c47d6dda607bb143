"""Move a control on one explorable per chapter: the chart redraws, and the numbers it shows
are the Python model's for the new scenario, robustness band included."""
from __future__ import annotations

import json

import pytest

from smi_charts import charts

EXPLORABLES = [("book/malshe2011.html", "m11-language"), ("book/hughes2012.html", "h12-capabilities"),
               ("book/integration.html", "int-chain")]
DRAWS = charts.band_draws()
BAND = "g.band_whiskers_marks"  # the whiskers' SVG group (the layer's name is its class)


def _live(page, key):
    fig = page.locator(f"#smi-{key}")
    fig.locator(".smi-vis svg").first.wait_for(timeout=15_000)
    live = json.loads(page.locator(f"#smi-{key}-live").text_content())
    spec = json.loads(page.locator(f"#smi-{key}-spec").text_content())
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
    fig.locator(".smi-vis svg").first.wait_for(timeout=15_000)
    areas = fig.locator(".smi-vis svg g.mark-area path")
    assert areas.count() == 4  # one band per series
    before = fig.locator(".smi-vis svg").first.inner_html()
    band_before = [areas.nth(i).get_attribute("d") for i in range(4)]
    menu = fig.locator("select").nth(2)
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
