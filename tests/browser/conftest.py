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
