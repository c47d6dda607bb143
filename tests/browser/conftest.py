"""Browser tests: the real built site, served on 127.0.0.1, driven in headless Debian Chromium.

The site must have been built (`make book`, which `make test` runs first). A missing build or
browser is an error, never a silent skip.
"""
from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest


ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "_build" / "html"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="session")
def site_url():
    if not (SITE / "index.html").exists():
        pytest.fail(f"no built site at {SITE}: run `make book` first")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(SITE)))
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class PageWatch:
    """A page that records console errors, page errors and any request leaving 127.0.0.1."""

    def __init__(self, page):
        self.page, self.errors, self.external = page, [], []
        page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))

        def route(r):
            host = urlparse(r.request.url).hostname
            if r.request.url.startswith("data:") or host in ("127.0.0.1", "localhost"):
                r.continue_()
            else:
                self.external.append(r.request.url)
                r.abort()
        page.route("**/*", route)


@pytest.fixture
def watched(browser):
    ctx = browser.new_context()
    page = ctx.new_page()
    yield PageWatch(page)
    ctx.close()


def built_pages() -> list[str]:
    """Every HTML page of the built book, as a path relative to the site root."""
    skip = {"genindex.html", "search.html"}
    return sorted(str(p.relative_to(SITE)) for p in SITE.rglob("*.html")
                  if p.name not in skip and "_static" not in p.parts and "_sources" not in p.parts)


# An explorable is embedded once it nears the screen (smi.js loads Vega then): a test that needs
# a live chart scrolls to it first, as a reader does.
ALL_LIVE_JS = """() => [...document.querySelectorAll('script[id$="-live"]')]
  .every(s => { const f = document.getElementById(s.id.slice(0, -5)); return f && f.classList.contains('smi-live'); })"""
VISIT_FIGURES_JS = """async () => {
  const frame = () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  for (const f of document.querySelectorAll('.smi-figure')) { f.scrollIntoView({block: 'center'}); await frame(); }
  window.scrollTo(0, 0);
  await frame();
}"""


def live_chart(fig, timeout: float = 15_000) -> None:
    """Scroll the explorable ``fig`` (a locator) into view and wait until its chart is drawn."""
    fig.scroll_into_view_if_needed(timeout=timeout)
    fig.locator(".smi-vis svg").first.wait_for(timeout=timeout)


def all_charts_live(page, timeout: float = 30_000) -> None:
    """Scroll past every explorable of the page, point at every chart that waits for a pointer
    (data-live="pointer": no parameter), back to the top after, and wait until all are live."""
    page.evaluate(VISIT_FIGURES_JS)
    for fig in page.locator('.smi-figure[data-live="pointer"] figure').all():
        fig.hover()
    page.evaluate("() => window.scrollTo(0, 0)")
    page.wait_for_function(ALL_LIVE_JS, timeout=timeout)

