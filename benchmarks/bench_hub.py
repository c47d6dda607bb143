"""The labs on JupyterHub (deploy/jupyterhub_config.py, as `make hub` runs it): a class arriving
at once, on this machine, all on 127.0.0.1.

hub_burst30_tti_p95_s     30 students open the Hub's login page at the same moment, log in (each
                          gets a Jupyter Server of their own, started by the Hub), land on the
                          labs' index and open the linkage lab; seconds from opening the login
                          page until the lab is interactive (.smi-lab-ready and its chart drawn).
                          Nearest-rank p95 (benchmarks/stats.py: the ceil(0.95 n)-th smallest,
                          here the 29th of 30). Each student is a headless Chromium page on the
                          Hub's own 2 cores, so the figure includes rendering 30 pages here.
hub_burst30_tti_max_s     the slowest of the same 30
hub_burst30_unserved      students whose lab was not interactive within BURST_LIMIT_S (counted
                          as inf in the percentile and the maximum)
hub_idle_rss_mb           Hub + proxy + idle culler, before anyone logs in
hub_rss_mb_per_user       (RSS of everything the Hub runs with the 30 labs open - idle) / 30:
                          one student's Jupyter Server and lab kernel (RSS; shared pages count
                          once per process)

Run alone: `python benchmarks/bench_hub.py` (about 2-4 minutes on 2 cores; it starts 30 servers
and 30 kernels, ~10 GB at peak). Requires `npm ci` (configurable-http-proxy) and Chromium.
"""
from __future__ import annotations

import asyncio
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "deploy"))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
import hub_launch  # noqa: E402
from stats import emit, nearest_rank  # noqa: E402
from tests.support import CHROMIUM, FLAGS as _FLAGS, LOOPBACK_ONLY  # noqa: E402

# every host but 127.0.0.1 fails to resolve at once: the pages stay on loopback without routing
# each request through Playwright
FLAGS = [*_FLAGS, LOOPBACK_ONLY]
N_STUDENTS = 30
BURST_LIMIT_S = 420.0  # per student; the Hub's own spawn timeout is 300 s


async def _student(browser, hub, name: str, start: asyncio.Event, contexts: list) -> float:
    # the page stays open until every student is done (closing it shuts its kernel down), so the
    # memory sample sees all 30 labs
    ctx = await browser.new_context(viewport={"width": 1280, "height": 900})
    contexts.append(ctx)
    page = await ctx.new_page()
    await start.wait()
    t0 = time.perf_counter()
    deadline = t0 + BURST_LIMIT_S
    try:
        def left_ms() -> float:
            return max(1.0, (deadline - time.perf_counter()) * 1000)
        await page.goto(f"{hub.url}/hub/login", timeout=left_ms())
        await page.fill("#username_input", name)
        await page.fill("#password_input", hub.password)
        # the click waits for the login's navigation, which includes spawning the student's
        # server: bounded by the student's deadline, not Playwright's default 30 s
        await page.click("#login_submit", timeout=left_ms())
        await page.wait_for_url(f"{hub.url}/user/{name}/labs", timeout=left_ms())
        await page.get_by_role("link", name="Linkage lab").click(timeout=left_ms())
        await page.locator(".smi-lab-ready").wait_for(timeout=left_ms())
        await page.locator(".smi-lab-chart svg").first.wait_for(timeout=left_ms())
        return time.perf_counter() - t0
    except Exception as e:  # an unserved student: counted, never dropped
        print(f"# hub burst: {name} not served: {type(e).__name__}: {str(e)[:160]}", file=sys.stderr)
        return math.inf


async def _burst(hub) -> list[float]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            start, contexts = asyncio.Event(), []
            tasks = [asyncio.create_task(_student(browser, hub, f"student{i:02d}", start, contexts))
                     for i in range(N_STUDENTS)]
            await asyncio.sleep(2)  # every context and page exists before anyone starts
            start.set()
            times = await asyncio.gather(*tasks)
            # memory while all 30 labs are open: sampled once every student has finished
            hub.peak_rss_mb = hub.rss_mb()
            for ctx in contexts:
                await ctx.close()
            return times
        finally:
            await browser.close()


def main() -> None:
    if not (ROOT / "node_modules" / ".bin" / "configurable-http-proxy").exists():
        sys.exit("bench_hub: node_modules/.bin/configurable-http-proxy missing: run `npm ci`")
    state = Path(tempfile.mkdtemp(prefix="smi-hub-bench-"))
    try:
        hub = hub_launch.start_hub(state)  # the configuration as `make hub` runs it: no culling in 1 h
    except RuntimeError:
        shutil.rmtree(state, ignore_errors=True)
        raise
    try:
        time.sleep(3)
        idle = hub.rss_mb()
        times = asyncio.run(_burst(hub))
        unserved = sum(1 for t in times if t == math.inf)
        served = sorted(t for t in times if t != math.inf)
        note = f"nearest-rank p95 of n={len(times)}, headless Chromium, login -> linkage lab interactive"
        if served:
            note += f"; median {nearest_rank(times, 50):.3g} s, min {served[0]:.3g} s"
        emit("hub_burst30_tti_p95_s", nearest_rank(times, 95), f"s ({note})")
        emit("hub_burst30_tti_max_s", max(times), f"s (max of the same {len(times)})")
        emit("hub_burst30_unserved", unserved, f"students (lab not interactive within {BURST_LIMIT_S:.0f} s)")
        emit("hub_idle_rss_mb", idle, "MB (Hub + configurable-http-proxy + idle culler)")
        servers = len([p for p in hub.user_processes() if "jupyterhub-singleuser" in " ".join(p.cmdline())])
        emit("hub_rss_mb_per_user", (hub.peak_rss_mb - idle) / N_STUDENTS,
             f"MB (RSS of the {servers} running servers and their kernels over the idle Hub, / {N_STUDENTS})")
    finally:
        hub.stop()
        if "unserved" in locals() and unserved:  # keep the Hub's log to see why
            kept = Path(tempfile.mkstemp(prefix="smi-hub-bench-", suffix=".log")[1])
            shutil.copy(hub.log, kept)
            print(f"# hub burst: {unserved} unserved; the Hub's log: {kept}", file=sys.stderr)
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
