"""Book benchmarks: clean build time, page transfer, explorable update latency.

Every figure is measured once per run (no best-of); percentiles are nearest-rank with a `_max`
line beside each (benchmarks/stats.py).

book_build_s               clean `jupyter-book build` with every chapter executed (2 cores)
page_max_kb                heaviest page on a later visit: its HTML plus every resource only it (or
                           few pages) loads; resources shared by every chart page (theme, the
                           ~0.9 MB Vega bundle) count as cached
page_first_visit_kb_max    heaviest page on a first visit, nothing cached: its HTML plus every
                           script, stylesheet and image it loads (uncompressed; the Vega bundle
                           counted where it is a script of the page, the health check and the
                           debrief: a chapter loads it only once an explorable nears the screen,
                           which bench_lighthouse.py measures on the wire; fonts a stylesheet pulls
                           in are not counted)
explorable_update_<key>_p95_ms
                           headless Chromium, every explorable of the built book with a slider or
                           menu (its expression count and the SVG marks it draws are printed):
                           control input event -> the chart redrawn -> that frame painted,
                           nearest-rank p95 of 200 moves over every control in turn. A menu moves
                           to another option, never its first ("none"); the case-preset menu,
                           which acts only through its Load button, is left out. Timed as
                           robustness_band_update_p95_ms (below), the whole chart for the band.
explorable_update_p95_ms   the same for the explorable with the highest p95, named (so is the one
                           with the most marks and expressions: int-chain in this book)
explorable_update_double_raf_p95_ms
                           that explorable's moves ended by the plain double-rAF idiom (the second
                           requestAnimationFrame callback after the change): one frame later than
                           the paint, so up to 16.7 ms more on headless Chromium's 60 Hz display
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
                           frame-rate limiter cannot be switched off reliably on these pages). A
                           slider move that never redraws within 5 s counts as infinitely slow:
                           reported, never dropped (a menu move that changes nothing is left out
                           and counted: some legitimately change nothing).
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
sys.path.insert(0, str(ROOT))

from benchmarks.stats import emit, emit_percentile, nearest_rank  # noqa: E402
from smi_charts.specs import page_specs  # noqa: E402
from tests.support import CHROMIUM, FLAGS, chromium_missing  # noqa: E402


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


def _page_loads() -> dict[Path, set[Path]]:
    """Every page of the built site and the files it loads (scripts, stylesheets, images)."""
    pages = [p for p in SITE.rglob("*.html") if "_static" not in p.parts]
    refs = {}
    for p in pages:
        parser = _Loads()
        parser.feed(p.read_text(encoding="utf-8"))
        refs[p] = {(p.parent / u.split("?")[0].split("#")[0]).resolve() for u in parser.loads
                   if not u.startswith(("http:", "https:", "//"))}
    return refs


def _kib(page: Path, files: set[Path]) -> float:
    return (page.stat().st_size + sum(r.stat().st_size for r in files if r.exists())) / 1024


def page_weights() -> dict[str, float]:
    """Later visit: resources every chart page shares (theme, Vega bundle) are cached."""
    refs = _page_loads()
    used_by = Counter(r for rs in refs.values() for r in rs)
    chart_pages = sum(1 for p in refs if "smiEmbed(" in p.read_text(encoding="utf-8"))
    shared = {r for r, n in used_by.items() if n >= max(2, chart_pages)}
    return {str(p.relative_to(SITE)): _kib(p, rs - shared) for p, rs in refs.items()}


def first_visit_weights() -> dict[str, float]:
    """First visit: nothing cached, every file the page loads counts."""
    return {str(p.relative_to(SITE)): _kib(p, rs) for p, rs in _page_loads().items()}


class _site:
    """The built site on 127.0.0.1 and a headless Chromium page (``extra_flags`` after the tests' flags)."""

    def __init__(self, extra_flags: tuple[str, ...] = ()):
        self.extra = list(extra_flags)

    def __enter__(self):
        from playwright.sync_api import sync_playwright

        if chromium_missing():
            raise SystemExit(f"bench_book: {chromium_missing()}")
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(
            type("Q", (http.server.SimpleHTTPRequestHandler,), {"log_message": lambda *a: None}), directory=str(SITE)))
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.pw = sync_playwright().start()
        self.browser = self.pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS + self.extra)
        return self

    def open(self, page_path: str, key: str):
        page = self.browser.new_page()
        page.goto(f"http://127.0.0.1:{self.httpd.server_address[1]}/{page_path}", timeout=120_000)
        # smi.js embeds an explorable (loading Vega first) once it nears the screen
        page.locator(f"#smi-{key}").scroll_into_view_if_needed(timeout=60_000)
        page.locator(f"#smi-{key} .smi-vis svg").first.wait_for(timeout=60_000)
        return page

    def __exit__(self, *exc):
        self.browser.close()
        self.pw.stop()
        self.httpd.shutdown()


FRAME_JS = """async ([key, n, sel, timeout, controls]) => {
  // sel: the part of the chart that must change (null: anything in the chart's SVG);
  // controls: which of the explorable's inputs to move, every one in turn
  const fig = document.getElementById('smi-' + key);
  // the case-preset menu changes nothing until its Load button is pressed: not a control here
  const inputs = [...fig.querySelectorAll(controls)].filter(el => !el.closest('.smi-presets'));
  const vis = fig.querySelector('.smi-vis svg');
  const target = () => (sel ? vis.querySelector(sel) : vis);
  // a task posted during a frame's rendering step runs once that frame is painted (main thread)
  const afterFrame = () => new Promise(res => { const c = new MessageChannel(); c.port1.onmessage = () => res(); c.port2.postMessage(0); });
  const times = [];
  for (let i = 0; i < n; i++) {
    const input = inputs[i % inputs.length];
    let v;
    if (input.tagName === 'SELECT') {
      // another option, never the first (a menu's first option is its "none"/default: with no
      // intervention, the intervention's start quarter rightly changes nothing)
      const k = input.options.length, cur = input.selectedIndex;
      let j = 1 + ((Math.max(cur, 1) - 1 + 1 + Math.floor(i / inputs.length)) % (k - 1));
      if (j === cur) { j = 1 + (j % (k - 1)); }
      v = input.options[j].value;
    } else {
      // a tenth or nine tenths of the slider's own range, snapped to its step
      const lo = Number(input.min || 0), hi = Number(input.max || 1), step = Number(input.step) || 0.01;
      const snap = x => Math.min(hi, Math.max(lo, lo + Math.round((x - lo) / step) * step));
      v = snap(lo + (hi - lo) * ((Math.floor(i / inputs.length) % 2 ? 0.1 : 0.9) + (i % 7) * 0.01));
      if (Math.abs(Number(input.value) - v) < step / 2) { v = snap(v > (lo + hi) / 2 ? v - 5 * step : v + 5 * step); }  // an unchanged value redraws nothing
    }
    const before = target().innerHTML;
    const t = await new Promise(res => requestAnimationFrame(() => {
      // the move arrives at the start of a frame, as Chromium delivers pointer input to a slider
      let inFrame = true;
      afterFrame().then(() => { inFrame = false; });
      const t0 = performance.now();
      // a menu move may rightly change nothing (the start quarter of a package that fixes its
      // own start): NaN, left out and counted; a slider move that changes nothing is a failure
      const none = input.tagName === 'SELECT' ? NaN : Infinity;
      const timer = setTimeout(() => { mo.disconnect(); res([none, none]); }, timeout);
      const mo = new MutationObserver(() => {
        if (target().innerHTML === before) { return; }  // other marks first: wait for the target
        mo.disconnect();
        clearTimeout(timer);
        // changed inside this frame's rendering step: it is painted in this frame; otherwise in
        // the frame of the next requestAnimationFrame callback
        const painted = inFrame ? afterFrame() : new Promise(r => requestAnimationFrame(() => afterFrame().then(r)));
        // and the plain double-rAF reading (the second frame callback after the change: one
        // frame later than the paint, at most 16.7 ms on a 60 Hz display)
        const doubleRaf = new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(performance.now() - t0))));
        Promise.all([painted.then(() => performance.now() - t0), doubleRaf]).then(res);
      });
      mo.observe(vis, {subtree: true, childList: true, attributes: true, characterData: true});
      input.value = v;
      input.dispatchEvent(new Event(input.tagName === 'SELECT' ? 'change' : 'input', {bubbles: true}));
    }));
    times.push(t);
    await new Promise(r => setTimeout(r, 20));
  }
  return times.map(ts => ts.map(t => (t === Infinity ? -1 : Number.isNaN(t) ? -2 : t)));  // JSON has no Infinity/NaN
}"""

MARKS_JS = """(key) => document.querySelectorAll('#smi-' + key + ' .smi-vis svg g[class^="mark-"] > path, '
  + '#smi-' + key + ' .smi-vis svg g[class^="mark-"] > g, #smi-' + key + ' .smi-vis svg g[class^="mark-"] > text, '
  + '#smi-' + key + ' .smi-vis svg g[class^="mark-"] > line').length"""


SLIDERS = "input[type=range]"
CONTROLS = "input[type=range], select"


MOVE_TIMEOUT_MS = 5000  # a slider move not redrawn by then is infinitely slow


def _frame_runs(page, key: str, n: int, sel: str | None, controls: str) -> tuple[list[tuple[float, float]], int]:
    """(to the frame painted, to the second rAF callback) in ms for each of n moves, after 20
    untimed; inf for a slider move that redrew nothing within MOVE_TIMEOUT_MS. Menu moves that
    changed nothing are left out; their count is returned beside."""
    page.evaluate(FRAME_JS, [key, 20, sel, MOVE_TIMEOUT_MS, controls])  # warm up
    raw = page.evaluate(FRAME_JS, [key, n, sel, MOVE_TIMEOUT_MS, controls])
    kept = [tuple(math.inf if t == -1 else t for t in ts) for ts in raw if ts[0] != -2]
    return kept, len(raw) - len(kept)


def _frame_times(page, key: str, n: int, sel: str | None, controls: str) -> list[float]:
    """ms per move to the frame painted (see FRAME_JS)."""
    return [p for p, _ in _frame_runs(page, key, n, sel, controls)[0]]


def _expressions(spec) -> int:
    """Vega-Lite expressions in a spec (calculate, filter, test, expr strings)."""
    if isinstance(spec, dict):
        return sum((k in ("calculate", "expr", "filter", "test") and isinstance(v, str)) + _expressions(v)
                   for k, v in spec.items())
    if isinstance(spec, list):
        return sum(_expressions(v) for v in spec)
    return 0


def embedded_explorables():
    """(page, key, spec, live) of every explorable in the built site: the Vega-Lite spec and the
    live data that smi_charts.book embeds as JSON scripts beside each figure."""
    for p in sorted(SITE.rglob("*.html")):
        if "_static" in p.parts:
            continue
        text = p.read_text(encoding="utf-8")
        live = dict(re.findall(r'<script type="application/json" id="smi-([a-z0-9-]+)-live">(.*?)</script>', text, re.S))
        for fig_id, spec in page_specs(p).items():  # inline or moved out (smi_charts/specs.py)
            key = fig_id.removeprefix("smi-")
            yield str(p.relative_to(SITE)), key, spec, json.loads(live.get(key, "{}"))


def explorables() -> list[tuple[str, str, int]]:
    """(page, key, expressions) of every explorable in the built site with a control (slider or
    menu)."""
    out = []
    for page_path, key, spec, _ in embedded_explorables():
        if any((prm.get("bind") or {}).get("input") in ("range", "select") for prm in spec.get("params", [])):
            out.append((page_path, key, _expressions(spec)))
    if not out:
        raise SystemExit("explorable_update_p95_ms: no explorable with a slider in the built site")
    return out


def update_latency(n: int = 200) -> None:
    """n moves on every explorable: a line per explorable, and the headline for the worst one."""
    results = []
    with _site() as site:
        for page_path, key, exprs in explorables():
            page = site.open(page_path, key)
            marks = page.evaluate(MARKS_JS, key)
            runs, noop = _frame_runs(page, key, n, None, CONTROLS)
            page.close()
            times, double = [p for p, _ in runs], [d for _, d in runs]
            results.append((nearest_rank(times, 95), page_path, key, exprs, marks, times, double, noop))
    failed = f"moves never redrew the chart within {MOVE_TIMEOUT_MS / 1000:g} s"
    for _, page_path, key, exprs, marks, times, _, noop in results:
        emit_percentile(f"explorable_update_{key.replace('-', '_')}_p95_ms", times, "ms",
                        f"{page_path}: {exprs} expressions, {marks} SVG marks"
                        + (f"; {noop} menu moves changed nothing and are left out" if noop else ""), failed=failed)
    heaviest = max(results, key=lambda r: (r[4], r[3]))[2]
    _, page_path, key, exprs, marks, times, double, _ = max(results, key=lambda r: r[0])
    emit_percentile("explorable_update_p95_ms", times, "ms",
                    f"the slowest explorable, {page_path}#smi-{key} ({exprs} expressions, {marks} SVG marks; "
                    f"the one with the most marks and expressions is {heaviest}): control input -> chart "
                    "redrawn -> frame painted", failed=failed)
    emit_percentile("explorable_update_double_raf_p95_ms", double, "ms",
                    f"the same moves of {key}, to the second requestAnimationFrame callback after the change",
                    failed=failed)


def heaviest_explorable() -> tuple[str, str, int]:
    """(page, key, draws) of the static explorable with a band that has the most outputs, then sliders."""
    best = None
    for page_path, key, spec, live in embedded_explorables():
        if not live.get("band"):
            continue
        sliders = sum(1 for prm in spec.get("params", []) if "bind" in prm)
        rank = (len(live["outputs"]), sliders)
        if best is None or rank > best[0]:
            best = (rank, page_path, key, live["band"]["draws"])
    if best is None:
        raise SystemExit("robustness_band_update_p95_ms: no explorable with a robustness band in the built site")
    return best[1], best[2], best[3]


def band_latency(n: int = 60) -> None:
    page_path, key, k = heaviest_explorable()
    if k < 200:
        raise SystemExit(f"robustness_band_update_p95_ms: {page_path}#{key} has {k} draws (< 200)")
    with _site() as site:
        page = site.open(page_path, key)
        times = _frame_times(page, key, n, "g.band_whiskers_marks", SLIDERS)
    emit_percentile("robustness_band_update_p95_ms", times, "ms", f"{page_path}#smi-{key}, {k} draws",
                    failed=f"moves never redrew the band within {MOVE_TIMEOUT_MS / 1000:g} s")


def main() -> None:
    emit("book_build_s", build_time(), "s (one clean build)")
    weights = page_weights()
    heaviest = max(weights, key=weights.get)
    emit("page_max_kb", weights[heaviest], f"KiB ({heaviest}; theme and Vega bundle cached)")
    first = first_visit_weights()
    heaviest = max(first, key=first.get)
    emit("page_first_visit_kb_max", first[heaviest], f"KiB ({heaviest}; first visit, nothing cached)")
    update_latency()
    band_latency()


if __name__ == "__main__":
    main()
