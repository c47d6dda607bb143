"""Build the print/PDF edition offline: one command, `make pdf`.

Route: Jupyter Book's single-page HTML build (every chapter executed, in order, with citations
and bibliography), printed to PDF by headless Debian Chromium. Why not LaTeX: the explorables'
static fallbacks are SVG images and HTML tables that the browser already lays out, a LaTeX
toolchain (texlive) is a multi-GB install, and Chromium is already needed for the browser tests.
For print, the page's print stylesheet hides live charts and controls and shows each chart's
fallback image and its numbers table; reveal sections are opened.
"""
from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "_build" / "pdf" / "sales-marketing-connected.pdf"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    """Serves the single-page build. Its page sits at book/intro.html but links `_static/...`,
    `_images/...` and the like relative to itself, while Sphinx writes them at the root: a file
    missing under book/ is served from the root, or the printed book would load none of the
    theme's and the book's stylesheets."""

    def translate_path(self, path: str) -> str:
        local = super().translate_path(path)
        if path.startswith("/book/") and not os.path.exists(local):
            return super().translate_path(path[len("/book"):])
        return local

    def log_message(self, *args) -> None:
        pass


def arial_metric_font() -> str | None:
    """None when fontconfig gives Chromium an Arial-metric font for the charts' font; else what
    is wrong. The chart images are laid out with Arial metrics (smi_charts/theme.py): printed in
    a wider font, their labels would be cut off at the image's edge."""
    try:
        family = subprocess.run(["fc-match", "-f", "%{family}", "Arial"], capture_output=True, text=True,
                                check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        return f"fc-match failed ({exc}): cannot tell which font Chromium draws the charts with"
    if not any(name in family for name in ("Arial", "Liberation Sans", "Helvetica")):
        return (f"fontconfig draws Arial as {family!r}, wider than the charts were laid out for: "
                "install fonts-liberation (make pdf does, as root or with sudo)")
    return None


def main() -> int:
    t0 = time.perf_counter()
    problem = arial_metric_font()
    if problem:
        print(f"pdf: {problem}", file=sys.stderr)
        return 1
    jb = Path(sys.executable).parent / "jupyter-book"
    subprocess.run([str(jb), "build", ".", "--builder", "singlehtml", "--all", "--warningiserror", "-q"],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    site = ROOT / "_build" / "singlehtml"  # the whole book is book/intro.html
    handler = functools.partial(_Quiet, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    from playwright.sync_api import sync_playwright

    OUT.parent.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page()
            missing = []  # a file the page asks for and does not get would silently change the print
            # (the single-page builder writes no search index; the theme asks for one anyway)
            page.on("response", lambda r: missing.append(f"{r.status} {r.url}")
                    if r.status >= 400 and not r.url.endswith("/searchindex.js") else None)
            page.goto(f"http://127.0.0.1:{httpd.server_address[1]}/book/intro.html", wait_until="load")  # index.html only redirects
            page.evaluate("""() => {
                document.querySelectorAll('details').forEach(d => d.open = true);
                document.querySelectorAll('.smi-explanation').forEach(e => e.hidden = false);
            }""")
            if missing:
                raise SystemExit("build_pdf: the single-page book requested files it did not get:\n  " + "\n  ".join(missing))
            page.emulate_media(media="print")
            page.pdf(path=str(OUT), format="A4", print_background=True,
                     margin={"top": "18mm", "bottom": "18mm", "left": "16mm", "right": "16mm"},
                     display_header_footer=True, header_template="<span></span>",
                     footer_template="<div style='font-size:8px;width:100%;text-align:center'>"
                                     "Sales &amp; Marketing, Connected — <span class='pageNumber'></span></div>")
            browser.close()
    finally:
        httpd.shutdown()
    from pypdf import PdfReader

    pages = len(PdfReader(OUT).pages)
    print(f"pdf {OUT.relative_to(ROOT)}: {pages} pages in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
