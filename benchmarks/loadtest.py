"""Load test (`make loadtest`): 100 lab pages opened and abandoned against voila.json as shipped,
all on 127.0.0.1.

Visitors arrive one every ARRIVAL_GAP_S (3 s: 100 in 5 minutes), a fixed mix of the three labs
(half linkage, a quarter each capability and dysfunction). Each visitor:
  - opens its lab: 9 in 10 are protocol-level visitors doing what the page does
    (bench_voila._open_lab: GET the page, open the kernel websocket, request the widget state,
    which must hold the lab's ready marker); every 10th is a headless Chromium page
    (navigation -> .smi-lab-ready visible);
  - checks the lab is live: one slider move must bring back everything it changes (protocol:
    the kernel sends chart, numbers, share and export; Chromium: the export link changes) within
    10 s;
  - stays DWELL_S, then abandons the page (drops the connection; nobody shuts a kernel down).
An error page, no lab within PAGE_LIMIT_S, or a dead lab is a failure.

Memory: PSS of the whole Voila process tree (server, fork server, every kernel; PSS because the
kernels are forks sharing pages: bench_voila.Server.pss), sampled every 2 s: idle
(pools full, before the first visitor), peak, and after every visitor's kernel has been freed
and the pools have settled again.

No override of voila.json: an abandoned page's kernel is shut down LabKernelManager.abandoned_grace
(60 s) after its page left, by the health check (scripts/voila_labs.py), so memory returns to idle
about a minute after the last visitor, and 100 abandoned pages in 5 minutes never reach max_kernels.
(Before, only culling at 600 s freed them: ~100 kernels held, beyond max_kernels=72 -> 503s.)
LOADTEST_VISITORS=<n> runs n visitors instead of 100 (same arrival gap), for a busy machine.

Bounded: preheating at most 600 s (~70 s here), arrivals 300 s, each visitor at most
PAGE_LIMIT_S + 10 s + DWELL_S, the freeing watched for at most CULL_LIMIT_S: ~10 minutes on 2
cores, at most ~30. Figures are one run, percentiles nearest-rank with the max beside
(benchmarks/stats.py).
"""
from __future__ import annotations

import asyncio
import math
import os
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import bench_voila as bv  # noqa: E402
from benchmarks.stats import emit, emit_percentile  # noqa: E402
from tests.support import chromium_missing  # noqa: E402


def _visitors() -> int:
    raw = os.environ.get("LOADTEST_VISITORS", "100")
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"loadtest: environment variable LOADTEST_VISITORS={raw!r} is not a visitor count (1 or more)")
    return int(raw)


VISITORS = _visitors()
ARRIVAL_GAP_S = 3.0
DWELL_S = 15.0
PAGE_LIMIT_S = 180.0
LIVE_LIMIT_S = 10.0
CULL_LIMIT_S = 420.0
MIX = ["linkage_lab", "capability_lab", "linkage_lab", "dysfunction_lab"]  # half, a quarter, a quarter

EXPORT_JS = "(document.querySelector('.smi-lab a.smi-export') || {}).href || ''"


class MemSampler(threading.Thread):
    """Peak PSS of the Voila process tree, and the machine's 1-minute load average, sampled every
    2 s: the load says whether the 2 cores were this test's alone (the test itself keeps it near
    2-4; other jobs on the machine push it far higher and slow every visitor)."""

    def __init__(self, server: bv.Server):
        super().__init__(daemon=True)
        self.server, self.peak, self.stop = server, 0.0, threading.Event()
        self.loads: list[float] = []

    def run(self) -> None:
        while not self.stop.wait(2.0):
            mb = self.server.tree_mb()
            if mb == mb:  # not NaN
                self.peak = max(self.peak, mb)
            self.loads.append(os.getloadavg()[0])


async def protocol_visitor(url: str, out: dict) -> tuple[float, str | None]:
    ws = None
    try:
        ws, session, states, seconds = await asyncio.wait_for(bv._open_lab(url, PAGE_LIMIT_S, out), PAGE_LIMIT_S)
        moved = await bv._moves(ws, session, states, 1, 0.0)
        if moved[0] == math.inf:
            return math.inf, f"{url}: served, but a slider move got no answer within {bv.MOVE_LIMIT_S:.0f} s"
        await asyncio.sleep(DWELL_S)
        return seconds, None
    except Exception as e:  # noqa: BLE001 - a failed visitor; its reason is reported
        return math.inf, f"{url}: {e!r}"[:300]
    finally:
        if ws is not None:
            ws.close()  # abandoned: nobody shuts the kernel down (abandoned_grace frees it)


async def browser_visitor(browser, url: str, out: dict) -> tuple[float, str | None]:
    ctx = await bv._new_context(browser)
    try:
        page = await ctx.new_page()
        ms = await asyncio.wait_for(bv._page_ready_ms(page, url, PAGE_LIMIT_S), PAGE_LIMIT_S)
        out["kernels"].add(await page.evaluate(bv.KERNEL_ID_JS))
        before = await page.evaluate(EXPORT_JS)
        await page.locator(bv.SLIDER_HANDLE).first.focus()
        await page.keyboard.press("ArrowRight")
        try:
            await page.wait_for_function(f"{EXPORT_JS} !== {before!r}", timeout=LIVE_LIMIT_S * 1000)
        except Exception:  # noqa: BLE001
            return math.inf, f"{url} (Chromium): ready, but a slider move changed nothing within {LIVE_LIMIT_S:.0f} s"
        await asyncio.sleep(DWELL_S)
        return ms / 1000, None
    except Exception as e:  # noqa: BLE001
        return math.inf, f"{url} (Chromium): {e!r}"[:300]
    finally:
        await asyncio.wait_for(ctx.close(), 60)  # abandoned: nobody shuts the kernel down


async def arrivals(server: bv.Server) -> tuple[list[float], list[str], set[str]]:
    from playwright.async_api import async_playwright

    out: dict = {"kernels": set(), "state_bytes": 0}
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=bv.CHROMIUM, args=bv.FLAGS)
        try:
            tasks = []
            for i in range(VISITORS):
                url = server.lab_url(MIX[i % len(MIX)])
                visit = browser_visitor(browser, url, out) if i % 10 == 9 else protocol_visitor(url, out)
                tasks.append(asyncio.create_task(visit))
                await asyncio.sleep(ARRIVAL_GAP_S)
            results = await asyncio.gather(*tasks)
        finally:
            await asyncio.wait_for(browser.close(), 60)
    return [t for t, _ in results], [e for _, e in results if e], out["kernels"]


def main() -> None:
    bv._require_labs()
    if chromium_missing():
        raise SystemExit(f"loadtest: {chromium_missing()}")
    expected = bv.pool_total()
    server = bv.Server(tuned=True)  # voila.json exactly as shipped
    sampler = MemSampler(server)
    try:
        _, ok = server.wait_settled(lambda n: n >= expected, expected)
        idle = server.tree_mb()
        idle_server = idle - server.kernels_mb()
        emit("loadtest_pss_idle_mb", idle, f"MB (Voila server + {len(server.kernels())} pooled kernels, before any "
                                           f"visitor{'' if ok else '; pools NOT settled'})")
        bv._wait_machine_quiet()  # the pools' own start-up must not be counted against the first visitors
        sampler.start()
        t0 = time.perf_counter()
        times, errors, served = asyncio.run(arrivals(server))
        emit("loadtest_duration_s", time.perf_counter() - t0,
             f"s ({VISITORS} visitors, one every {ARRIVAL_GAP_S:g} s, each staying {DWELL_S:g} s once served)")
        loads = sampler.loads or [math.nan]
        emit("loadtest_load_avg_mean", sum(loads) / len(loads),
             f"(1-minute load average over the arrivals, mean; max {max(loads):.1f}; 2 cores)")
        failures = sum(1 for t in times if t == math.inf)
        emit("loadtest_served", VISITORS - failures, f"visitors (of {VISITORS}) who got a live lab")
        emit("loadtest_failures", failures, "visitors (error page, no lab within "
             f"{PAGE_LIMIT_S:.0f} s, or a dead lab)" + (f"; first: {errors[0]}" if errors else ""))
        for e in errors[1:5]:
            print(f"#   also: {e}", flush=True)
        emit_percentile("loadtest_tti_p95_s", times, "s", "GET/navigation -> lab interactive, all visitors",
                        failed="failed")

        # every visitor gone: abandoned_grace frees their kernels; the pools refill to their size
        t1 = time.perf_counter()
        while server.kernel_procs(served) and time.perf_counter() - t1 < CULL_LIMIT_S:
            time.sleep(2)
        left = len(server.kernel_procs(served))
        _, settled = server.wait_settled(lambda n: n <= expected, expected,
                                         limit=max(60.0, CULL_LIMIT_S - (time.perf_counter() - t1)))
        sampler.stop.set()
        after = server.tree_mb()
        emit("loadtest_pss_peak_mb", sampler.peak, "MB (Voila server + kernels, highest sample)")
        emit("loadtest_pss_after_cull_mb", after,
             f"MB ({len(server.kernels())} kernels, {time.perf_counter() - t1:.0f} s after the last visitor left; "
             f"{len(served) - left} of {len(served)} served kernels freed" + ("" if settled else "; NOT settled") + ")")
        emit("loadtest_server_pss_growth_mb", (after - server.kernels_mb()) - idle_server,
             "MB (the Voila server process itself, after freeing minus idle: its own heap)")
        # back to idle: within 5 % of the idle tree (the server's own heap grows a little)
        back = after <= idle * 1.05 and left == 0
        emit("loadtest_back_to_idle", int(back), f"bool (1 = yes: after {after:.0f} MB vs idle {idle:.0f} MB, "
                                                 f"within 5 %, every served kernel freed)")
    finally:
        sampler.stop.set()
        server.stop()


if __name__ == "__main__":
    main()
