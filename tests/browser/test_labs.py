"""The Voila labs, served by a real Voila server on 127.0.0.1 (the repo's voila.json), in
headless Chromium: they load, controls move the chart, numbers and robustness bands are smi's
(and move with the controls, in the chart and the Numbers tab), presets and shared links
restore state, a malformed link gets a notice, the export holds the scenario and its bands."""
from __future__ import annotations

import base64
import io
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

import smi

from .conftest import ROOT, PageWatch

LABS = ["linkage_lab", "capability_lab", "dysfunction_lab"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def voila_url(tmp_path_factory):
    """Voila as `make serve` runs it (scripts/serve.py: the repo's voila.json, the CDN-free
    smi-lab template), with one warm kernel per lab instead of a class-sized pool."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("smi_serve", ROOT / "scripts" / "serve.py")
    serve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serve)
    port = _free_port()
    pools = {"default": {"pool_size": 1}, **{f"{lab}.ipynb": {"pool_size": 1} for lab in LABS}}
    cmd, env, cwd = serve.voila_command(port, overrides={"VoilaKernelManager": {"kernel_pools_config": pools}},
                                        workdir=tmp_path_factory.mktemp("voila"))
    proc = subprocess.Popen(cmd, cwd=cwd, env={**env, "PYTHONUNBUFFERED": "1"}, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/voila/api/shutdown", timeout=1)
        except urllib.error.HTTPError:
            break  # the server answers
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"voila exited: {proc.stderr.read().decode()[-2000:]}")
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("voila did not start within 60 s")
    yield url
    import signal

    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture
def lab_page(browser):  # a page with its own context (clean localStorage)
    ctx = browser.new_context(viewport={"width": 1280, "height": 1000})
    watch = PageWatch(ctx.new_page())
    yield watch
    ctx.close()


def open_lab(watch: PageWatch, url: str):
    # Voila streams the page while the notebook runs; a kernel started cold on a busy 2-core
    # machine can take tens of seconds
    watch.page.goto(url, timeout=150_000)
    watch.page.locator(".smi-lab-ready").wait_for(timeout=150_000)
    watch.page.locator(".smi-lab-chart svg").first.wait_for(timeout=30_000)
    return watch.page


def wait_for_value(page, label: str, expected: float, tol: float = 0.0006, timeout_s: float = 30) -> float:
    """Poll the lab's numbers table: the kernel answers asynchronously, slower on a loaded machine."""
    deadline, got = time.time() + timeout_s, None
    while time.time() < deadline:
        try:
            got = table(page).get(label)
        except Exception:  # the table is being redrawn
            got = None
        if got is not None and abs(got - expected) <= tol:
            return got
        page.wait_for_timeout(250)
    return got


def table(page) -> dict[str, float]:
    """The Numbers tab: output -> value at the shipped weights."""
    return {k: v[0] for k, v in table_rows(page).items()}


def table_rows(page) -> dict[str, tuple[float, float, float]]:
    """The Numbers tab: output -> (value, band low, band high), read in one go."""
    cells = page.evaluate("""() => [...document.querySelector('.smi-lab-table').querySelectorAll('tbody tr')]
        .map(r => [...r.querySelectorAll('td')].map(td => td.textContent))""")
    return {c[0]: tuple(float(v) for v in c[1:4]) for c in cells}


def wait_for_band(page, label: str, expected: tuple[float, float], tol: float = 0.0006, timeout_s: float = 30):
    """Poll the Numbers tab until ``label``'s band is ``expected`` (low, high)."""
    deadline, got = time.time() + timeout_s, None
    while time.time() < deadline:
        try:
            got = table_rows(page).get(label, (None,) * 3)[1:]
        except Exception:  # the table is being redrawn
            got = None
        if got and None not in got and all(abs(g - e) <= tol for g, e in zip(got, expected)):
            return got
        page.wait_for_timeout(250)
    return got


WHISKERS = """() => Object.fromEntries([...document.querySelectorAll('.smi-lab-chart g[class*="band_whisker"] line')]
    .map(l => [l.getAttribute('aria-label').match(/Output: ([^;]+);/)[1],
               [l.transform.baseVal[0].matrix.e, l.transform.baseVal[0].matrix.e + Number(l.getAttribute('x2'))]]))"""


@pytest.mark.parametrize("lab", LABS)
def test_lab_loads_clean(lab, voila_url, lab_page):
    page = open_lab(lab_page, f"{voila_url}/voila/render/{lab}.ipynb")
    assert page.locator(".smi-lab h1").text_content()
    assert page.locator(".smi-notice").count() == 0
    assert not lab_page.errors, lab_page.errors
    assert not lab_page.external, lab_page.external


def test_keyboard_move_updates_chart_and_numbers_match_model(voila_url, lab_page):
    page = open_lab(lab_page, f"{voila_url}/voila/render/linkage_lab.ipynb?preset=diluted_key_terms")
    chart = page.locator(".smi-lab-chart svg").first
    before_svg = chart.inner_html()
    handle = page.locator(".widget-slider .noUi-handle").nth(1)  # vertical communication
    handle.focus()
    for _ in range(10):
        page.keyboard.press("ArrowRight")
    page.wait_for_function("(b) => document.querySelector('.smi-lab-chart svg').innerHTML !== b",
                           arg=before_svg, timeout=10_000)
    scen = smi.preset("diluted_key_terms").assign(vertical_communication=0.25)
    expected = smi.linkages(scen).iloc[0]
    assert wait_for_value(page, "Language linkage", expected.language) == pytest.approx(expected.language, abs=0.0006)
    shown = table(page)
    assert shown["SMI connection"] == pytest.approx(expected.smi_connection, abs=0.0006)
    assert f"{expected.language:.3f}" in chart.text_content()  # the chart draws the same number


def test_moving_a_control_moves_the_band_in_chart_and_numbers(voila_url, lab_page):
    """Keyboard on a slider: the whisker of the linkage it feeds moves in the chart to the band
    smi.robustness gives for the new scenario, and the Numbers tab shows the same band."""
    page = open_lab(lab_page, f"{voila_url}/voila/render/linkage_lab.ipynb?preset=diluted_key_terms")
    width = 420  # the chart's x range for the domain [0, 1]
    draws = smi.weight_draws()
    before = smi.robustness(smi.preset("diluted_key_terms"), ["language"], draws=draws).iloc[0]
    whiskers = page.evaluate(WHISKERS)
    assert whiskers["Language linkage"] == pytest.approx([before.low * width, before.high * width], abs=0.05)
    handle = page.locator(".widget-slider .noUi-handle").nth(1)  # vertical communication
    handle.focus()
    for _ in range(10):
        page.keyboard.press("ArrowRight")
    scen = smi.preset("diluted_key_terms").assign(vertical_communication=0.25)
    after = smi.robustness(scen, ["language", "smi_connection"], draws=draws).set_index("output")
    assert (after.loc["language", "low"], after.loc["language", "high"]) != pytest.approx((before.low, before.high), abs=0.001)
    page.wait_for_function(f"() => Math.abs(({WHISKERS})()['Language linkage'][1] - {after.loc['language', 'high'] * width}) < 0.05",
                           timeout=30_000)
    assert page.evaluate(WHISKERS)["Language linkage"] == pytest.approx(
        [after.loc["language", "low"] * width, after.loc["language", "high"] * width], abs=0.05)
    for out, label in (("language", "Language linkage"), ("smi_connection", "SMI connection")):
        want = (after.loc[out, "low"], after.loc[out, "high"])
        assert wait_for_band(page, label, want) == pytest.approx(want, abs=0.0006)
    assert "200 draws" in page.locator(".smi-band-note").text_content()


def test_customized_approach_moves_trajectory_band_and_numbers(voila_url, lab_page):
    """The dysfunction lab's customized individual approach (§4.2) is a control: moving it
    redraws the trajectory bands and the Numbers tab shows smi.robustness's new bands."""
    page = open_lab(lab_page, f"{voila_url}/voila/render/dysfunction_lab.ipynb?preset=price_hike_discounted")
    page.get_by_text("Interventions", exact=True).click()
    slider = page.locator(".widget-slider", has_text="Customized individual approach (strength)")
    slider.wait_for(timeout=10_000)
    areas = "() => [...document.querySelectorAll('.smi-lab-chart g[class*=\"band_area\"] path')].map(p => p.getAttribute('d')).join('|')"
    before = page.evaluate(areas)
    assert before.count("M") >= 4  # one band per series
    start = smi.preset("price_hike_discounted").customized.iloc[0]
    slider.locator(".noUi-handle").focus()
    for _ in range(30):
        page.keyboard.press("ArrowRight")
    scen = smi.preset("price_hike_discounted").assign(customized=round(start + 0.30, 2))
    want = smi.robustness(scen, ["cumulative_dysfunction"], draws=smi.weight_draws()).iloc[0]
    label = "Cumulative dysfunction (mean over quarters, 0-3)"
    assert wait_for_band(page, label, (want.low, want.high)) == pytest.approx((want.low, want.high), abs=0.0006)
    assert table(page)[label] == pytest.approx(want.value, abs=0.0006)
    page.wait_for_function(f"(b) => ({areas})() !== b", arg=before, timeout=10_000)


def test_shared_link_restores_state_and_export_holds_it(voila_url, lab_page):
    page = open_lab(lab_page, f"{voila_url}/voila/render/capability_lab.ipynb?preset=program_creep&culture=0.9")
    page.get_by_role("tab", name="Share & export").click()
    page.locator("a.smi-share").wait_for(timeout=30_000)
    page.wait_for_function("() => (document.querySelector('a.smi-share') || {}).href && "
                           "document.querySelector('a.smi-share').href.includes('culture=0.9')", timeout=30_000)
    href = page.locator("a.smi-share").get_attribute("href")
    assert "preset=program_creep" in href and "culture=0.9" in href
    data = page.locator("a.smi-export").get_attribute("href")
    csv = pd.read_csv(io.StringIO(base64.b64decode(data.split(",", 1)[1]).decode()))
    inputs = csv[csv.kind == "input"].set_index("name").value.astype(float)
    preset = smi.preset("program_creep").iloc[0]
    assert inputs["culture"] == pytest.approx(0.9) and inputs["alignment"] == pytest.approx(preset.alignment)
    assert preset.culture != pytest.approx(0.9)  # the link's value, not the preset's
    expected = smi.evaluate(smi.preset("program_creep").assign(culture=0.9)).iloc[0]
    outputs = csv[csv.kind == "output"].set_index("name")[["value", "low", "high"]].astype(float)
    assert outputs.value["Supply chain management"] == pytest.approx(expected.supply_chain, abs=1e-9)
    band = smi.robustness(smi.preset("program_creep").assign(culture=0.9), ["supply_chain"]).iloc[0]
    assert (outputs.low["Supply chain management"], outputs.high["Supply chain management"]) == pytest.approx(
        (band.low, band.high), abs=1e-9)
    # the shared link, opened fresh, restores the same numbers
    page2 = open_lab(lab_page, f"{voila_url}/voila/render/capability_lab.ipynb{href}")
    assert wait_for_value(page2, "Supply chain management", expected.supply_chain) == pytest.approx(
        expected.supply_chain, abs=0.0006)


def test_preset_dropdown_restores_a_case(voila_url, lab_page):
    page = open_lab(lab_page, f"{voila_url}/voila/render/dysfunction_lab.ipynb")
    title = smi.load().presets.set_index("key").loc["price_hike_discounted", "title"]
    page.locator(".widget-dropdown select").first.select_option(label=title)
    expected = smi.summarize(smi.preset("price_hike_discounted")).iloc[0]
    label = "Cumulative dysfunction (mean over quarters, 0-3)"
    assert wait_for_value(page, label, expected.cumulative_dysfunction) == pytest.approx(
        expected.cumulative_dysfunction, abs=0.0006)


def test_malformed_link_shows_notice_not_traceback(voila_url, lab_page):
    page = open_lab(lab_page, f"{voila_url}/voila/render/linkage_lab.ipynb?rapport=7&bogus=1&key_terms=abc&preset=nope")
    notice = page.locator(".smi-notice").text_content()
    assert "set to 1" in notice and "'bogus'" in notice and "not a number" in notice and "Unknown preset" in notice
    assert "Traceback" not in page.content()
    social = smi.linkages(smi.scenario(rapport=1.0)).social.iloc[0]
    assert wait_for_value(page, "Social linkage", social) == pytest.approx(social, abs=0.0006)


@pytest.mark.parametrize("lab", LABS)
def test_lab_fits_a_phone(lab, voila_url, browser):
    """390 x 844 (a phone in portrait): the columns stack, the page never scrolls sideways, every
    control is within the screen, and the chart is there (a wide chart scrolls inside its own box)."""
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        watch = PageWatch(ctx.new_page())
        page = open_lab(watch, f"{voila_url}/voila/render/{lab}.ipynb")
        layout = page.evaluate("""() => {
          const r = el => el.getBoundingClientRect();
          const controls = [...document.querySelectorAll('.smi-lab .widget-slider, .smi-lab .widget-dropdown')]
            .filter(el => el.checkVisibility());
          return {
            pageWidth: document.scrollingElement.scrollWidth, viewport: window.innerWidth,
            widest: Math.max(...controls.map(el => r(el).right)),
            controls: controls.length,
            chartTop: r(document.querySelector('.smi-lab-chart')).top,
            firstControlTop: Math.min(...controls.map(el => r(el).top)),
            chartWidth: r(document.querySelector('.smi-lab-chart')).width,
          };
        }""")
        assert layout["controls"] > 0
        assert layout["pageWidth"] <= layout["viewport"] + 1, layout
        assert layout["widest"] <= layout["viewport"] + 1, layout
        assert layout["chartTop"] > layout["firstControlTop"], layout  # stacked, not side by side
        assert 0 < layout["chartWidth"] <= layout["viewport"], layout
        assert not watch.errors, watch.errors
    finally:
        ctx.close()
