"""The book on a phone: every page with an explorable, the health check and the debrief at
390 x 844 (a common phone) and at 320 x 640 (the narrowest phones in use, the lower bound of
WCAG's reflow criterion) with touch, in headless Chromium, as a student uses them.

- the page never scrolls sideways (a mobile browser would zoom the whole page out instead);
- every control is on screen and at least 24 x 24 px to touch (WCAG 2.2 AA target size; a
  radio button or checkbox counts with its labels, which take the tap too);
- every live chart fits its box (smi.js wraps long labels and narrows the plot on a phone),
  the health check's profile chart and the debrief's class chart too, once drawn;
- a touch on every control of every explorable (a slider's track, a menu) changes the chart and
  its numbers.
"""
from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from smi_charts import questionnaire_io as qio
from smi_charts.specs import page_specs
from tests.browser.conftest import SITE, all_charts_live, built_pages
from tests.browser.test_healthcheck import fill, wait_profile
from tests.support import pattern

PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True, "device_scale_factor": 3}
SMALL_PHONE = {**PHONE, "viewport": {"width": 320, "height": 640}, "device_scale_factor": 2}
MIN_TARGET = 24


def _pages() -> list[str]:
    out = []
    for path in built_pages():
        text = (SITE / path).read_text(encoding="utf-8")
        if re.search(r'id="smi-[\w-]+-live"', text) or "smi-hc-form" in text or "smi-hc-debrief" in text:
            out.append(path)
    return out


PAGES = _pages()


def _phone(browser, device: dict):
    ctx = browser.new_context(**device)
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    return ctx, page, errors


@pytest.fixture
def phone(browser):
    ctx, page, errors = _phone(browser, PHONE)
    yield page, errors
    ctx.close()


@pytest.fixture(params=[PHONE, SMALL_PHONE], ids=["390px", "320px"])
def any_phone(browser, request):
    ctx, page, errors = _phone(browser, request.param)
    yield page, errors, request.param["viewport"]["width"]
    ctx.close()


def _open(page, url):
    page.goto(url)
    # every explorable drawn (its figure marked live) before anything is measured
    all_charts_live(page)
    page.wait_for_timeout(300)  # the fit-to-box re-render after the first draw


PROBLEMS_JS = """([minTarget, phoneWidth]) => {
  const W = window.innerWidth, problems = [];
  const article = document.querySelector('article') || document.body;
  if (W !== phoneWidth) problems.push(`the layout viewport is ${W} px wide: something is wider than the phone`);
  if (document.documentElement.scrollWidth > W) problems.push(`the page scrolls sideways (${document.documentElement.scrollWidth} px)`);
  for (const el of article.querySelectorAll('input, select, button, textarea')) {
    if (!el.offsetParent || el.type === 'hidden' || el.type === 'file') continue;
    el.scrollIntoView({block: 'center'});
    let r = el.getBoundingClientRect();
    if (el.type === 'radio' || el.type === 'checkbox') {  // the button and its labels: a tap on either checks it
      const boxes = [r, ...[...(el.labels || [])].map(l => l.getBoundingClientRect())];
      const left = Math.min(...boxes.map(b => b.left)), right = Math.max(...boxes.map(b => b.right));
      const top = Math.min(...boxes.map(b => b.top)), bottom = Math.max(...boxes.map(b => b.bottom));
      r = {left, right, width: right - left, height: bottom - top};
    }
    const name = `${el.tagName.toLowerCase()}[${el.name || el.id || el.textContent.trim().slice(0, 30)}]`;
    if (r.left < -0.5 || r.right > W + 0.5) problems.push(`${name} is off screen (${Math.round(r.left)}..${Math.round(r.right)} px)`);
    if (r.width < minTarget || r.height < minTarget) problems.push(`${name} is ${Math.round(r.width)} x ${Math.round(r.height)} px to touch`);
  }
  for (const vis of article.querySelectorAll('.smi-live .smi-vis, .smi-hc-vis')) {
    const svg = vis.querySelector('svg');
    if (svg && (svg.getBoundingClientRect().width > vis.clientWidth + 1 || vis.scrollWidth > vis.clientWidth + 1))
      problems.push(`${vis.id}: chart ${Math.round(svg.getBoundingClientRect().width)} px in a ${vis.clientWidth} px box`);
  }
  return problems;
}"""


@pytest.mark.parametrize("path", PAGES)
def test_fits_a_phone_and_every_control_can_be_touched(path, site_url, any_phone):
    page, errors, width = any_phone
    _open(page, f"{site_url}/{path}")
    problems = page.evaluate(PROBLEMS_JS, [MIN_TARGET, width])
    assert not problems, f"{path} at {width} px, {len(problems)} problems: " + "; ".join(problems[:12])
    assert not errors, errors


def test_the_health_check_and_debrief_charts_fit_a_phone(site_url, any_phone, tmp_path):
    """The charts these pages draw only once answered (the profile) or given files (the class
    chart): drawn at phone width, they fit their box, nothing scrolls sideways."""
    page, errors, width = any_phone
    page.goto(f"{site_url}/book/healthcheck.html")
    fill(page, pattern(1))
    wait_profile(page)
    page.locator("#smi-hc-health-chart-vis svg").first.wait_for()
    page.wait_for_timeout(300)  # the fit-to-box re-render after the first draw
    problems = page.evaluate(PROBLEMS_JS, [MIN_TARGET, width])
    assert not problems, f"health check at {width} px: " + "; ".join(problems[:12])

    files = []
    for i in (1, 2, 3):
        f = tmp_path / f"team-{i}.json"
        f.write_text(json.dumps(qio.export(pattern(i))), encoding="utf-8")
        files.append(str(f))
    page.goto(f"{site_url}/book/instructor/debrief.html")
    page.locator("#smi-hc-debrief-files").set_input_files(files)
    page.wait_for_selector("#smi-hc-debrief[data-firms='3']", timeout=20_000)
    page.locator("#smi-hc-debrief-chart-vis svg").first.wait_for()
    page.wait_for_timeout(300)
    problems = page.evaluate(PROBLEMS_JS, [MIN_TARGET, width])
    assert not problems, f"debrief at {width} px: " + "; ".join(problems[:12])
    # the class chart's panels were narrowed, not cut: every measure's label is still drawn
    labels = page.locator("#smi-hc-debrief-chart-vis svg .role-axis-label text").count()
    assert labels >= 10, f"{labels} axis labels drawn"
    assert not errors, errors


def _explorables() -> list[tuple[str, str, int]]:
    """(page, figure id, number of controls): every explorable with a slider or menu bound to its chart."""
    out = []
    for path in PAGES:
        for fig_id, spec in page_specs(SITE / path).items():
            n = sum(1 for p in spec.get("params", [])
                    if isinstance(p.get("bind"), dict) and p["bind"].get("input") in ("range", "select"))
            if n:
                out.append((path, fig_id, n))
    return out


@pytest.mark.parametrize("path,fig_id,n", _explorables())
def test_a_touch_on_every_control_moves_the_chart_and_its_numbers(path, fig_id, n, site_url, phone):
    """Every control of the explorable, one after another: a tap on a slider's track moves the
    thumb there; a tapped menu takes another choice (the phone's own picker then, which a test
    cannot drive: select_option stands in for it). Each move changes the chart and its numbers."""
    page, errors = phone
    _open(page, f"{site_url}/{path}")
    fig = page.locator(f"#{fig_id}")
    controls = fig.locator(".vega-bindings input[type=range], .vega-bindings select")
    assert controls.count() == n, f"{controls.count()} controls drawn, {n} bound in the spec"
    unmoved = []
    for i in range(n):
        el = controls.nth(i)
        name = el.evaluate("el => el.closest('.vega-bind').querySelector('.vega-bind-name').textContent")
        el.evaluate("el => el.scrollIntoView({block: 'center'})")  # clear of the sticky header
        before = (el.input_value(), fig.locator(".smi-vis svg").inner_html(), fig.locator("tbody").text_content())
        box = el.bounding_box()
        if el.evaluate("el => el.tagName") == "INPUT":
            lo, hi = float(el.get_attribute("min")), float(el.get_attribute("max"))
            frac = 0.1 if (float(before[0]) - lo) / (hi - lo) > 0.5 else 0.9  # far from the thumb
            page.touchscreen.tap(box["x"] + frac * box["width"], box["y"] + box["height"] / 2)
            page.wait_for_function("([el, v]) => el.value !== v", arg=[el.element_handle(), before[0]], timeout=5_000)
            assert abs(float(el.input_value()) - (lo + frac * (hi - lo))) <= 0.15 * (hi - lo), \
                f"{name}: the thumb did not go where tapped"
        else:
            page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            values = el.evaluate("el => [...el.options].map(o => o.value)")
            el.select_option(next(v for v in values if v != before[0]))
        # the numbers table (its text: it sits in a closed <details>)
        try:
            page.wait_for_function("([el, t]) => el.textContent !== t",
                                   arg=[fig.locator("tbody").element_handle(), before[2]], timeout=5_000)
        except PlaywrightTimeout:  # named below with the others
            unmoved.append(f"{name}: numbers unchanged")
        if fig.locator(".smi-vis svg").inner_html() == before[1]:
            unmoved.append(f"{name}: chart unchanged")
    assert not unmoved, f"{fig_id}: " + "; ".join(unmoved)
    assert not errors, errors
