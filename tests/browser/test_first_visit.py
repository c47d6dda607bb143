"""A first visit loads what the page shows, not more (issue 14). Behaviour, not speed
(benchmarks/bench_lighthouse.py measures speed):

- Vega (the vendored bundle) is not requested while no explorable is near the screen, nor ever on
  a page without explorables; scrolling to an explorable requests it once, and the chart then
  runs (a control moves it);
- an explorable already on screen goes live without moving the page (layout shift ~0), on a
  wide screen and on a phone;
- a chart with nothing to move (no parameter) stays its static image until a pointer reaches it;
- Font Awesome's script is never requested, and every icon of the theme's header and buttons is
  drawn (inline SVG, non-zero size);
- a section far below the first screen is not laid out at load (content-visibility, smi.css);
  it is drawn when scrolled to; a page opened at an anchor lands on it without a layout shift;
- nothing is requested from another host.
"""
from __future__ import annotations

import json
import re

import pytest

from smi_charts.specs import page_specs

from .conftest import SITE, PageWatch, built_pages

BUNDLE = "/_static/vendor/vega-embed-bundle.js"


def _requests(page) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url))
    return seen


def _bundle_requests(seen: list[str]) -> list[str]:
    return [u for u in seen if BUNDLE in u]


def test_vega_is_loaded_once_when_an_explorable_nears_the_screen(site_url, watched):
    page = watched.page
    page.set_viewport_size({"width": 1280, "height": 720})
    seen = _requests(page)
    page.goto(f"{site_url}/book/malshe2011.html", wait_until="load")
    page.wait_for_timeout(1500)  # the observer's first callback has run long since
    figs = page.locator('.smi-figure:not([data-live="pointer"])')  # the explorables with something to move
    assert figs.count() >= 2
    top = figs.first.evaluate("f => f.getBoundingClientRect().top + window.scrollY")
    assert top > 2 * 720 + 100, "the test needs a page whose first explorable is over two screens down"
    assert not _bundle_requests(seen), "Vega was requested with no explorable near the screen"
    assert page.evaluate("() => typeof window.vegaEmbed") == "undefined"
    # the fallback stands in: its image is shown, at its size
    assert figs.first.locator("img.smi-fallback").evaluate("i => i.getBoundingClientRect().height") > 50

    fig = figs.first
    fig.scroll_into_view_if_needed()
    fig.locator(".smi-vis svg").first.wait_for(timeout=20_000)
    page.wait_for_function("(id) => window.smiViews && window.smiViews[id]", arg=fig.get_attribute("id"),
                           timeout=20_000)
    assert "smi-live" in fig.get_attribute("class")
    requested = _bundle_requests(seen)
    assert len(requested) == 1, requested
    assert re.search(r"vega-embed-bundle\.js\?v=[0-9a-f]{8}$", requested[0]), requested[0]  # fingerprinted

    # the explorable runs: a control changes it
    control = fig.locator(".vega-bindings select, .vega-bindings input[type=range]").first
    control.scroll_into_view_if_needed()
    before = fig.locator(".smi-vis svg").first.inner_html()
    if control.evaluate("el => el.tagName") == "SELECT":
        options = control.locator("option").evaluate_all("os => os.map(o => o.value)")
        control.select_option(next(o for o in options if o != control.input_value()))
    else:
        control.fill("0.9" if float(control.input_value()) < 0.5 else "0.1")
    page.wait_for_function(
        "([id, b]) => document.querySelector('#' + id + ' .smi-vis svg').innerHTML !== b",
        arg=[fig.get_attribute("id"), before], timeout=5_000)

    # the next explorable: embedded when it nears the screen, with no second request
    last = figs.nth(figs.count() - 1)
    last.scroll_into_view_if_needed()
    last.locator(".smi-vis svg").first.wait_for(timeout=20_000)
    assert len(_bundle_requests(seen)) == 1
    assert not watched.errors, watched.errors
    assert not watched.external, watched.external


@pytest.mark.parametrize("width, height", [(1280, 720), (390, 844)], ids=["desktop", "phone"])
def test_an_explorable_in_view_replaces_its_fallback_without_moving_the_page(width, height, site_url, watched):
    """An explorable in the first screen: Vega is requested at once, and the live chart takes
    the fallback's place with no layout shift of what was on screen (CLS ~0), on a wide screen
    and on a phone (whose fallback is the narrow chart smi.js draws there): the fallback holds
    the live chart's height, placeholder controls and the disabled preset menu hold theirs."""
    page = watched.page
    page.set_viewport_size({"width": width, "height": height})
    page.add_init_script("""
      window.__shifts = 0;
      new PerformanceObserver(l => { for (const e of l.getEntries()) if (!e.hadRecentInput) window.__shifts += e.value; })
        .observe({type: 'layout-shift', buffered: true});""")
    seen = _requests(page)
    page.goto(f"{site_url}/book/malshe2011.html#smi-m11-language", wait_until="load")
    fig = page.locator("#smi-m11-language")
    fig.locator(".smi-vis svg").first.wait_for(timeout=20_000)
    page.wait_for_timeout(500)
    assert len(_bundle_requests(seen)) == 1
    shift = page.evaluate("() => window.__shifts")
    assert shift < 0.05, f"layout shift {shift:.3f}"
    assert not watched.errors, watched.errors


def test_only_charts_with_nothing_to_move_wait_for_a_pointer():
    """Across the built site: a chart waits for a pointer (data-live="pointer") exactly when its
    spec declares no parameter anywhere, so no chart with a control or a selection stays static."""
    marked = {}
    for path in built_pages():
        text = (SITE / path).read_text(encoding="utf-8")
        for fig_id, spec in page_specs(SITE / path).items():
            tag = re.search(rf'<div class="smi-figure" id="{fig_id}"[^>]*>', text).group(0)
            has_params = '"params"' in json.dumps(spec)
            marked[f"{path}#{fig_id}"] = ('data-live="pointer"' in tag, has_params)
    assert marked, "no chart found in the built site"
    wrong = {k: v for k, v in marked.items() if v[0] == v[1]}
    assert not wrong, f"marked (pointer, has params): {wrong}"
    assert sum(v[0] for v in marked.values()) >= 3 and sum(v[1] for v in marked.values()) >= 5


@pytest.mark.parametrize("phone", [False, True], ids=["desktop-mouse", "phone-touch"])
def test_a_chart_with_nothing_to_move_waits_for_a_pointer(phone, site_url, browser):
    """The study facts page opens on three sample charts with no parameter: their images are the
    same charts, so no Vega is loaded for them at load. A mouse over one (or a finger on it)
    loads Vega and makes that chart live, in the image's place (nothing below moves), with its
    tooltips: a bar's tooltip gives the number the figure's table gives. The other charts wait."""
    size = {"width": 390, "height": 844} if phone else {"width": 1280, "height": 720}
    ctx = browser.new_context(viewport=size, has_touch=phone, is_mobile=phone)
    try:
        watched = PageWatch(ctx.new_page())
        page = watched.page
        seen = _requests(page)
        page.goto(f"{site_url}/book/reference/study_facts.html", wait_until="load")
        page.wait_for_timeout(1500)
        figs = page.locator('.smi-figure[data-live="pointer"]')
        assert figs.count() == 3
        # within a screen of the view, where a chart with controls would have loaded Vega by now
        assert figs.first.evaluate("f => f.getBoundingClientRect().top") < size["height"] * 2
        assert not _bundle_requests(seen), "Vega was requested for charts with nothing to move"
        assert page.evaluate("() => typeof window.vegaEmbed") == "undefined"
        fig = figs.first
        img = fig.locator("img.smi-fallback-narrow" if phone else "img.smi-fallback")
        assert img.is_visible()
        below = "fig => fig.nextElementSibling ? fig.nextElementSibling.getBoundingClientRect().top + window.scrollY : 0"
        box = fig.evaluate("f => f.getBoundingClientRect().height"), fig.evaluate(below)
        img.scroll_into_view_if_needed()
        if phone:
            b = img.bounding_box()
            page.touchscreen.tap(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2)
        else:
            img.hover()
        page.wait_for_function("f => f.classList.contains('smi-live')", arg=fig.element_handle(), timeout=20_000)
        page.wait_for_timeout(300)
        assert len(_bundle_requests(seen)) == 1
        assert not img.is_visible() and fig.locator(".smi-vis svg").first.is_visible()
        after = fig.evaluate("f => f.getBoundingClientRect().height"), fig.evaluate(below)
        assert abs(after[0] - box[0]) <= 2 and abs(after[1] - box[1]) <= 2, f"the chart moved the page: {box} -> {after}"
        assert figs.evaluate_all("fs => fs.filter(f => f.classList.contains('smi-live')).length") == 1
        if not phone:
            bar = fig.locator(".smi-vis svg .mark-rect path").first
            bar.hover()
            tip = page.locator("#vg-tooltip-element.visible")
            tip.wait_for(timeout=5_000)
            numbers = fig.locator(".smi-numbers td").all_text_contents()
            values = [t.strip() for t in tip.locator("td.value").all_text_contents()]
            assert values and any(v in numbers for v in values), (values, numbers)
        assert not watched.errors, watched.errors
        assert not watched.external, watched.external
    finally:
        ctx.close()


SKIPPED_JS = """() => [...document.querySelectorAll('.bd-article table')]
  .map((t, i) => t.checkVisibility({contentVisibilityAuto: true}) ? -1 : i).filter(i => i >= 0)"""
FAR = "what-the-model-takes-from-the-studies-and-what-it-assumes"  # a section far below the first screen


@pytest.mark.parametrize("width, height", [(1280, 720), (390, 844)], ids=["desktop", "phone"])
def test_tables_far_off_screen_wait_to_be_laid_out(width, height, site_url, watched):
    """The model reference's tables cost a phone about a second of layout at load: the browser
    skips the tables far off screen (smi.css) until the reader nears them, and scrolling draws
    each in its turn. A page opened at an anchor lays everything out and lands on it without a
    layout shift; a link within the page lands on its heading too."""
    page = watched.page
    page.set_viewport_size({"width": width, "height": height})
    page.goto(f"{site_url}/book/reference/model.html", wait_until="load")
    page.wait_for_timeout(300)
    tables = page.locator(".bd-article table")
    assert tables.count() == 7
    skipped = page.evaluate(SKIPPED_JS)
    assert 6 in skipped and 0 not in skipped, skipped  # the last is far below, the first on screen
    if width > 1000:  # the page's table of contents is in the right-hand column
        page.locator(f'#pst-page-toc-nav a[href="#{FAR}"]').first.click()
        page.wait_for_timeout(700)
        top = page.locator(f"#{FAR} > h2").evaluate("h => h.getBoundingClientRect().top")
        assert 0 <= top < 150, f"a link within the page put its heading at {top:.0f} px"
        page.evaluate("window.scrollTo(0, 0)")
    for i in range(tables.count()):
        tables.nth(i).evaluate("t => t.scrollIntoView()")
        page.wait_for_function("t => t.checkVisibility({contentVisibilityAuto: true})",
                               arg=tables.nth(i).element_handle(), timeout=5_000)
    page.add_init_script("""window.__shifts = 0;
      new PerformanceObserver(l => { for (const e of l.getEntries()) if (!e.hadRecentInput) window.__shifts += e.value; })
        .observe({type: 'layout-shift', buffered: true});""")
    page.goto("about:blank")  # a new load, not a jump within the page
    page.goto(f"{site_url}/book/reference/model.html#{FAR}", wait_until="load")
    page.wait_for_timeout(700)
    assert page.evaluate(SKIPPED_JS) == []
    top = page.locator(f"#{FAR} > h2").evaluate("h => h.getBoundingClientRect().top")
    assert 0 <= top < 150, f"the linked heading is at {top:.0f} px, not at the top of the view"
    assert page.evaluate("window.__shifts") < 0.05, page.evaluate("window.__shifts")
    assert not watched.errors, watched.errors


PAGES_WITHOUT_EXPLORABLES = [p for p in built_pages()
                             if "smiEmbed(" not in (SITE / p).read_text(encoding="utf-8")
                             and 'http-equiv="Refresh"' not in (SITE / p).read_text(encoding="utf-8")]


@pytest.mark.parametrize("path", ["book/reference/glossary.html", "book/intro.html", "book/instructor/index.html"])
def test_a_page_without_explorables_never_loads_vega(path, site_url, watched):
    assert path in PAGES_WITHOUT_EXPLORABLES
    page = watched.page
    seen = _requests(page)
    page.goto(f"{site_url}/{path}", wait_until="load")
    page.evaluate("""async () => {
      const frame = () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
      for (let y = 0; y < document.documentElement.scrollHeight; y += window.innerHeight) { window.scrollTo(0, y); await frame(); }
    }""")
    page.wait_for_timeout(500)
    assert not _bundle_requests(seen), _bundle_requests(seen)
    assert not watched.errors, watched.errors
    assert not watched.external, watched.external


# every button of the page's headers that shows an icon; over a wide and a phone-wide screen these
# must all be seen, drawn
HEADER_BUTTONS_JS = """() => [...document.querySelectorAll('.bd-header button, .bd-header-article button, .bd-header-article a.btn')]
  .filter(b => b.offsetParent !== null && b.querySelector('svg.svg-inline--fa'))
  .map(b => { const svg = [...b.querySelectorAll('svg.svg-inline--fa')].find(s => s.getBoundingClientRect().width > 0);
              const r = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
              return [b.className, svg ? svg.dataset.icon : null, r.width, r.height]; })"""
EXPECTED_ICONS = {"bars", "download", "expand", "magnifying-glass", "list"}  # the theme hides the top navbar (outdent)
THEME_ICONS = {"sun", "moon", "circle-half-stroke"}


@pytest.mark.parametrize("path", ["book/malshe2011.html", "book/reference/glossary.html"])
def test_icons_are_drawn_without_font_awesome(path, site_url, watched):
    page = watched.page
    seen = _requests(page)
    drawn = set()
    for width in (390, 1280):
        page.set_viewport_size({"width": width, "height": 800})
        page.goto(f"{site_url}/{path}", wait_until="load")
        page.wait_for_timeout(300)
        assert page.locator("i[class*='fa-'], span[class*='fa-solid']").count() == 0, "an icon left undrawn"
        for cls, icon, w, h in page.evaluate(HEADER_BUTTONS_JS):
            assert icon and w > 5 and h > 5, f"{width} px: button {cls!r}: icon {icon} {w} x {h}"
            drawn.add(icon)
    assert EXPECTED_ICONS <= drawn, EXPECTED_ICONS - drawn
    assert drawn & THEME_ICONS
    # the download menu's entries, once it is open
    page.locator(".bd-header-article .dropdown-download-buttons > button").click()
    for icon in ("fa-file", "fa-file-pdf"):
        box = page.locator(f".dropdown-download-buttons .dropdown-menu svg.{icon}").first.bounding_box()
        assert box and box["width"] > 5 and box["height"] > 5, icon
    page.keyboard.press("Escape")
    # each colour mode shows its own icon
    for mode in ("light", "dark", "auto"):
        page.evaluate("(m) => document.documentElement.dataset.mode = m", mode)
        box = page.locator(f".bd-header-article .theme-switch-button svg[data-mode={mode}]").bounding_box()
        assert box and box["width"] > 5 and box["height"] > 5, mode
    # the previous/next links' arrows
    for icon in ("fa-angle-left", "fa-angle-right"):
        arrow = page.locator(f".prev-next-area svg.{icon}")
        if arrow.count():
            arrow.first.scroll_into_view_if_needed()
            box = arrow.first.bounding_box()
            assert box and box["width"] > 3 and box["height"] > 3, icon
    # (the theme's stylesheet still draws a few icons, e.g. admonition titles', with Font Awesome's
    # webfont: that is not the script)
    assert not [u for u in seen if "fontawesome.js" in u], "Font Awesome's script was requested"
    assert not watched.errors, watched.errors
    assert not watched.external, watched.external


def test_the_site_ships_no_font_awesome_script():
    assert not list(SITE.glob("_static/scripts/fontawesome.js*"))
    for p in built_pages():
        assert "fontawesome.js" not in (SITE / p).read_text(encoding="utf-8"), p


FONT_JS = """async () => {
  const title = document.querySelector('.admonition-title');
  const style = getComputedStyle(title, '::after');
  const glyph = style.content.replace(/^"|"$/g, '');
  const family = style.fontFamily, weight = style.fontWeight;
  const loaded = await document.fonts.load(`${weight} 20px ${family}`, glyph);
  const ctx = document.createElement('canvas').getContext('2d');
  const width = font => { ctx.font = font; return ctx.measureText(glyph).width; };
  return {code: glyph.codePointAt(0), family, faces: loaded.length,
          icon: width(`${weight} 20px ${family}`), fallback: width(`${weight} 20px monospace`)};
}"""


def test_the_theme_icon_font_holds_what_the_stylesheets_draw_and_little_else(site_url, watched):
    """The theme's stylesheets draw a few icons with Font Awesome's webfonts (an admonition's
    title, for one): the build cuts those fonts to the glyphs the stylesheets name (icons.py), so
    the page gets a few KiB instead of 153 KiB, and the icon is still drawn from the font."""
    from fontTools.ttLib import TTFont

    from smi_charts.icons import css_glyphs

    glyphs = css_glyphs(SITE / "_static")
    assert 5 <= len(glyphs) < 60, sorted(map(hex, glyphs))  # the theme's --pst-icon-* set, not all ~1,400
    fonts = SITE / "_static" / "vendor" / "fontawesome" / "webfonts"
    solid = fonts / "fa-solid-900.woff2"
    assert solid.stat().st_size < 10 * 1024, solid.stat().st_size
    cmap = set(TTFont(solid).getBestCmap())
    page = watched.page
    seen = _requests(page)
    page.goto(f"{site_url}/book/malshe2011.html", wait_until="load")
    drawn = page.evaluate(FONT_JS)
    assert "Font Awesome" in drawn["family"] and drawn["faces"] >= 1, drawn
    assert drawn["code"] in glyphs and drawn["code"] in cmap, drawn
    assert drawn["icon"] > 0 and drawn["icon"] != drawn["fallback"], drawn  # the font's glyph, not a fallback's
    assert any("fa-solid-900.woff2" in u for u in seen)
    assert not watched.errors, watched.errors


PAGES_WITH_EXPLORABLES = [p for p in built_pages() if page_specs(SITE / p)]
# each spec as smi.js loads it (smi_charts/specs.py moved it out of the page), narrowed by smi.js
NARROW_JS = """async boxes => Promise.all([...document.querySelectorAll('script[id$="-spec"]')].map(async s => {
  const id = s.id.slice(0, -5), spec = await window.smiLoadSpec(id);
  const narrow = [];
  for (const b of boxes) { narrow.push(window.smiNarrowSpec(await window.smiLoadSpec(id), b)); }
  return {id, spec, narrow};
}))"""


@pytest.mark.parametrize("path", PAGES_WITH_EXPLORABLES)
def test_the_narrow_fallback_is_drawn_as_smi_js_narrows_the_live_chart(path, site_url, watched):
    """The phone fallback image (smi_charts.book.narrow_spec, at build time) and the live chart on
    a phone (smi.js narrowSpec) must be the same chart, or the swap moves the page: the two
    implementations give the same spec for every explorable, at several box widths."""
    from smi_charts.book import NARROW_BOX, narrow_spec

    page = watched.page
    page.goto(f"{site_url}/{path}", wait_until="load")
    boxes = [288, NARROW_BOX, 560]
    found = page.evaluate(NARROW_JS, boxes)
    assert found, path
    for f in found:
        for box, js in zip(boxes, f["narrow"]):
            assert narrow_spec(f["spec"], box) == js, (f["id"], box)
        assert f["narrow"][0] != f["spec"], f["id"]  # narrowing changes something (the check can fail)


# --- the <head> (smi_charts/head.py): one stylesheet blocks the first paint, no script does

HEAD_RE = re.compile(r"<head>(.*?)</head>", re.S)
SEARCH_TOOLS = ("searchtools.js", "language_data.js", "searchindex.js")


@pytest.mark.parametrize("path", built_pages() + ["search.html"])
def test_the_head_holds_one_stylesheet_and_no_blocking_script(path):
    text = (SITE / path).read_text(encoding="utf-8")
    if 'http-equiv="Refresh"' in text:  # the root redirect: no stylesheet, no script
        return
    head = HEAD_RE.search(text).group(1)
    sheets = re.findall(r'<link\b[^>]*rel="stylesheet"[^>]*>', head)
    assert len(sheets) == 1 and re.search(r'_static/smi-site\.css\?v=[0-9a-f]{8}"', sheets[0]), sheets
    for tag in re.findall(r"<script\b[^>]*\bsrc=[^>]*>", head):
        assert re.search(r"\b(defer|async)\b", tag), f"render-blocking script: {tag}"
    for name in SEARCH_TOOLS:
        assert (name in head) == (path == "search.html"), name


def test_only_the_site_stylesheet_blocks_the_first_paint(site_url, watched):
    """What Chromium itself reports as render-blocking (Resource Timing renderBlockingStatus)."""
    page = watched.page
    page.goto(f"{site_url}/book/malshe2017.html", wait_until="load")
    blocking = page.evaluate("""() => performance.getEntriesByType('resource')
      .filter(e => e.renderBlockingStatus === 'blocking').map(e => e.name)""")
    assert len(blocking) == 1 and "/_static/smi-site.css?v=" in blocking[0], blocking
    # the deferred smi.js still embeds the explorables (the one near the top goes live)
    assert page.evaluate("() => document.documentElement.classList.contains('smi-js')")
    assert not watched.errors, watched.errors


def test_search_still_finds_pages(site_url, watched):
    page = watched.page
    page.goto(f"{site_url}/search.html?q=Malshe", wait_until="load")
    results = page.locator("#search-results ul.search li")
    results.first.wait_for(timeout=20_000)
    assert results.count() >= 2
    assert not watched.errors, watched.errors


def test_the_theme_still_works_with_deferred_scripts(site_url, watched):
    page = watched.page
    page.set_viewport_size({"width": 1280, "height": 800})
    # copy button (sphinx-copybutton + clipboard.js) on a code block
    page.goto(f"{site_url}/book/instructor/adapting.html", wait_until="load")
    page.locator("div.highlight button.copybtn").first.wait_for(state="attached", timeout=5_000)
    # dark mode switch (pydata-sphinx-theme): a click moves to the next mode, the page's colours follow
    page.evaluate("() => { document.documentElement.dataset.mode = 'light'; document.documentElement.dataset.theme = 'light'; }")
    light_bg = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    page.locator(".bd-header-article .theme-switch-button").first.click()
    assert page.evaluate("() => document.documentElement.dataset.theme") == "dark"
    assert page.evaluate("() => getComputedStyle(document.body).backgroundColor") != light_bg
    # the download menu (Bootstrap's dropdown)
    page.locator(".bd-header-article .dropdown-download-buttons > button").click()
    assert page.locator(".dropdown-download-buttons .dropdown-menu").is_visible()
    page.keyboard.press("Escape")
    # (no page has sphinx-design tabs or sphinx-togglebutton toggles: their scripts have nothing to do)
    # the sidebar on a phone: the article header's toggle opens it (smi.js hands its click to the
    # theme's own toggle, the top navbar's, which sphinx-book-theme hides)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{site_url}/book/malshe2011.html", wait_until="load")
    modal = page.locator("dialog#pst-primary-sidebar-modal")
    assert not modal.is_visible()
    page.locator("button.primary-toggle >> visible=true").first.click()
    modal.locator("a[href='malshe2017.html']").first.wait_for(state="visible", timeout=5_000)
    box = modal.bounding_box()
    assert box and box["width"] > 200 and box["height"] > 300, box
    page.keyboard.press("Escape")
    # the header's search button opens the theme's search box, which leads to search.html
    page.locator(".search-button__button >> visible=true").first.click()
    box = page.locator("#pst-search-dialog input[name=q]")
    box.wait_for(state="visible", timeout=5_000)
    box.fill("Hughes")
    box.press("Enter")
    page.wait_for_url("**/search.html?q=Hughes*")
    page.locator("#search-results ul.search li").first.wait_for(timeout=20_000)
    assert not watched.errors, watched.errors


def test_text_files_have_precompressed_twins_of_the_same_bytes():
    """A host that serves precompressed files (docs/deploy-book.md) sends the .gz twin the build
    wrote: each must hold exactly the file beside it (a stale twin would serve an old page), and
    every page, script and stylesheet over 1 KiB that gzip shrinks has one."""
    import gzip

    from smi_charts.sphinx_ext import COMPRESSIBLE, MIN_COMPRESS

    twins = sorted(SITE.rglob("*.gz"))
    assert len(twins) > 50, f"only {len(twins)} .gz files in the built site"
    for gz in twins:
        original = gz.with_name(gz.name[:-3])
        assert original.is_file(), f"{gz.relative_to(SITE)} has no original beside it"
        assert gzip.decompress(gz.read_bytes()) == original.read_bytes(), f"{gz.relative_to(SITE)} is stale"
    missing = [f.relative_to(SITE) for f in SITE.rglob("*")
               if f.is_file() and f.suffix in (".html", ".js", ".css") and f.stat().st_size > MIN_COMPRESS
               and f.suffix in COMPRESSIBLE and not f.with_name(f.name + ".gz").exists()
               and len(gzip.compress(f.read_bytes(), 9)) < f.stat().st_size]
    assert not missing, f"no .gz twin: {missing[:10]}"
