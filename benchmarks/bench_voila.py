"""Voila lab benchmarks: a class arriving at once, on this machine, all on 127.0.0.1.

Stock Voila (no voila.json: no preheating, default settings, stock template) and the tuned
configuration (voila.json) are measured in the same run; `_stock` lines are the former.

voila_burst30_tti_p95_s[_stock]          30 visitors open the linkage lab at the same moment; p95
                                         seconds until each can use it. 29 are protocol-level
                                         visitors (what the page does: GET the page, open the
                                         kernel websocket, kernel_info, request the widget state,
                                         which must hold the lab's ready marker) and one is a
                                         headless Chromium page (navigation -> .smi-lab-ready
                                         visible). Protocol visitors stand in for browsers because
                                         30 browsers on the server's own 2 cores measure the
                                         browsers: a class renders on 30 laptops.
voila_burst30_browser_tti_s[_stock]      ... the Chromium page among them
voila_burst30_browsers_tti_p95_s[_stock] 30 Chromium pages at once on these 2 cores (rendering
                                         30 lab pages here included), p95 to .smi-lab-ready
voila_preheat_s                          tuned server: start -> every pooled kernel has run its
                                         lab and idles
voila_idle_rss_mb_before                 pools full, before any visitor: RSS of all kernels
voila_roundtrip_p95_ms                   headless Chromium, linkage lab: ArrowRight/ArrowLeft on
                                         the first slider -> first DOM change in the chart
                                         (.smi-lab-chart), p95 of 60
voila_kernel_rss_mb                      RSS of the kernel that served that page (lab + 60 moves)
voila_<lab>_kernel_rss_mb, _cpu_s        each lab alone in a one-kernel pool: the pooled kernel's
                                         RSS and the CPU it used to start and run its lab
voila_move_during_refill_p95_ms          one of the 30 visitors stays and moves a slider (20 moves,
                                         1 s apart) while the pools start 30 replacement kernels
                                         behind the class: move -> chart parameters back from its
                                         kernel, protocol level
voila_state_mb_per_visit                 size of the widget state one page fetches
voila_rss_after_burst_mb                 RSS of all kernels while the 30 visitors are connected
voila_rss_after_cull_mb                  visitors gone, their kernels culled, pools full again:
                                         back to the idle level

The tuned server runs with a shorter culling timeout, for the cull measurement
(--MappingKernelManager.cull_idle_timeout=120 --MappingKernelManager.cull_interval=10, see CULL);
everything else comes from voila.json. Each burst has a hard limit (BURST_LIMIT_S): a visitor
not interactive by then counts as the limit and the line says how many were late. Chromium
resolves no host but 127.0.0.1 (the machine is offline anyway), so the stock template's two CDN
stylesheets fail at once instead of hanging. Run: `make bench` (or `python benchmarks/bench_voila.py`).
"""
from __future__ import annotations

import asyncio
import importlib.util
import json
import re
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
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

    def kernel_procs(self, kernel_ids: set[str]) -> list:
        """The running kernel processes among kernel_ids (a kernel's command line names its
        connection file, kernel-<id>.json)."""
        out = []
        for k in self.kernels():
            try:
                cmd = " ".join(k.cmdline())
            except Exception:
                continue
            if any(f"kernel-{kid}.json" in cmd for kid in kernel_ids):
                out.append(k)
        return out

    def kernel_rss_mb(self, kernel_id: str) -> float:
        procs = self.kernel_procs({kernel_id})
        return self.tree_rss(procs[0]) / 2**20 if procs else float("nan")

    def wait_settled(self, count_ok, limit: float = POOL_LIMIT_S) -> tuple[float, bool]:
        """Wait until count_ok(number of kernels) holds and the server and its kernels are quiet
        together: under 0.3 + 0.02 x kernels CPU-s over 3 s, all summed (under contention each of
        30 starting kernels alone looks idle, kernels pause while the server sets up their
        clients, and an idle kernel still wakes up now and then).
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
            if used < 0.3 + 0.02 * len(ks) and count_ok(len(self.kernels())):
                return time.perf_counter() - t0, True
        return limit, False

    def stop(self) -> None:
        try:
            self.serve.stop_server(self.proc)
        finally:
            self.log.close()
            shutil.rmtree(self.tmp, ignore_errors=True)


def _wait_machine_quiet(limit: float = 120.0) -> None:
    """Before a burst: wait until the whole machine is idle (the previous stage's browser and
    kernels gone), so one measurement does not pay for another."""
    import psutil
    t0 = time.perf_counter()
    while psutil.cpu_percent(interval=2.0) > 15 and time.perf_counter() - t0 < limit:
        pass


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

KERNEL_ID_JS = "JSON.parse(document.getElementById('jupyter-config-data').textContent).kernelId"

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
            kernel_id = await page.evaluate(KERNEL_ID_JS)
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


# ------------------------------------------------------------------------------- protocol visitors

def _kernel_msg(session: str, msg_type: str, content: dict, metadata: dict | None = None) -> str:
    return json.dumps({
        "header": {"msg_id": uuid.uuid4().hex, "username": "bench", "session": session, "date": "",
                   "msg_type": msg_type, "version": "5.3"},
        "parent_header": {}, "metadata": metadata or {}, "content": content, "channel": "shell", "buffers": []})


def _decode_frame(frame: str | bytes) -> dict:
    if isinstance(frame, str):
        return json.loads(frame)
    # Jupyter's binary websocket frame: count, offsets, the JSON message, then the buffers
    n = struct.unpack("!I", frame[:4])[0]
    offsets = struct.unpack(f"!{n}I", frame[4:4 + 4 * n])
    return json.loads(frame[offsets[0]:offsets[1] if n > 1 else len(frame)].decode())


async def _visit(url: str, limit: float, out: dict, interactive: asyncio.Future, release: asyncio.Event,
                 moves_at: float | None = None, count_kernels=None) -> None:
    """One visitor at the protocol level, doing what the lab page does before it can be used:
    GET the page (Voila streams it while the kernel runs the notebook; a pooled kernel only
    takes the query string), open the kernel's websocket, ask for kernel_info, open the widget
    control comm and request every widget's state. Interactive = the state has arrived and holds
    the lab's ready marker (what the page would show): `interactive` gets the seconds since the
    GET. The connection stays open (a visitor with the page open) until `release` is set.
    With `moves_at`, the visitor then moves the lab's first slider (MOVES_IN_REFILL times, from
    `moves_at` seconds after its GET) and times each move until the kernel updates the chart:
    out["refill_moves"] in ms, out["refill_kernels"] = count_kernels() at the first and last move."""
    from tornado.httpclient import AsyncHTTPClient, HTTPRequest
    from tornado.websocket import websocket_connect

    ws = None
    try:
        t0 = time.perf_counter()
        resp = await AsyncHTTPClient(max_clients=2 * N_VISITORS).fetch(
            HTTPRequest(url, request_timeout=limit, connect_timeout=limit))
        m = re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', resp.body.decode(), re.S)
        kernel_id = json.loads(m.group(1))["kernelId"]
        out["kernels"].add(kernel_id)
        session = uuid.uuid4().hex
        ws_url = (url.split("/voila/")[0].replace("http://", "ws://")
                  + f"/api/kernels/{kernel_id}/channels?session_id={session}")
        ws = await websocket_connect(ws_url, connect_timeout=limit, max_message_size=256 * 2**20)
        ws.write_message(_kernel_msg(session, "kernel_info_request", {}))
        comm = uuid.uuid4().hex
        ws.write_message(_kernel_msg(session, "comm_open", {"comm_id": comm, "target_name": "jupyter.widget.control",
                                                            "data": {}}, {"version": "1.0.0"}))
        ws.write_message(_kernel_msg(session, "comm_msg", {"comm_id": comm, "data": {"method": "request_states"}}))
        while True:
            frame = await ws.read_message()
            if frame is None:
                raise RuntimeError("the kernel's websocket closed")
            c = _decode_frame(frame).get("content", {})
            if c.get("comm_id") == comm and c.get("data", {}).get("method") == "update_states":
                out["state_bytes"] = max(out["state_bytes"], len(frame))
                states = c["data"]["states"]
                if not any("smi-lab-ready" in str(w["state"].get("value", "")) for w in states.values()):
                    raise RuntimeError("the widget state holds no ready marker")
                interactive.set_result(time.perf_counter() - t0)
                break
        if moves_at is not None:
            await asyncio.sleep(max(0.0, t0 + moves_at - time.perf_counter()))
            out["refill_moves"], out["refill_kernels"] = await _moves(ws, session, states, count_kernels)
        await release.wait()
    except Exception as e:  # noqa: BLE001 - a failed visitor counts as late; its reason is kept
        if not interactive.done():
            interactive.set_exception(e)
    finally:
        if ws is not None:
            ws.close()


MOVES_IN_REFILL = 20


async def _moves(ws, session: str, states: dict, count_kernels) -> tuple[list[float], tuple[int, int]]:
    """Move the first slider as the page would (a widget `update` on its comm) and time each move
    until the kernel sends the chart its new parameters. Returns the times in ms and
    count_kernels() at the first and last move."""
    slider = next(k for k, w in states.items() if w["model_name"] == "FloatSliderModel")
    chart = next(k for k, w in states.items() if w["model_name"] == "AnyModel")
    lo, hi = states[slider]["state"]["min"], states[slider]["state"]["max"]
    times, kernels = [], []
    for i in range(MOVES_IN_REFILL):
        kernels.append(count_kernels())
        value = lo + (hi - lo) * (0.6 if i % 2 == 0 else 0.4)
        t = time.perf_counter()
        ws.write_message(_kernel_msg(session, "comm_msg", {"comm_id": slider, "data": {
            "method": "update", "state": {"value": value}, "buffer_paths": []}}))
        while True:
            c = _decode_frame(await asyncio.wait_for(ws.read_message(), MOVE_LIMIT_S)).get("content", {})
            if c.get("comm_id") == chart and c.get("data", {}).get("method") == "update":
                break
        times.append((time.perf_counter() - t) * 1000)
        await asyncio.sleep(1.0)  # a student's pace, spread over the refill
    return times, (kernels[0], kernels[-1])


async def _visitors(url: str, n: int, limit: float, while_open=None,
                    moves_at: float | None = None, count_kernels=None) -> dict:
    """n protocol visitors and one headless Chromium page arrive at the same moment. Returns
    {"times": seconds to interactive per visitor (limit if not), "late": how many missed the
    limit, "errors", "kernels": the kernel ids they got, "state_bytes": the largest widget-state
    message, "tti": the Chromium page's seconds to .smi-lab-ready}. `while_open()` runs once every visitor is interactive (or late), before
    they disconnect. With `moves_at`, the first visitor stays and moves a slider (see _visit)."""
    out: dict = {"kernels": set(), "state_bytes": 0, "errors": []}
    loop = asyncio.get_running_loop()
    go, release = asyncio.Event(), asyncio.Event()

    async def one_browser() -> float:
        from playwright.async_api import async_playwright
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            try:
                page = await (await _new_context(browser)).new_page()
                go.set()
                try:
                    tti = await asyncio.wait_for(_page_ready_ms(page, url, limit), limit) / 1000
                    out["kernels"].add(await page.evaluate(KERNEL_ID_JS))
                    return tti
                except Exception:  # noqa: BLE001
                    return limit
            finally:
                await asyncio.wait_for(browser.close(), 60)

    browser = asyncio.create_task(one_browser())
    await go.wait()  # the page is up: everyone arrives together
    interactive = [loop.create_future() for _ in range(n)]
    visits = [asyncio.create_task(_visit(url, limit, out, f, release, moves_at=moves_at if i == 0 else None,
                                         count_kernels=count_kernels))
              for i, f in enumerate(interactive)]
    done, _ = await asyncio.wait(interactive, timeout=limit)
    times = []
    for f in interactive:
        if f not in done:
            f.cancel()  # late: counted as the limit; the visitor's own error no longer matters
            times.append(None)
        elif f.exception() is not None:
            out["errors"].append(repr(f.exception())[:200])
            times.append(None)
        else:
            times.append(f.result())
    out["tti"] = await browser
    if while_open is not None:
        while_open()
    release.set()
    await asyncio.wait(visits, timeout=30 + (moves_at or 0) + MOVES_IN_REFILL * (1 + MOVE_LIMIT_S))
    out["late"] = sum(1 for t in times if t is None)
    out["times"] = [limit if t is None else t for t in times]
    return out


def _burst_line(name: str, times: list[float], late: int, what: str, errors: list[str] | None = None) -> None:
    note = f"s ({what}; n={len(times)}, median {statistics.median(times):.2f} s, max {max(times):.2f} s"
    if late:
        note += f"; {late} not interactive within {BURST_LIMIT_S:.0f} s, counted as {BURST_LIMIT_S:.0f} s"
        if errors:
            note += f"; first error: {errors[0]}"
    emit(name, _p95(times), note + ")")


def _class_arrives(server: Server, suffix: str, while_open=None, moves_at: float | None = None) -> dict:
    """The headline burst: 29 protocol visitors and one real Chromium page arrive at once; the
    p95 is over all 30 (the page's TTI included)."""
    r = asyncio.run(_visitors(server.url, N_VISITORS - 1, BURST_LIMIT_S, while_open=while_open,
                              moves_at=moves_at, count_kernels=lambda: len(server.kernels())))
    times = r["times"] + [r["tti"]]
    late = r["late"] + (r["tti"] >= BURST_LIMIT_S)
    _burst_line(f"voila_burst30_tti_p95_s{suffix}", times, late,
                "29 websocket visitors + 1 Chromium page, arriving at once", r["errors"])
    emit(f"voila_burst30_browser_tti_s{suffix}", r["tti"], "s (the Chromium page among them: navigation -> lab ready)")
    return r


def _browsers_arrive(server: Server, suffix: str) -> None:
    times, late = asyncio.run(_burst(server.url, N_VISITORS, BURST_LIMIT_S))
    _burst_line(f"voila_burst30_browsers_tti_p95_s{suffix}", times, late,
                "30 Chromium pages at once on the server's 2 cores")


# ------------------------------------------------------------------------------- main

def _one_kernel_per_lab() -> None:
    """Each lab alone in a one-kernel pool: what one pooled kernel costs once it has run its lab
    (RSS and private memory of the kernel's process tree, CPU it used to start and run the lab)."""
    import psutil
    for lab in REQUIRED_LABS:
        pools = {"default": {"pool_size": 0}, f"{lab}.ipynb": {"pool_size": 1}}
        server = Server(tuned=True, overrides={"VoilaKernelManager": {"kernel_pools_config": pools}})
        try:
            _, ok = server.wait_settled(lambda n: n >= 1)
            kernel = server.kernels()[0]
            procs = [kernel, *kernel.children(recursive=True)]
            cpu = sum(p.cpu_times().user + p.cpu_times().system for p in procs)
            uss = sum(p.memory_full_info().uss for p in procs) / 2**20
            emit(f"voila_{lab}_kernel_rss_mb", server.tree_rss(kernel) / 2**20,
                 f"MB (pooled, lab run; {uss:.0f} MB private{'' if ok else '; NOT settled'})")
            emit(f"voila_{lab}_kernel_cpu_s", cpu, "s (CPU to start the kernel and run the lab)")
        except psutil.Error as err:
            raise SystemExit(f"bench_voila: could not read {lab}'s kernel: {err}")
        finally:
            server.stop()


def main() -> None:
    _require_labs()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"bench_voila: {CHROMIUM} missing (install Debian chromium)")

    _one_kernel_per_lab()

    # stock Voila: no voila.json, so no pool; every visitor starts a kernel that runs the lab.
    # A fresh server per burst, so the second does not meet the first one's kernels.
    for burst in (_class_arrives, _browsers_arrive):
        _wait_machine_quiet()
        stock = Server(tuned=False)
        try:
            burst(stock, "_stock")
        finally:
            stock.stop()

    expected = pool_total()
    tuned = Server(tuned=True, extra=tuple(CULL))
    try:
        _, ok = tuned.wait_settled(lambda n: n >= expected)
        emit("voila_preheat_s", time.perf_counter() - tuned.t_start,
             f"s ({expected} pooled kernels{'' if ok else ', NOT settled within the limit'})")
        emit("voila_idle_rss_mb_before", tuned.kernels_rss_mb(), f"MB ({len(tuned.kernels())} kernels)")

        rt, rss = asyncio.run(_roundtrip(tuned, MOVES))
        slow = sum(1 for t in rt if t >= MOVE_LIMIT_S * 1000)
        emit("voila_roundtrip_p95_ms", _p95(rt), f"ms (n={len(rt)}, median {statistics.median(rt):.0f} ms"
             + (f"; {slow} move(s) not redrawn within {MOVE_LIMIT_S:.0f} s" if slow else "") + ")")
        emit("voila_kernel_rss_mb", rss, "MB (the roundtrip page's kernel, lab run + moves)")

        # the pool refills the kernel that page took (after fill_delay): start from a full, idle pool
        time.sleep(_fill_delay() + 2)
        tuned.wait_settled(lambda n: n >= expected)
        open_rss = {}
        # one visitor stays and moves a slider while the pools refill behind the class
        r = _class_arrives(tuned, "", while_open=lambda: open_rss.update(mb=tuned.kernels_rss_mb(), n=len(tuned.kernels())),
                           moves_at=_fill_delay() + 5)
        if r.get("refill_moves"):
            m = r["refill_moves"]
            emit("voila_move_during_refill_p95_ms", _p95(m),
                 f"ms (a visitor's slider move -> chart parameters from its kernel, protocol level, n={len(m)}, "
                 f"median {statistics.median(m):.0f} ms, while the pools refill: kernels alive "
                 f"{r['refill_kernels'][0]} -> {r['refill_kernels'][1]})")
        emit("voila_state_mb_per_visit", r["state_bytes"] / 2**20,
             "MB (the widget state a page fetches: mostly the vega bundle JupyterChart ships offline)")
        emit("voila_rss_after_burst_mb", open_rss["mb"], f"MB ({open_rss['n']} kernels, the 30 visitors connected)")

        # visitors gone: their kernels idle out and are culled; the pools refill to their size
        served = r["kernels"]
        t0 = time.perf_counter()
        while tuned.kernel_procs(served) and time.perf_counter() - t0 < POOL_LIMIT_S:
            time.sleep(2)
        culled = not tuned.kernel_procs(served)
        _, ok = tuned.wait_settled(lambda n: n <= expected,
                                   limit=max(60.0, POOL_LIMIT_S - (time.perf_counter() - t0)))
        emit("voila_rss_after_cull_mb", tuned.kernels_rss_mb(),
             f"MB ({len(tuned.kernels())} kernels, {time.perf_counter() - t0:.0f} s after the visitors left; "
             f"{len(served)} served kernels {'culled' if culled else 'NOT all culled'}"
             + ("" if ok else ", pools NOT settled") + ")")

        tuned.wait_settled(lambda n: n >= expected)
        _browsers_arrive(tuned, "")
    finally:
        tuned.stop()


def _fill_delay() -> float:
    conf = json.loads((ROOT / "voila.json").read_text(encoding="utf-8"))
    return float(conf.get("VoilaKernelManager", {}).get("fill_delay", 1))


if __name__ == "__main__":
    main()
