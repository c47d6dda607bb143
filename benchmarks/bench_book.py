"""Book benchmarks: clean build time, heaviest page transfer, explorable update latency.

book_build_s               clean `jupyter-book build` with every chapter executed (2 cores)
page_max_kb                heaviest page: its HTML plus every resource only it (or few pages) loads;
                           resources shared by every chart page (theme, the Vega bundle) count as cached
explorable_update_p95_ms   headless Chromium: slider input event -> chart SVG updated, p95 of 200 moves
robustness_band_update_p95_ms
                           headless Chromium, the heaviest static explorable (most outputs, then most
                           sliders; its band computed in the page from K >= 200 weight draws): slider
                           input event -> the band's whiskers redrawn -> that frame painted,
                           nearest-rank p95 of 60 moves over every slider in turn. Each move is
                           dispatched at the start of a frame (in a requestAnimationFrame callback), as
                           Chromium delivers pointer input; if the band changes within that frame's
                           rendering step the end is the frame's completion (the first task after it),
                           otherwise the next requestAnimationFrame callback's frame. So the figure
                           holds the page's work and the paint, not the wait for the next 60 Hz tick
                           of headless Chromium's virtual display (0-16.7 ms for any update; its
                           frame-rate limiter cannot be switched off reliably on these pages). A move
                           that never redraws the band within 2 s counts as infinitely slow: reported,
                           never dropped.
"""
from __future__ import annotations

import functools
import http.server
import json
import math
import re
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


class _site:
    """The built site on 127.0.0.1 and a headless Chromium page (``extra_flags`` after the tests' flags)."""

    def __init__(self, extra_flags: tuple[str, ...] = ()):
        self.extra = list(extra_flags)

    def __enter__(self):
        from playwright.sync_api import sync_playwright

        sys.path.insert(0, str(ROOT))
        from tests.browser.conftest import CHROMIUM, FLAGS

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(
            type("Q", (http.server.SimpleHTTPRequestHandler,), {"log_message": lambda *a: None}), directory=str(SITE)))
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.pw = sync_playwright().start()
        self.browser = self.pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS + self.extra)
        return self

    def open(self, page_path: str, key: str):
        page = self.browser.new_page()
        page.goto(f"http://127.0.0.1:{self.httpd.server_address[1]}/{page_path}")
        page.locator(f"#smi-{key} .smi-vis svg").first.wait_for(timeout=15_000)
        return page

    def __exit__(self, *exc):
        self.browser.close()
        self.pw.stop()
        self.httpd.shutdown()


def update_latency(page_path: str = "book/malshe2011.html", key: str = "m11-language", n: int = 200) -> float:
    with _site() as site:
        page = site.open(page_path, key)
        page.evaluate(UPDATE_JS, [key, 20])  # warm up
        times = sorted(page.evaluate(UPDATE_JS, [key, n]))
    return times[int(0.95 * (len(times) - 1))]


BAND_JS = """async ([key, n, sel, timeout]) => {
  const fig = document.getElementById('smi-' + key);
  const inputs = fig.querySelectorAll('input[type=range]');
  const vis = fig.querySelector('.smi-vis svg');
  const band = () => vis.querySelector(sel);
  // a task posted during a frame's rendering step runs once that frame is painted (main thread)
  const afterFrame = () => new Promise(res => { const c = new MessageChannel(); c.port1.onmessage = () => res(); c.port2.postMessage(0); });
  const times = [];
  for (let i = 0; i < n; i++) {
    const input = inputs[i % inputs.length];  // every slider in turn
    let v = (Math.floor(i / inputs.length) % 2 ? 0.1 : 0.9) + (i % 7) * 0.01;
    if (Math.abs(Number(input.value) - v) < 1e-9) { v -= 0.05; }  // an unchanged value redraws nothing
    const before = band().innerHTML;
    const t = await new Promise(res => requestAnimationFrame(() => {
      // the move arrives at the start of a frame, as Chromium delivers pointer input to a slider
      let inFrame = true;
      afterFrame().then(() => { inFrame = false; });
      const t0 = performance.now();
      const timer = setTimeout(() => { mo.disconnect(); res(Infinity); }, timeout);
      const mo = new MutationObserver(() => {
        if (band().innerHTML === before) { return; }  // other marks first: wait for the band
        mo.disconnect();
        clearTimeout(timer);
        // changed inside this frame's rendering step: it is painted in this frame; otherwise in
        // the frame of the next requestAnimationFrame callback
        const painted = inFrame ? afterFrame() : new Promise(r => requestAnimationFrame(() => afterFrame().then(r)));
        painted.then(() => res(performance.now() - t0));
      });
      mo.observe(vis, {subtree: true, childList: true, attributes: true, characterData: true});
      input.value = v;
      input.dispatchEvent(new Event('input', {bubbles: true}));
    }));
    times.push(t);
    await new Promise(r => setTimeout(r, 20));
  }
  return times.map(t => (t === Infinity ? -1 : t));  // JSON has no Infinity
}"""


def heaviest_explorable() -> tuple[str, str, int]:
    """(page, key, draws) of the static explorable with a band that has the most outputs, then sliders."""
    best = None
    for p in sorted(SITE.rglob("*.html")):
        if "_static" in p.parts:
            continue
        text = p.read_text(encoding="utf-8")
        for key, live in re.findall(r'<script type="application/json" id="smi-([a-z0-9-]+)-live">(.*?)</script>', text, re.S):
            live = json.loads(live)
            if not live.get("band"):
                continue
            spec = re.search(rf'<script type="application/json" id="smi-{key}-spec">(.*?)</script>', text, re.S).group(1)
            sliders = sum(1 for prm in json.loads(spec).get("params", []) if "bind" in prm)
            rank = (len(live["outputs"]), sliders)
            if best is None or rank > best[0]:
                best = (rank, str(p.relative_to(SITE)), key, live["band"]["draws"])
    if best is None:
        raise SystemExit("robustness_band_update_p95_ms: no explorable with a robustness band in the built site")
    return best[1], best[2], best[3]


def band_latency(n: int = 60) -> None:
    page_path, key, k = heaviest_explorable()
    if k < 200:
        raise SystemExit(f"robustness_band_update_p95_ms: {page_path}#{key} has {k} draws (< 200)")
    with _site() as site:
        page = site.open(page_path, key)
        page.evaluate(BAND_JS, [key, 20, "g.band_whiskers_marks", 2000])  # warm up
        raw = page.evaluate(BAND_JS, [key, n, "g.band_whiskers_marks", 2000])
    times = sorted(math.inf if t < 0 else t for t in raw)
    failed = sum(1 for t in times if t == math.inf)
    p95 = times[math.ceil(0.95 * len(times)) - 1]  # nearest rank
    median = times[math.ceil(0.5 * len(times)) - 1]
    note = f", {failed} moves never redrew the band" if failed else ""
    emit("robustness_band_update_p95_ms", p95,
         f"ms (nearest-rank p95, n={len(times)}, median {median:.3g}, max {times[-1]:.3g}{note}; "
         f"{page_path}#smi-{key}, {k} draws)")


def main() -> None:
    emit("book_build_s", build_time(), "s")
    weights = page_weights()
    heaviest = max(weights, key=weights.get)
    emit("page_max_kb", weights[heaviest], f"KiB ({heaviest})")
    emit("explorable_update_p95_ms", update_latency(), "ms")
    band_latency()


if __name__ == "__main__":
    main()
