"""Voila lab benchmarks: a class arriving at once, on this machine, all on 127.0.0.1.

voila_preheat_s                  tuned server: start -> every pooled kernel has run its lab and idles
voila_idle_rss_mb_before         tuned server, pools full, before any visitor: RSS of all kernels
voila_roundtrip_p95_ms           headless Chromium, linkage lab: ArrowRight/ArrowLeft on the first
                                 slider -> first DOM change in the chart (.smi-lab-chart), p95 of 60
voila_kernel_rss_mb              RSS of the kernel that served that page (lab run + 60 moves)
voila_burst30_tti_p95_s_stock    30 pages (one Chromium, 30 contexts) open the linkage lab at once:
                                 navigation start -> .smi-lab-ready visible, p95; stock Voila
                                 (no voila.json: no preheating, default settings, stock template)
voila_burst30_tti_p95_s          the same against the tuned configuration (voila.json)
voila_rss_after_burst_mb         RSS of all kernels once the 30 pages are ready (pools refilling)
voila_rss_after_cull_mb          the 30 pages closed, culling run, pools full again: back to idle
voila_burst30_html_p95_s[_stock] 30 arrivals at once as the server sees them, without 30 browsers
                                 on these 2 cores: 29 plain HTTP clients -> complete page, p95
voila_burst30_one_browser_tti_s[_stock]  ... and the one Chromium page among them: TTI

The tuned server runs with a shorter culling timeout, for the cull measurement
(--MappingKernelManager.cull_idle_timeout=120 --MappingKernelManager.cull_interval=10, see CULL);
everything else comes from voila.json. Each burst has a hard limit (BURST_LIMIT_S): a page not ready by then
counts as the limit and the line says how many did. Chromium resolves no host but 127.0.0.1 (the
machine is offline anyway), so the stock template's two CDN stylesheets fail at once instead of
hanging. Browser and server share this machine's cores: the figures include the cost of
rendering 30 pages at once, which a real class spreads over 30 laptops.
"""
from __future__ import annotations

import asyncio
import importlib.util
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LABS = ROOT / "widgets" / "labs"
REQUIRED_LABS = ["linkage_lab", "capability_lab", "dysfunction_lab"]
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         # every host but 127.0.0.1 fails to resolve at once, inside Chromium: the pages stay on
         # loopback without routing each request through Playwright (which, for 30 pages at
         # once on 2 cores, costs more than the pages themselves)
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]

N_VISITORS = 30
BURST_LIMIT_S = 180.0      # hard limit per burst
MOVES = 60                 # slider moves timed (>= 50), after 5 untimed
MOVE_LIMIT_S = 10.0        # one move that redraws nothing within this counts as this
# Shorter culling than voila.json's 600 s, so the benchmark sees it: but longer than a page of the
# 30-page burst takes to connect to its kernel (~45 s here): culling counts a served page's kernel
# idle until the page connects, and with 20 s every kernel of the burst was culled first.
CULL = ["--MappingKernelManager.cull_idle_timeout=120", "--MappingKernelManager.cull_interval=10"]
POOL_LIMIT_S = 600.0       # preheating / refilling / culling waits


def emit(name: str, value: float, unit: str) -> None:
    print(f"{name} {value:.6g} {unit}", flush=True)


def _serve_module():
    spec = importlib.util.spec_from_file_location("smi_serve", ROOT / "scripts" / "serve.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _require_labs() -> None:
    missing = [n for n in REQUIRED_LABS if not (LABS / f"{n}.ipynb").exists()]
    if missing:
        raise SystemExit(f"bench_voila: lab notebook(s) missing: "
                         f"{', '.join(f'widgets/labs/{n}.ipynb' for n in missing)}. "
                         "The Voila benchmarks need the three labs.")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _p95(values: list[float]) -> float:
    v = sorted(values)
    return v[int(0.95 * (len(v) - 1))]


# ------------------------------------------------------------------------------- server + kernels

class Server:
    """A Voila server on 127.0.0.1 with its log in a temporary directory; always stopped with
    every kernel it started."""

    def __init__(self, tuned: bool, extra: tuple[str, ...] = (), overrides: dict | None = None):
        self.serve = _serve_module()
        self.tmp = Path(tempfile.mkdtemp(prefix="smi-bench-voila-"))
        self.port = _free_port()
        work = self.tmp / "cwd"
        work.mkdir()
        cmd, env, cwd = self.serve.voila_command(self.port, *extra, tuned=tuned, overrides=overrides, workdir=work)
        self.log = open(self.tmp / "voila.log", "wb")
        self.t_start = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.url = f"http://127.0.0.1:{self.port}/voila/render/linkage_lab.ipynb"
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                self.stop()
                raise SystemExit(f"bench_voila: Voila exited with {self.proc.returncode}; log: "
                                 + (self.tmp / "voila.log").read_text(errors="replace")[-2000:])
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise SystemExit("bench_voila: Voila did not listen within 60 s")
                time.sleep(0.2)

    def kernels(self):
        import psutil
        try:
            procs = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.Error:
            return []
        out = []
        for p in procs:
            try:
                if "ipykernel" in " ".join(p.cmdline()):
                    out.append(p)
            except psutil.Error:
                pass
        return out

    @staticmethod
    def tree_rss(p) -> int:
        import psutil
        total = 0
        try:
            for q in [p, *p.children(recursive=True)]:
                try:
                    total += q.memory_info().rss
                except psutil.Error:
                    pass
        except psutil.Error:
            pass
        return total

    def kernels_rss_mb(self) -> float:
        return sum(self.tree_rss(k) for k in self.kernels()) / 2**20

    def kernel_rss_mb(self, kernel_id: str) -> float:
        for k in self.kernels():
            try:
                if f"kernel-{kernel_id}.json" in " ".join(k.cmdline()):
                    return self.tree_rss(k) / 2**20
            except Exception:
                pass
        return float("nan")

    def wait_settled(self, count_ok, limit: float = POOL_LIMIT_S) -> tuple[float, bool]:
        """Wait until count_ok(number of kernels) holds and the server and its kernels are quiet
        together: under 0.3 CPU-s over 3 s, all summed (under contention each of 30 starting
        kernels alone looks idle, and kernels pause while the server sets up their clients).
        Then pooled kernels have run their lab and wait for a visitor.
        Returns (seconds waited, whether it settled within `limit`)."""
        import psutil

        def cpu(procs) -> dict[int, float]:
            out = {}
            for p in procs:
                try:
                    c = p.cpu_times()
                    out[p.pid] = c.user + c.system
                except psutil.Error:
                    pass
            return out

        t0 = time.perf_counter()
        while time.perf_counter() - t0 < limit:
            ks = self.kernels()
            if not count_ok(len(ks)):
                time.sleep(0.5)
                continue
            procs = [psutil.Process(self.proc.pid), *ks]
            before = cpu(procs)
            time.sleep(3.0)
            after = cpu(procs)
            used = sum(after[p] - before[p] for p in after if p in before)
            if used < 0.3 and count_ok(len(self.kernels())):
                return time.perf_counter() - t0, True
        return limit, False

    def stop(self) -> None:
        try:
            self.serve.stop_server(self.proc)
        finally:
            self.log.close()
            shutil.rmtree(self.tmp, ignore_errors=True)


def pool_total() -> int:
    """Kernels the tuned configuration keeps warm: one pool per lab notebook (voila.json)."""
    conf = json.loads((ROOT / "voila.json").read_text(encoding="utf-8"))
    pools = conf.get("VoilaKernelManager", {}).get("kernel_pools_config", {})
    default = pools.get("default", {}).get("pool_size", conf.get("VoilaConfiguration", {}).get("default_pool_size", 1))
    return sum(pools.get(p.name, {}).get("pool_size", default) for p in LABS.rglob("*.ipynb")
               if ".ipynb_checkpoints" not in p.parts)


# ------------------------------------------------------------------------------- browser

READY_JS = """(() => {
  // navigation start -> .smi-lab-ready visible, in ms (performance.now() counts from navigation)
  const check = () => {
    if (window.__smiReady !== undefined) return true;
    const el = document.querySelector('.smi-lab-ready');
    if (el && el.checkVisibility()) { window.__smiReady = performance.now(); return true; }
    return false;
  };
  const start = () => {
    if (check()) return;
    const mo = new MutationObserver(() => { if (check()) mo.disconnect(); });
    mo.observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
  };
  if (document.documentElement) start(); else document.addEventListener('readystatechange', start, {once: true});
})();"""

ROUNDTRIP_SETUP_JS = """() => {
  const box = document.querySelector('.smi-lab-chart');
  window.__rt = {t0: 0, t1: 0, last: performance.now()};
  // the key press: the event's own timestamp (same clock as performance.now())
  document.addEventListener('keydown', e => { window.__rt.t0 = e.timeStamp; window.__rt.t1 = 0; }, true);
  new MutationObserver(() => {
    const now = performance.now();
    window.__rt.last = now;
    if (window.__rt.t0 && !window.__rt.t1) window.__rt.t1 = now;
  }).observe(box, {subtree: true, childList: true, attributes: true, characterData: true});
}"""

SLIDER_HANDLE = ".widget-slider .noUi-handle, .widget-slider .ui-slider-handle, .widget-slider input"


async def _new_context(browser):
    ctx = await browser.new_context(viewport={"width": 1280, "height": 1000})
    await ctx.add_init_script(READY_JS)
    return ctx


async def _page_ready_ms(page, url: str, limit: float) -> float:
    await page.goto(url, wait_until="commit", timeout=limit * 1000)
    await page.wait_for_function("window.__smiReady !== undefined", timeout=limit * 1000, polling=100)
    return await page.evaluate("window.__smiReady")


async def _burst(url: str, n: int, limit: float) -> tuple[list[float], int]:
    """n pages open `url` at the same moment; seconds to ready per page (limit if not ready)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            ctxs = [await _new_context(browser) for _ in range(n)]
            pages = [await c.new_page() for c in ctxs]
            res = await asyncio.gather(*(asyncio.wait_for(_page_ready_ms(pg, url, limit), limit) for pg in pages),
                                       return_exceptions=True)
            times = [r / 1000 if isinstance(r, (int, float)) else limit for r in res]
            late = sum(1 for r in res if not isinstance(r, (int, float)))
            return times, late
        finally:
            await asyncio.wait_for(browser.close(), 60)


async def _roundtrip(server: Server, moves: int) -> tuple[list[float], float]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            ctx = await _new_context(browser)
            page = await ctx.new_page()
            await _page_ready_ms(page, server.url, 120)
            await page.locator(".smi-lab-chart svg").first.wait_for(timeout=60_000)
            kernel_id = await page.evaluate(
                "JSON.parse(document.getElementById('jupyter-config-data').textContent).kernelId")
            await page.evaluate(ROUNDTRIP_SETUP_JS)
            await page.locator(SLIDER_HANDLE).first.focus()
            times = []
            for i in range(moves + 5):
                await page.wait_for_function("performance.now() - window.__rt.last > 150", timeout=30_000, polling=20)
                await page.keyboard.press("ArrowRight" if i % 2 == 0 else "ArrowLeft")
                try:
                    await page.wait_for_function("window.__rt.t1 > 0", timeout=MOVE_LIMIT_S * 1000, polling="raf")
                    dt = await page.evaluate("window.__rt.t1 - window.__rt.t0")
                except Exception:
                    dt = MOVE_LIMIT_S * 1000
                if i >= 5:
                    times.append(dt)
            rss = server.kernel_rss_mb(kernel_id)
            await ctx.close()
            return times, rss
        finally:
            await asyncio.wait_for(browser.close(), 60)


def _mixed_burst(url: str, n: int, limit: float) -> tuple[list[float], int, float]:
    """A class as the server sees it, without 30 browsers on this machine's cores: n-1 plain HTTP
    clients and one Chromium page request the lab at the same moment. Returns the HTTP clients'
    seconds to the complete page (Voila streams it while the kernel runs the notebook), how many
    missed the limit, and the one page's seconds to .smi-lab-ready."""
    import threading
    import urllib.request

    go = threading.Event()
    times: list[float | None] = [None] * (n - 1)

    def one(i: int) -> None:
        go.wait()
        t = time.perf_counter()
        try:
            with urllib.request.urlopen(url, timeout=limit) as r:
                r.read()
            times[i] = time.perf_counter() - t
        except Exception:
            pass

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n - 1)]
    for t in threads:
        t.start()

    async def browser_page() -> float:
        from playwright.async_api import async_playwright

        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            try:
                page = await (await _new_context(browser)).new_page()
                go.set()
                try:
                    return await asyncio.wait_for(_page_ready_ms(page, url, limit), limit) / 1000
                except Exception:
                    return limit
            finally:
                await asyncio.wait_for(browser.close(), 60)

    tti = asyncio.run(browser_page())
    deadline = time.monotonic() + limit + 5
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    late = sum(1 for x in times if x is None)
    return [limit if x is None else x for x in times], late, tti


def _burst_line(name: str, times: list[float], late: int) -> None:
    note = f"s (n={len(times)}, median {statistics.median(times):.2f} s, max {max(times):.2f} s"
    if late:
        note += f"; {late} page(s) not ready within {BURST_LIMIT_S:.0f} s, counted as {BURST_LIMIT_S:.0f} s"
    emit(name, _p95(times), note + ")")


# ------------------------------------------------------------------------------- main

def main() -> None:
    _require_labs()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"bench_voila: {CHROMIUM} missing (install Debian chromium)")

    # stock Voila: no voila.json, so no pool; every visitor starts a kernel that runs the lab
    stock = Server(tuned=False)
    try:
        times, late = asyncio.run(_burst(stock.url, N_VISITORS, BURST_LIMIT_S))
    finally:
        stock.stop()
    _burst_line("voila_burst30_tti_p95_s_stock", times, late)
    stock = Server(tuned=False)
    try:
        times, late, tti = _mixed_burst(stock.url, N_VISITORS, BURST_LIMIT_S)
    finally:
        stock.stop()
    _burst_line("voila_burst30_html_p95_s_stock", times, late)
    emit("voila_burst30_one_browser_tti_s_stock", tti, "s (1 Chromium page among 30 arrivals)")

    expected = pool_total()
    tuned = Server(tuned=True, extra=tuple(CULL))
    try:
        _, ok = tuned.wait_settled(lambda n: n >= expected)
        emit("voila_preheat_s", time.perf_counter() - tuned.t_start,
             f"s ({expected} pooled kernels{'' if ok else ', NOT settled within the limit'})")
        idle = tuned.kernels_rss_mb()
        emit("voila_idle_rss_mb_before", idle, f"MB ({len(tuned.kernels())} kernels)")

        rt, rss = asyncio.run(_roundtrip(tuned, MOVES))
        slow = sum(1 for t in rt if t >= MOVE_LIMIT_S * 1000)
        emit("voila_roundtrip_p95_ms", _p95(rt), f"ms (n={len(rt)}, median {statistics.median(rt):.0f} ms"
             + (f"; {slow} move(s) not redrawn within {MOVE_LIMIT_S:.0f} s" if slow else "") + ")")
        emit("voila_kernel_rss_mb", rss, "MB (the roundtrip page's kernel, lab run + moves)")

        # the pool refills the kernel that page took (after fill_delay): start from a full, idle pool
        time.sleep(_fill_delay() + 2)
        tuned.wait_settled(lambda n: n >= expected)
        times, late = asyncio.run(_burst(tuned.url, N_VISITORS, BURST_LIMIT_S))
        _burst_line("voila_burst30_tti_p95_s", times, late)
        emit("voila_rss_after_burst_mb", tuned.kernels_rss_mb(), f"MB ({len(tuned.kernels())} kernels, pools refilling)")

        # pages closed: their kernels idle out and are culled; the pools refill to their size
        t0 = time.perf_counter()
        time.sleep(_fill_delay() + 2)
        _, ok = tuned.wait_settled(lambda n: n <= expected)
        emit("voila_rss_after_cull_mb", tuned.kernels_rss_mb(),
             f"MB ({len(tuned.kernels())} kernels, {time.perf_counter() - t0:.0f} s after the pages closed"
             + ("" if ok else ", NOT back to the pool size within the limit") + ")")

        times, late, tti = _mixed_burst(tuned.url, N_VISITORS, BURST_LIMIT_S)
        _burst_line("voila_burst30_html_p95_s", times, late)
        emit("voila_burst30_one_browser_tti_s", tti, "s (1 Chromium page among 30 arrivals)")
    finally:
        tuned.stop()


def _fill_delay() -> float:
    conf = json.loads((ROOT / "voila.json").read_text(encoding="utf-8"))
    return float(conf.get("VoilaKernelManager", {}).get("fill_delay", 1))


if __name__ == "__main__":
    main()
