"""The print edition (`make pdf`): produced, every chapter in it, and a static fallback (chart
image with its numbers) wherever the online book has an interactive.

The fallback images are SVGs (vl-convert). Chromium prints an SVG image as vector paths and text
in the page's own content stream, not as an image XObject, so counting images in the PDF finds
none. What proves an image is printed is its text: every label the SVG draws (ticks, axis and
legend titles, its title) is in the PDF's text layer, in the SVG's order, just before that
figure's "Numbers behind this chart". A figure whose image is missing has none of them there.
test_a_missing_image_is_caught prints a small page with one image removed and checks that the
same check names that figure.
"""
from __future__ import annotations

import base64
import html as _html
import re
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.support import CHROMIUM, FLAGS, chromium_missing

ROOT = Path(__file__).resolve().parents[2]
PDF = ROOT / "_build" / "pdf" / "sales-marketing-connected.pdf"
SINGLE = ROOT / "_build" / "singlehtml" / "book" / "intro.html"


def _norm(s: str) -> str:
    # NFKC: the PDF's text layer uses typographic ligatures (fi, fl)
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", s)).strip()


ANCHOR = "Numbersbehindthischart"  # printed after each figure's caption (its numbers table, opened)
# a chart's wrapper (smi_charts/templates/figure.html.j2): its <figure>, numbers and scripts; it ends
# with the script that embeds the chart
FIGURE_RE = re.compile(r'<div class="smi-figure".*?</script>\s*</div>', re.S)


def fallback_svg(figure_html: str) -> str:
    """The SVG of a figure's fallback image ("" when it has none)."""
    m = re.search(r'<img class="smi-fallback" src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', figure_html)
    return base64.b64decode(m.group(1)).decode() if m else ""


def figure_id(figure_html: str) -> str:
    return re.search(r'id="([^"]+)"', figure_html).group(1)


def fallback_runs(figure_html: str) -> list[str]:
    """What a figure's fallback image prints as text, spaces removed, in the SVG's order: runs of
    consecutive short labels joined; of a long label (a subtitle wider than the chart is clipped at
    both ends) its middle 30 characters."""
    svg = fallback_svg(figure_html)
    runs, cur = [], ""
    for raw in re.findall(r"<text\b[^>]*>(.*?)</text>", svg, re.S):
        label = _norm(_html.unescape(re.sub(r"<[^>]+>", "", raw))).replace(" ", "")
        if not label:
            continue
        if len(label) <= 40:
            cur += label
        else:
            if cur:
                runs.append(cur)
                cur = ""
            mid = len(label) // 2
            runs.append(label[mid - 15:mid + 15])
    if cur:
        runs.append(cur)
    return runs


def figures(page_html: str) -> list[tuple[str, list[str]]]:
    """(figure id, fallback runs) of every interactive figure of a page, in order."""
    return [(figure_id(f), fallback_runs(f)) for f in FIGURE_RE.findall(page_html)]


def missing_images(figs: list[tuple[str, list[str]]], pdf_text: str) -> list[str]:
    """The figures whose fallback image is not printed: its text is not all there, in order,
    between the previous figure's numbers and its own."""
    text = _norm(pdf_text).replace(" ", "")
    anchors = [m.start() for m in re.finditer(ANCHOR, text)]
    if len(anchors) != len(figs):
        return [f"{len(figs)} figures but {len(anchors)} 'Numbers behind this chart' in the PDF"]
    missing, start = [], 0
    for (name, runs), end in zip(figs, anchors):
        window, pos = text[start:end], 0
        if not runs:
            missing.append(f"{name}: no fallback image in the HTML")
        for run in runs:
            at = window.find(run, pos)
            if at < 0:
                missing.append(f"{name}: its image's text {run[:40]!r} is not printed")
                break
            pos = at + len(run)
        start = end + len(ANCHOR)
    return missing


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
        if tag == "div" and ("class", "smi-figure") in attrs:
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


def test_every_fallback_image_is_printed(text):
    figs = figures(SINGLE.read_text(encoding="utf-8"))
    assert figs, "the single-page edition has no interactive figures"
    missing = missing_images(figs, text)
    assert not missing, f"fallback images not in the PDF: {missing}"


def test_a_missing_image_is_caught(tmp_path):
    """Two figures of the single-page edition printed by Chromium, as the book is: both found;
    then the same page with the second figure's image removed: that figure, and only it, named."""
    if chromium_missing():
        pytest.fail(chromium_missing())
    from playwright.sync_api import sync_playwright

    page_html = SINGLE.read_text(encoding="utf-8")
    two = FIGURE_RE.findall(page_html)[:2]
    assert len(two) == 2, "the single-page edition has fewer than two figures"
    # the print edition shows each figure's numbers table opened
    two = [f.replace('<details class="smi-numbers">', '<details class="smi-numbers" open>') for f in two]
    broken = [two[0], re.sub(r'<img class="smi-fallback"[^>]*>', "", two[1])]
    figs = figures("".join(two))
    out = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            for name, parts in (("whole", two), ("broken", broken)):
                page = browser.new_page()
                page.set_content("<html><body>" + "".join(parts) + "</body></html>")
                pdf = tmp_path / f"{name}.pdf"
                page.pdf(path=str(pdf), format="A4")
                out[name] = " ".join(pg.extract_text() or "" for pg in PdfReader(pdf).pages)
                page.close()
        finally:
            browser.close()
    assert missing_images(figs, out["whole"]) == []
    missing = missing_images(figs, out["broken"])
    assert len(missing) == 1 and missing[0].startswith(figs[1][0] + ":"), missing


FIT_JS = """() => [...document.querySelectorAll('svg.marks')].map(svg => {
  const box = svg.getBoundingClientRect();
  return [...svg.querySelectorAll('text')].filter(t => t.textContent.trim()).flatMap(t => {
    const r = t.getBoundingClientRect();
    return (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1)
      ? [t.textContent.trim()] : [];
  });
})"""


def overrun_labels(svgs: list[str]) -> list[list[str]]:
    """Per SVG, the labels Chromium draws past the image's edge (an <img> would clip them)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page()
            page.set_content("<html><body>" + "".join(f"<div>{s}</div>" for s in svgs) + "</body></html>")
            return page.evaluate(FIT_JS)
        finally:
            browser.close()


def test_fallback_labels_fit_their_images():
    """Every label of every static chart image lies inside the image as this machine's Chromium
    draws it (the print edition's fonts); then the same image drawn with a wider font (DejaVu
    Sans) is caught, so the check can fail."""
    if chromium_missing():
        pytest.fail(chromium_missing())
    figs = [(figure_id(f), fallback_svg(f)) for f in FIGURE_RE.findall(SINGLE.read_text(encoding="utf-8"))]
    assert figs and all(svg for _, svg in figs), [n for n, svg in figs if not svg]
    over = overrun_labels([svg for _, svg in figs])
    clipped = {name: labels for (name, _), labels in zip(figs, over) if labels}
    assert not clipped, f"labels cut off at the image's edge (install fonts-liberation?): {clipped}"
    name, svg = next((n, s) for n, s in figs if n == "smi-h12-capabilities")
    wide = re.sub(r'font-family="[^"]*"', 'font-family="DejaVu Sans"', svg)
    assert overrun_labels([wide])[0], f"{name} drawn in DejaVu Sans: no label flagged"
