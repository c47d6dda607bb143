"""Move a control on one explorable per chapter: the chart redraws, and the numbers it shows
are the Python model's for the new scenario."""
from __future__ import annotations

import json

import pytest

from smi_charts import charts

EXPLORABLES = [("book/malshe2011.html", "m11-language"), ("book/hughes2012.html", "h12-capabilities"),
               ("book/integration.html", "int-chain")]


def _live(page, key):
    fig = page.locator(f"#smi-{key}")
    fig.locator(".smi-vis svg").first.wait_for(timeout=15_000)
    live = json.loads(page.locator(f"#smi-{key}-live").text_content())
    spec = json.loads(page.locator(f"#smi-{key}-spec").text_content())
    return fig, live, spec


def _table(fig) -> list[float]:
    return [float(x) for x in fig.locator("tbody tr td:nth-child(2)").all_text_contents()]


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


def test_dysfunction_explorer_menu_redraws(site_url, watched):
    page = watched.page
    page.goto(f"{site_url}/book/malshe2017.html")
    fig = page.locator("#smi-m17-dynamics")
    fig.locator(".smi-vis svg").first.wait_for(timeout=15_000)
    before = fig.locator(".smi-vis svg").first.inner_html()
    fig.locator("select").nth(2).select_option("both")
    page.wait_for_function(
        "(before) => document.querySelector('#smi-m17-dynamics .smi-vis svg').innerHTML !== before",
        arg=before, timeout=5_000)
    assert not watched.errors, watched.errors
