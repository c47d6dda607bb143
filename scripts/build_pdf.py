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


def main() -> int:
    t0 = time.perf_counter()
    jb = Path(sys.executable).parent / "jupyter-book"
    subprocess.run([str(jb), "build", ".", "--builder", "singlehtml", "--all", "--warningiserror", "-q"],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    site = ROOT / "_build" / "singlehtml"  # the whole book is book/intro.html
    handler = functools.partial(type("Q", (http.server.SimpleHTTPRequestHandler,), {"log_message": lambda *a: None}),
                                directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    from playwright.sync_api import sync_playwright

    OUT.parent.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{httpd.server_address[1]}/book/intro.html", wait_until="load")  # index.html only redirects
            page.evaluate("""() => {
                document.querySelectorAll('details').forEach(d => d.open = true);
                document.querySelectorAll('.smi-explanation').forEach(e => e.hidden = false);
            }""")
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
