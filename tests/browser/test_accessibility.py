"""WCAG 2.1 AA checks with axe-core (the copy bundled by axe-playwright-python, served from
disk): every page of the built book and every Voila lab, no serious or critical violation.
A failure lists each violation by page, rule and element."""
from __future__ import annotations

from pathlib import Path

import axe_playwright_python
import pytest

from .conftest import all_charts_live, built_pages, live_chart
from .test_labs import LABS, lab_page, open_lab, voila_url  # noqa: F401 (fixtures)

AXE = Path(axe_playwright_python.__file__).parent / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def violations(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    res = page.evaluate("async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags},"
                        " resultTypes: ['violations']})", TAGS)
    return [f"{v['id']} ({v['impact']}): {n['target']} {n.get('failureSummary', '')[:160]}"
            for v in res["violations"] if v["impact"] in ("serious", "critical") for n in v["nodes"]]


def content_pages() -> list[str]:
    """Built pages minus redirect stubs (index.html only forwards to the first chapter)."""
    from .conftest import SITE
    return [p for p in built_pages() if 'http-equiv="Refresh"' not in (SITE / p).read_text(encoding="utf-8")]


@pytest.mark.parametrize("page_path", content_pages())
def test_book_page_has_no_serious_axe_violation(page_path, site_url, watched):
    page = watched.page
    page.goto(f"{site_url}/{page_path}")
    all_charts_live(page)
    for fig in page.locator(".smi-figure").all():
        fig.locator(".smi-vis svg").first.wait_for(timeout=15_000)
    found = violations(page)
    assert not found, f"{page_path}:\n" + "\n".join(found)


@pytest.mark.parametrize("lab", LABS)
def test_lab_has_no_serious_axe_violation(lab, voila_url, lab_page):  # noqa: F811
    page = open_lab(lab_page, f"{voila_url}/voila/render/{lab}.ipynb")
    found = violations(page)
    assert not found, f"{lab}:\n" + "\n".join(found)


def test_explorable_with_the_keyboard_only(site_url, watched):
    """Tab to a slider, move it with the arrow keys: the chart and its table both update."""
    page = watched.page
    page.goto(f"{site_url}/book/malshe2011.html")
    fig = page.locator("#smi-m11-language")
    live_chart(fig)
    fig.locator("summary").click()  # open the numbers (the text alternative) to read them
    before_svg = fig.locator(".smi-vis svg").first.inner_html()
    before_numbers = fig.locator("tbody").text_content()
    page.locator("#smi-m11-language").evaluate("el => el.scrollIntoView()")
    page.evaluate("document.activeElement && document.activeElement.blur()")
    # start from the figure's caption area and Tab forward into its first slider
    page.evaluate("() => { const f = document.getElementById('smi-m11-language'); f.tabIndex = -1; f.focus(); }")
    for _ in range(5):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement && document.activeElement.type === 'range'"):
            break
    assert page.evaluate("() => document.activeElement.type") == "range"
    assert page.evaluate("() => document.getElementById('smi-m11-language').contains(document.activeElement)")
    for _ in range(5):
        page.keyboard.press("ArrowLeft")
    page.wait_for_function("(b) => document.querySelector('#smi-m11-language .smi-vis svg').innerHTML !== b",
                           arg=before_svg, timeout=5_000)
    page.wait_for_timeout(100)
    assert fig.locator("tbody").text_content() != before_numbers


REGIONS = "pre, .cell_output > .output, .pst-scrollable-table-container"
REGION_JS = """el => ({scrolls: el.scrollWidth > el.clientWidth || el.scrollHeight > el.clientHeight,
                       tabIndex: el.tabIndex, where: (el.closest('section[id]') || {}).id})"""


def _near_regions_settled(page) -> None:
    """Wait until smi.js has measured every region its observer reports near the view."""
    page.wait_for_function(f"""() => window.smiRegionsNear && window.smiRegionsNear.length > 0 &&
        window.smiRegionsNear.every(el => el.tabIndex === ((({REGION_JS})(el)).scrolls ? 0 : -1))""",
                           timeout=5_000)


def _regions(page) -> list[dict]:
    """Every region, each scrolled to in turn: once smi.js has measured it, a region takes focus
    exactly when it scrolls. Before it is measured it takes focus too (checked at load)."""
    count = page.locator(REGIONS).count()
    assert count >= 7, count  # the model's seven tables at least
    out = []
    for i in range(count):
        region = page.locator(REGIONS).nth(i)
        region.evaluate("el => el.scrollIntoView({block: 'center'})")
        page.wait_for_function(f"""el => window.smiRegionsNear.includes(el) &&
            el.tabIndex === ((({REGION_JS})(el)).scrolls ? 0 : -1)""", arg=region.element_handle(), timeout=5_000)
        out.append(region.evaluate(REGION_JS))
    return out


def test_regions_that_scroll_take_the_keyboard_and_only_they(browser, site_url):
    """A wide table on a phone scrolls sideways: it must take keyboard focus (axe's
    scrollable-region-focusable; smi.js focusScrollable, in place of the theme's per-region
    layout). smi.js measures a region when it nears the view; until then it takes focus, so no
    region that scrolls is ever out of the keyboard's reach, and once measured a region that does
    not scroll leaves the tab order. Checked again at a new width."""
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = ctx.new_page()
    page.goto(f"{site_url}/book/reference/model.html", wait_until="load")
    _near_regions_settled(page)
    at_load = page.locator(REGIONS).evaluate_all(f"els => els.map({REGION_JS})")
    assert not [r for r in at_load if r["scrolls"] and r["tabIndex"] != 0], at_load
    # regions far below the first screen wait to be measured: they are focusable meanwhile
    assert [r for r in at_load if r["tabIndex"] == 0 and not r["scrolls"]], at_load
    on_phone = _regions(page)
    # on a phone most tables wrap, the presets' numbers do not: both kinds are there
    assert any(r["scrolls"] for r in on_phone) and not all(r["scrolls"] for r in on_phone), on_phone
    page.evaluate("window.scrollTo(0, 0)")
    page.set_viewport_size({"width": 2400, "height": 1000})
    page.wait_for_timeout(700)  # smi.js checks 300 ms after the last resize
    after_resize = page.locator(REGIONS).evaluate_all(f"els => els.map({REGION_JS})")
    assert not [r for r in after_resize if r["scrolls"] and r["tabIndex"] != 0], after_resize
    wide = _regions(page)
    # other tables scroll at that width, and the tab order follows
    assert [r["scrolls"] for r in wide] != [r["scrolls"] for r in on_phone], (wide, on_phone)
    ctx.close()

