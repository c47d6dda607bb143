"""The print edition (`make pdf`): produced, every chapter in it, and a static fallback (chart
image with its numbers) wherever the online book has an interactive."""
from __future__ import annotations

import re
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

import pytest
from pypdf import PdfReader

ROOT = Path(__file__).resolve().parents[2]
PDF = ROOT / "_build" / "pdf" / "sales-marketing-connected.pdf"
SINGLE = ROOT / "_build" / "singlehtml" / "book" / "intro.html"


def _norm(s: str) -> str:
    # NFKC: the PDF's text layer uses typographic ligatures (fi, fl)
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", s)).strip()


@pytest.fixture(scope="module")
def text() -> str:
    if not PDF.exists():
        pytest.fail(f"{PDF} missing: run `make pdf`")
    return _norm(" ".join(p.extract_text() or "" for p in PdfReader(PDF).pages))


class _Figures(HTMLParser):
    def __init__(self):
        super().__init__()
        self.captions, self._in, self._fig = [], False, False

    def handle_starttag(self, tag, attrs):
        if tag == "figure" and ("class", "smi-figure") in attrs:
            self._fig = True
        if tag == "figcaption" and self._fig:
            self._in, self._buf = True, ""

    def handle_endtag(self, tag):
        if tag == "figcaption" and self._in:
            self.captions.append(_norm(self._buf).split(". Explore further")[0].rstrip("."))
            self._in = self._fig = False

    def handle_data(self, data):
        if self._in:
            self._buf += data


def chapter_titles() -> list[str]:
    toc = (ROOT / "_toc.yml").read_text()
    files = ["book/intro"] + re.findall(r"^\s*- file: (\S+)\s*$", toc, re.M)
    titles = []
    for f in files:
        first = next(l for l in (ROOT / f"{f}.md").read_text().splitlines() if l.startswith("# "))
        titles.append(_norm(first[2:]))
    return titles


def test_pdf_has_pages(text):
    assert len(PdfReader(PDF).pages) > 20


@pytest.mark.parametrize("title", chapter_titles())
def test_every_chapter_is_in_the_pdf(title, text):
    # PDF text extraction may break lines inside a title: compare without spaces
    assert title.replace(" ", "") in text.replace(" ", "")


def test_every_interactive_has_its_fallback_in_print(text):
    parser = _Figures()
    parser.feed(SINGLE.read_text(encoding="utf-8"))
    assert parser.captions, "the single-page edition has no interactive figures"
    squashed = text.replace(" ", "")
    missing = [c for c in parser.captions if c.replace(" ", "")[:60] not in squashed]
    assert not missing, f"figures without their static version in the PDF: {missing}"
    # each figure prints its numbers table, opened
    assert text.count("Numbers behind this chart") >= len(parser.captions)
