"""Book benchmarks: clean build time, heaviest page transfer, explorable update latency.

book_build_s               clean `jupyter-book build` with every chapter executed (2 cores)
page_max_kb                heaviest page: its HTML plus every resource only it (or few pages) loads;
                           resources shared by every chart page (theme, the Vega bundle) count as cached
explorable_update_p95_ms   headless Chromium: slider input event -> chart SVG updated, p95 of 200 moves
"""
from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "_build" / "html"


def emit(name: str, value: float, unit: str) -> None:
    print(f"{name} {value:.6g} {unit}", flush=True)


def build_time() -> float:
    for d in ("html", ".doctrees", "jupyter_execute"):
        shutil.rmtree(ROOT / "_build" / d, ignore_errors=True)
    jb = Path(sys.executable).parent / "jupyter-book"
    t = time.perf_counter()
    subprocess.run([str(jb), "build", ".", "--all", "--warningiserror", "-q"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


class _Loads(HTMLParser):
    def __init__(self):
        super().__init__()
        self.loads = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "img") and a.get("src") and not a["src"].startswith("data:"):
            self.loads.append(a["src"])
        if tag == "link" and a.get("rel") == "stylesheet" and a.get("href"):
            self.loads.append(a["href"])


def page_weights() -> dict[str, float]:
    pages = [p for p in SITE.rglob("*.html") if "_static" not in p.parts]
    refs = {}
    for p in pages:
        parser = _Loads()
        parser.feed(p.read_text(encoding="utf-8"))
        refs[p] = {(p.parent / u.split("?")[0]).resolve() for u in parser.loads}
    used_by = Counter(r for rs in refs.values() for r in rs)
    chart_pages = sum(1 for p in pages if "smiEmbed(" in p.read_text(encoding="utf-8"))
    shared = {r for r, n in used_by.items() if n >= max(2, chart_pages)}
    return {str(p.relative_to(SITE)): (p.stat().st_size + sum(r.stat().st_size for r in refs[p] - shared if r.exists())) / 1024
            for p in pages}


UPDATE_JS = """async ([key, n]) => {
  const fig = document.getElementById('smi-' + key);
  const input = fig.querySelector('input[type=range]');
  // the chart's SVG only: the slider's own value label changes synchronously and would not count
  const vis = fig.querySelector('.smi-vis svg');
  const times = [];
  for (let i = 0; i < n; i++) {
    let v = (i % 2 ? 0.15 : 0.85) + (i % 7) * 0.01;
    if (Math.abs(Number(input.value) - v) < 1e-9) { v += 0.02; }  // an unchanged value redraws nothing
    const t0 = performance.now();
    await new Promise(res => {
      const mo = new MutationObserver(() => { mo.disconnect(); res(); });
      mo.observe(vis, {subtree: true, childList: true, attributes: true, characterData: true});
      input.value = v;
      input.dispatchEvent(new Event('input', {bubbles: true}));
    });
    times.push(performance.now() - t0);
    await new Promise(r => setTimeout(r, 5));
  }
  return times;
}"""


def update_latency(page_path: str = "book/malshe2011.html", key: str = "m11-language", n: int = 200) -> float:
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT))
    from tests.browser.conftest import CHROMIUM, FLAGS

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(
        type("Q", (http.server.SimpleHTTPRequestHandler,), {"log_message": lambda *a: None}), directory=str(SITE)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            page = b.new_page()
            page.goto(f"http://127.0.0.1:{httpd.server_address[1]}/{page_path}")
            page.locator(f"#smi-{key} .smi-vis svg").first.wait_for(timeout=15_000)
            page.evaluate(UPDATE_JS, [key, 20])  # warm up
            times = sorted(page.evaluate(UPDATE_JS, [key, n]))
            b.close()
    finally:
        httpd.shutdown()
    return times[int(0.95 * (len(times) - 1))]


def main() -> None:
    emit("book_build_s", build_time(), "s")
    weights = page_weights()
    heaviest = max(weights, key=weights.get)
    emit("page_max_kb", weights[heaviest], f"KiB ({heaviest})")
    emit("explorable_update_p95_ms", update_latency(), "ms")


if __name__ == "__main__":
    main()
