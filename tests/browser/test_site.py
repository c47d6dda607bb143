"""The built book as a reader gets it: self-contained, every page clean, every link alive."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urldefrag, urlparse

import pytest

from .conftest import SITE, all_charts_live, built_pages

CHAPTERS = ["book/intro.html", "book/malshe2011.html", "book/hughes2012.html", "book/malshe2017.html",
            "book/integration.html", "book/reference/model.html", "book/reference/glossary.html",
            "book/reference/bibliography.html", "book/reference/study_facts.html", "book/healthcheck.html",
            "book/instructor/index.html", "book/instructor/adapting.html", "book/instructor/debrief.html"]


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.loads, self.links = [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "img", "iframe", "source", "audio", "video") and a.get("src"):
            self.loads.append(a["src"])
        if tag == "link" and a.get("href") and a.get("rel") in ("stylesheet", "preload", "icon", "modulepreload"):
            self.loads.append(a["href"])
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])


def _parse(page: str) -> _Refs:
    p = _Refs()
    p.feed((SITE / page).read_text(encoding="utf-8"))
    return p


def test_every_chapter_was_built():
    missing = [c for c in CHAPTERS if not (SITE / c).exists()]
    assert not missing, f"not built: {missing}"


def test_no_page_shows_a_cell_s_warnings_or_errors():
    """A warning a chapter's code printed while the book was built (a library's deprecation, say)
    would show on the page as a stderr block: readers see the book's code, not its noise."""
    shown = [p for p in built_pages() if 'class="output stderr' in (SITE / p).read_text(encoding="utf-8")]
    assert not shown, shown


@pytest.mark.parametrize("page", built_pages())
def test_page_loads_nothing_from_another_host(page):
    external = [u for u in _parse(page).loads if urlparse(u).scheme in ("http", "https") or u.startswith("//")]
    assert not external, f"{page} loads {external}"
    # no CDN named inside inline scripts either (e.g. a require.js config)
    text = (SITE / page).read_text(encoding="utf-8")
    assert not re.search(r"https?://(cdn\.jsdelivr|unpkg|cdnjs|fonts\.googleapis)", text), page


@pytest.mark.parametrize("page", built_pages())
def test_internal_links_resolve(page):
    broken = []
    for href in _parse(page).links:
        url, frag = urldefrag(href)
        if urlparse(url).scheme or url.startswith("mailto:"):
            continue
        target = (SITE / page).parent / url if url else SITE / page
        target = target.resolve()
        if target.is_dir():
            target = target / "index.html"
        if not target.exists():
            broken.append(href)
            continue
        if frag and target.suffix == ".html" and f'id="{frag}"' not in target.read_text(encoding="utf-8"):
            broken.append(href)
    assert not broken, f"{page}: broken links {broken}"


@pytest.mark.parametrize("page", built_pages())
def test_page_loads_in_chromium_without_errors(page, site_url, watched):
    watched.page.goto(f"{site_url}/{page}", wait_until="load")
    watched.page.wait_for_timeout(300)
    all_charts_live(watched.page)
    for fig in watched.page.locator(".smi-figure").all():
        fig.locator(".smi-vis svg").first.wait_for(timeout=10_000)
    assert not watched.errors, f"{page}: {watched.errors}"
    assert not watched.external, f"{page} requested {watched.external}"
