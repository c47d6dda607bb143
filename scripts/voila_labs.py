"""Voila for the labs: Voila 0.5.13 with a kernel pool that stays whole and a bound on kernels.

    python scripts/voila_labs.py widgets/labs [voila options]

takes the same options and config files as `voila` (scripts/serve.py starts it from the repo
root, so ./voila.json applies). It changes the kernel manager, the shutdown order and the
addresses it accepts, and logs "Pooled kernel <id> has run its lab" when a pooled kernel is
ready; why, and what was measured: voila.md, *The kernel pool*.

- Only a pooled kernel that has started and is alive is handed to a visitor. Stock Voila also
  counts a kernel still waiting `fill_delay` to start, so a visitor beyond the pool (or a reload)
  waited for that delay plus a cold start. Here, with no ready pooled kernel, the visitor's
  kernel is started at once (Voila's own non-pooled path).
- A pooled kernel that failed to start or died is removed and replaced, by a check every
  `LabKernelManager.health_interval` seconds and again before a kernel is handed out. Stock
  Voila kept it in the pool, left the pool short and could hand it to a visitor. (voila.json
  turns the kernel restarter off: it would bring back a bare kernel, without the lab.) The same
  check shuts down a visitor's kernel whose process has died, so it stops counting, and one
  whose page connected and then has been gone `LabKernelManager.abandoned_grace` seconds (Voila
  never shuts a kernel when its page closes; a kernel not yet connected is left to culling).
- Culling skips a kernel still starting (jupyter_server raised a TraitError on its unset
  `last_activity`).
- `LabKernelManager.max_kernels` bounds the kernels alive at once (pools included): every page
  GET holds a kernel (~85 MB PSS, ~43 MB of it its own) until its page has been gone
  `abandoned_grace` seconds, or, for a page that never connects (a crawler, a script), until it
  is culled (`cull_idle_timeout`), so a reload loop or a crawler would otherwise exhaust memory.
  Beyond it a visitor gets HTTP 503 with a page saying so; refills wait.
- It refuses to listen on anything but loopback: Voila has no login, and each page GET holds a
  kernel (docs/deploy-labs.md: JupyterHub, or a reverse proxy with login in front of 127.0.0.1).
- Kernels are forks of one warm process (scripts/lab_kernels.py; LabKernelManager.fork_kernels):
  the labs' python3 kernels are started through the `smi-lab` kernelspec (share/jupyter/kernels),
  whose launcher has the fork server fork the kernel; a dead fork server is started again.
  A pooled kernel starts at `pool_nice` and is set back to 0 when handed to a visitor; refills
  leave `visitor_reserve` kernels below max_kernels to visitors.
- Voila builds a Jinja environment per page; here they share one bytecode cache, so page
  templates are compiled once, not per visitor.
- The charts' JupyterChart bundle (~0.9 MB, offline Vega) is served as a file at
  `voila/smi-lab/jupyterchart-<crc32>.js`, cached by browsers for a year; the kernels write it
  to the directory in $SMI_LAB_CHARTS, and each chart's widget state carries a small module that
  imports it (smi_labs.common.serve_bundle) instead of the bundle itself.
- Voila's `stop()` removed the connection directory before shutting the kernels down; with
  `KernelManager.transport = "ipc"` (voila.json: no TCP port to race for) the kernels' sockets
  live there, so kernels go first.

Tested by tests/test_voila_server.py.
"""
from __future__ import annotations

import asyncio
import contextvars
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jupyter_core.utils import run_sync
from tornado import web
from traitlets import Bool, Float, Int

from lab_kernels import NICE_ENV, SOCKET_ENV, forked_kernel_pid  # scripts/lab_kernels.py (this file's folder is on sys.path when run)

LOOPBACK = ("127.0.0.1", "localhost", "::1")
# The labs' chart bundle: the kernels write it to the directory named by CHARTS_ENV and their
# charts import it from CHARTS_ROUTE (smi_labs.common.serve_bundle; the same two values there,
# tests/test_labs.py checks). Not imported from there: smi_labs loads pandas and altair.
CHARTS_ENV = "SMI_LAB_CHARTS"
CHARTS_ROUTE = "voila/smi-lab/"
LAB_KERNELS = Path(__file__).resolve().with_name("lab_kernels.py")
FORKED_KERNEL = "smi-lab"  # share/jupyter/kernels/smi-lab: a kernel forked by LAB_KERNELS
_POOLED = contextvars.ContextVar("smi_pooled_kernel_start", default=False)  # set in a pool fill's task

VOILA_VERSION = "0.5.13"  # the pool internals used below (_pools, _initialize) are this version's

FULL_MESSAGE = ("This lab server is at its limit of %d running lab kernels (LabKernelManager.max_kernels "
                "in voila.json), so it cannot open another lab now. Close lab tabs you no longer use "
                "(a closed tab's kernel is freed within about %s) and try again in a few minutes.")


def lab_kernel_manager(voila_manager: type) -> type:
    """Subclass Voila's pooled kernel manager (the class voila_kernel_manager_factory builds)."""

    class LabKernelManager(voila_manager):
        max_kernels = Int(0, config=True, help="Kernels alive at once, pools included; 0 = no limit.")
        health_interval = Float(5.0, config=True, help="Seconds between checks of the pooled kernels.")
        abandoned_grace = Float(60.0, config=True, help=(
            "Seconds a visitor's kernel may have no page connected, after its page had connected, "
            "before the health check shuts it down; 0 = never (culling only)."))
        pool_nice = Int(19, config=True, help=(
            "Niceness (0-19) of a pooled kernel from its start until it is handed to a visitor: a "
            "pool refilling behind a class must not take the CPU from the visitors' pages and "
            "kernels. A visitor's own kernel starts at 0."))
        visitor_reserve = Int(10, config=True, help=(
            "Kernels below max_kernels that pool refills leave to visitors."))
        fork_kernels = Bool(True, config=True, help=(
            "Start the labs' python3 kernels as forks of one warm process (scripts/lab_kernels.py) "
            "instead of each from scratch."))

        def __init__(self, **kwargs):
            self._closing = False
            self._starting = 0          # kernel starts in flight (not yet in self._kernels)
            self._checking = False
            self._left_at: dict[str, float] = {}  # kernel id -> when its last page disconnected
            self._forks: subprocess.Popen | None = None
            self._forks_dir: str | None = None
            self._forks_path: str | None = None
            super().__init__(**kwargs)  # schedules the first pool fill
            if self.fork_kernels:
                self._start_forks()
            try:
                loop = asyncio.get_event_loop()
            except RuntimeError:
                loop = asyncio.new_event_loop()
                asyncio.set_event_loop(loop)
            self._watcher = loop.create_task(self._watch())

        # ---------------------------------------------------------------- the bound on kernels
        def kernel_count(self) -> int:
            return len(self._kernels) + self._starting

        def _room(self, reserve: int = 0) -> bool:
            return self.max_kernels <= 0 or self.kernel_count() < self.max_kernels - reserve

        async def start_kernel(self, *, kernel_id=None, **kwargs):
            """A visitor's kernel (Voila's non-pooled path): refused beyond max_kernels."""
            if (kernel_id is None or kernel_id not in self) and not self._room():
                self.log.warning("Refusing a new kernel: %d of max_kernels=%d running",
                                 self.kernel_count(), self.max_kernels)
                freed = self.abandoned_grace if self.abandoned_grace > 0 else getattr(self, "cull_idle_timeout", 0)
                minutes = max(1, round(freed / 60))
                raise web.HTTPError(503, FULL_MESSAGE % (self.max_kernels, f"{minutes} minute{'s' * (minutes > 1)}"),
                                    reason="Lab server full")
            self._starting += 1
            try:
                return await super().start_kernel(kernel_id=kernel_id, **kwargs)
            finally:
                self._starting -= 1

        async def _initialize(self, notebook_path, kernel_id=None, **kwargs):
            """A pooled kernel: waits for room below max_kernels instead of failing."""
            if kernel_id is not None:  # a restart of an existing kernel
                return await super()._initialize(notebook_path, kernel_id, **kwargs)
            # leave visitor_reserve kernels to visitors, but never so many that the pools cannot fill
            pooled = sum(len(pool) for pool in self._pools.values())
            reserve = min(self.visitor_reserve, max(0, self.max_kernels - pooled))
            while not self._closing and not self._room(reserve):
                await asyncio.sleep(self.health_interval)
            if self._closing:
                raise RuntimeError("Voila is stopping: no new pooled kernel")
            _POOLED.set(True)  # this task's context only: pre_start_kernel starts it at pool_nice
            self._starting += 1
            try:
                return await super()._initialize(notebook_path, None, **kwargs)
            finally:
                self._starting -= 1

        # ---------------------------------------------------------------- forked kernels
        def _start_forks(self) -> None:
            """Start the fork server; kernels started from now on are its forks. Its socket is
            bound here, in a private directory (mode 700), and handed to the server, so a kernel
            asked for before the server is ready waits in the backlog (scripts/lab_kernels.py)."""
            self._forks_dir = tempfile.mkdtemp(prefix="smi-lab-forks-")
            path = os.path.join(self._forks_dir, "forks.sock")
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
                listener.bind(path)
                listener.listen(512)
                fd = listener.fileno()
                self._forks = subprocess.Popen([sys.executable, str(LAB_KERNELS), "serve", str(fd), str(os.getpid())],
                                               pass_fds=[fd])
            self._forks_path = path
            self.log.info("Lab kernels are forked by process %d (%s)", self._forks.pid, path)

        def _stop_forks(self) -> None:
            if self._forks is not None and self._forks.poll() is None:
                self._forks.terminate()
                try:
                    self._forks.wait(10)
                except subprocess.TimeoutExpired:
                    self._forks.kill()
                    self._forks.wait()
            if self._forks_dir:
                shutil.rmtree(self._forks_dir, ignore_errors=True)
            self._forks = self._forks_dir = self._forks_path = None

        def _check_forks(self) -> None:
            """A fork server that died is started again (meanwhile kernels start cold)."""
            if self._forks is not None and self._forks.poll() is not None and not self._closing:
                self.log.warning("The lab kernels' fork server exited (%s): starting it again", self._forks.returncode)
                self._stop_forks()
                self._start_forks()

        def pre_start_kernel(self, kernel_name, kwargs):
            # every kernel (pooled or a visitor's) passes here: the labs' python3 becomes the forked kernel
            if self.fork_kernels and kernel_name in (None, "python3"):
                kernel_name = FORKED_KERNEL
                # the kernel's launcher finds the server here (a dead server: no variable, cold start)
                env = kwargs.setdefault("env", dict(os.environ))
                env.pop(SOCKET_ENV, None)
                if self._forks is not None and self._forks.poll() is None:
                    env[SOCKET_ENV] = self._forks_path
                env[NICE_ENV] = str(self.pool_nice if _POOLED.get() else 0)
            return super().pre_start_kernel(kernel_name, kwargs)

        # ---------------------------------------------------------------- abandoned pages
        # Voila never shuts a page's kernel when the page closes: a reload or a closed tab left
        # ~190 MB for cull_idle_timeout (600 s), and a burst of abandoned pages hit max_kernels.
        # A kernel whose page connected and then left for abandoned_grace s is shut down by the
        # health check. Only a page that HAS connected counts: a kernel served but not yet
        # connected (a slow page load) is left to culling, and pooled kernels never connect.
        def notify_connect(self, kernel_id):
            super().notify_connect(kernel_id)
            self._left_at.pop(kernel_id, None)

        def notify_disconnect(self, kernel_id):
            super().notify_disconnect(kernel_id)
            if self._kernel_connections.get(kernel_id, 1) <= 0:
                self._left_at[kernel_id] = time.monotonic()

        async def _shut_abandoned(self, pooled: set) -> None:
            if self.abandoned_grace <= 0:
                return
            now = time.monotonic()
            for kid, left in list(self._left_at.items()):
                if kid not in self._kernels:          # shut down meanwhile (culled, died, restarted)
                    self._left_at.pop(kid, None)
                elif (kid not in pooled and self._kernel_connections.get(kid, 0) <= 0
                      and now - left >= self.abandoned_grace):
                    self._left_at.pop(kid, None)
                    self.log.info("Kernel %s: its page left %.0f s ago (abandoned_grace %g s): shutting it down",
                                  kid, now - left, self.abandoned_grace)
                    try:
                        await self.shutdown_kernel(kid, now=True)
                    except Exception:  # noqa: BLE001 - already gone is fine
                        self.log.debug("Shutting down kernel %s failed", kid, exc_info=True)

        async def cull_kernel_if_idle(self, kernel_id):
            # jupyter_server's check reads kernel.last_activity, which is unset (TraitError) while
            # a kernel is still starting: skip it this round instead of logging a traceback
            kernel = self._kernels.get(kernel_id)
            if kernel is not None and not kernel.trait_has_value("last_activity"):
                self.log.debug("Not culling kernel %s: still starting (no last_activity yet)", kernel_id)
                return
            return await super().cull_kernel_if_idle(kernel_id)

        # ---------------------------------------------------------------- pool health
        def fill_if_needed(self, delay=None, notebook_name=None, extra_kernel_env_variables={}, **kwargs):  # noqa: B006 - Voila's signature
            if not self._closing:
                super().fill_if_needed(delay, notebook_name, extra_kernel_env_variables, **kwargs)

        def _problem(self, task) -> str | None:
            """Why a pooled kernel cannot be handed out (None: it can). Synchronous, so the
            handler's get_pool_size -> get_rendered_notebook sees one consistent answer."""
            if not task.done():
                return "starting"
            if task.cancelled():
                return "cancelled"
            if task.exception() is not None:
                return f"failed to start: {task.exception()!r}"
            content = task.result()
            kid = content["kernel_id"]
            render = content["task"]
            if render.done() and (render.cancelled() or render.exception() is not None):
                return "its lab did not run"
            km = self._kernels.get(kid)
            process = getattr(getattr(km, "provisioner", None), "process", None)
            if km is None or process is None:
                return "no kernel process"
            if process.poll() is not None:
                return f"its process exited ({process.returncode})"
            return None

        def get_pool_size(self, notebook_name: str) -> int:
            """Pooled kernels ready to hand out now. Voila's handler starts a visitor's own kernel
            at once when this is 0 (stock Voila counted kernels still waiting to start)."""
            pool = self._pools.get(notebook_name, [])
            ready = sum(1 for t in pool if self._problem(t) is None)
            if any(t.done() for t in pool) and ready < sum(1 for t in pool if t.done()):
                self._check_soon()
            return ready

        async def get_rendered_notebook(self, notebook_name, extra_kernel_env_variables={}, **kwargs):  # noqa: B006
            pool = self._pools.get(notebook_name, [])
            for i, task in enumerate(pool):
                if self._problem(task) is None:
                    pool.insert(0, pool.pop(i))  # Voila's method hands out pool[0]
                    kernel_id = task.result()["kernel_id"]
                    self._unnice(kernel_id)
                    # benchmarks/bench_voila.py reads it: a pooled kernel no longer waiting
                    self.log.info("Pooled kernel %s handed to a visitor", kernel_id)
                    break
            return await super().get_rendered_notebook(notebook_name, extra_kernel_env_variables, **kwargs)

        def _unnice(self, kernel_id: str) -> None:
            """A pooled kernel handed to a visitor leaves pool_nice for the visitor's own priority.
            Lowering a niceness needs CAP_SYS_NICE (root); without it the kernel stays where it is."""
            if not self.pool_nice or self._forks is None:
                return
            pid = forked_kernel_pid(self._forks.pid, kernel_id)
            try:
                if pid is None:
                    raise ProcessLookupError("not found among the fork server's children")
                os.setpriority(os.PRIO_PGRP, pid, 0)  # the kernel's group: every thread of it
            except OSError as err:
                self.log.debug("Kernel %s keeps niceness %d: %s", kernel_id, self.pool_nice, err)

        def _check_soon(self) -> None:
            if not self._checking and not self._closing:
                asyncio.ensure_future(self._check_pools())

        async def _watch(self) -> None:
            while not self._closing:
                await asyncio.sleep(self.health_interval)
                try:
                    await self._check_pools()
                except Exception:  # noqa: BLE001 - the watcher must keep running
                    self.log.exception("Checking the kernel pools failed")

        async def _check_pools(self) -> None:
            if self._checking or self._closing:
                return
            self._checking = True
            try:
                self._check_forks()
                bad = []
                for name, pool in self._pools.items():
                    for task in list(pool):
                        problem = self._problem(task)
                        if problem not in (None, "starting"):
                            pool.remove(task)  # first: Voila's shutdown_kernel reads every pool task's result
                            bad.append((name, task, problem))
                for name, task, problem in bad:
                    kid = None
                    if not task.cancelled() and task.exception() is None:
                        kid = task.result()["kernel_id"]
                        task.result()["task"].cancel()
                    self.log.warning("Pooled kernel %s for %s: %s; starting a replacement", kid, name, problem)
                    if kid is not None:
                        if kid in self:
                            try:
                                await self.shutdown_kernel(kid, now=True)
                            except Exception:  # noqa: BLE001 - already dead is fine
                                self.log.debug("Shutting down kernel %s failed", kid, exc_info=True)
                for name in {name for name, _, _ in bad}:
                    self.fill_if_needed(delay=0, notebook_name=name)
                # a visitor's kernel that died: shut down (it would count against max_kernels until culled)
                pooled = {t.result()["kernel_id"] for pool in self._pools.values() for t in pool
                          if t.done() and not t.cancelled() and t.exception() is None}
                for kid in list(self._kernels):
                    process = getattr(getattr(self._kernels.get(kid), "provisioner", None), "process", None)
                    if kid not in pooled and process is not None and process.poll() is not None:
                        self.log.warning("Kernel %s died (exit %s): shutting it down", kid, process.returncode)
                        try:
                            await self.shutdown_kernel(kid, now=True)
                        except Exception:  # noqa: BLE001
                            self.log.debug("Shutting down kernel %s failed", kid, exc_info=True)
                await self._shut_abandoned(pooled)
            finally:
                self._checking = False

        async def shutdown_all(self, *args, **kwargs):
            self._closing = True
            self._watcher.cancel()
            for pool in self._pools.values():  # Voila awaits each pool task; a cancelled one would raise
                pool[:] = [t for t in pool if not t.cancelled()]
            try:
                return await super().shutdown_all(*args, **kwargs)
            finally:
                self._stop_forks()

    return LabKernelManager


def _share_compiled_templates() -> None:
    """Voila builds a new exporter, so a new Jinja environment, for every page, and compiled the
    page's templates again each time: a third of the server's busy time in a burst (py-spy,
    25 visitors). All VoilaExporter environments are configured alike (async, the same
    extensions), so they share one in-memory bytecode cache; a changed template has another
    checksum and is compiled afresh."""
    from jinja2 import BytecodeCache
    from voila.exporter import VoilaExporter

    if getattr(VoilaExporter.environment, "_smi_labs", False):
        return

    class SharedBytecode(BytecodeCache):
        def __init__(self):
            self.code: dict[str, bytes] = {}

        def load_bytecode(self, bucket):
            if bucket.key in self.code:
                bucket.bytecode_from_string(self.code[bucket.key])

        def dump_bytecode(self, bucket):
            self.code[bucket.key] = bucket.bytecode_to_string()

    shared = SharedBytecode()
    plain = VoilaExporter.environment.fget

    def environment(self):
        env = plain(self)
        env.bytecode_cache = shared
        return env
    environment._smi_labs = True
    VoilaExporter.environment = property(environment)


def install() -> type:
    """Make Voila build LabKernelManager (when preheat_kernel is on) and return the Voila
    application class to run."""
    import voila
    import voila.app
    from voila.app import Voila

    if voila.__version__ != VOILA_VERSION:
        sys.exit(f"scripts/voila_labs.py is written against voila {VOILA_VERSION}, found {voila.__version__}: "
                 "check its use of VoilaKernelManager internals, then update VOILA_VERSION")
    from voila.request_info_handler import RequestInfoSocketHandler

    _share_compiled_templates()
    factory = voila.app.voila_kernel_manager_factory
    if not getattr(RequestInfoSocketHandler.open, "_smi_labs", False):
        plain_open = RequestInfoSocketHandler.open

        def open_and_log(self, kernel_id):
            # a pooled kernel connects here when its lab has run and it waits for a visitor: the
            # one sure sign that the kernel is ready (the tests wait for this line)
            plain_open(self, kernel_id)
            app = self.application.settings.get("voila")
            if app is not None:
                app.log.info("Pooled kernel %s has run its lab and waits for a visitor", kernel_id)
        open_and_log._smi_labs = True
        RequestInfoSocketHandler.open = open_and_log
    if not getattr(factory, "_smi_labs", False):
        def lab_factory(base_class, preheat_kernel, default_pool_size, page_config_hook=None):
            cls = factory(base_class, preheat_kernel, default_pool_size, page_config_hook=page_config_hook)
            return lab_kernel_manager(cls) if preheat_kernel else cls
        lab_factory._smi_labs = True
        voila.app.voila_kernel_manager_factory = lab_factory

    class ChartBundle(web.StaticFileHandler):
        """The labs' chart bundle. Its name is its checksum, so a browser keeps it for a year and
        a second lab, or a second visit, does not download it again."""

        def get_cache_time(self, path, modified, mime_type):
            return 365 * 24 * 3600

    class LabsVoila(Voila):
        def initialize(self, argv=None):
            # before the kernel manager exists: the fork server and every kernel inherit it
            self.charts_dir = tempfile.mkdtemp(prefix="smi-lab-charts-")
            os.environ[CHARTS_ENV] = self.charts_dir
            super().initialize(argv)
            if self.ip not in LOOPBACK:
                # every page GET holds a kernel (~85 MB PSS) for cull_idle_timeout: an open port is a
                # memory-exhaustion button (and Voila has no login of its own)
                sys.exit(f"scripts/voila_labs.py: Voila.ip={self.ip!r} would serve the labs without a login to "
                         "anyone who can reach this machine. Keep Voila.ip=127.0.0.1 (voila.json) and put JupyterHub "
                         "or a reverse proxy with login in front of it (docs/deploy-labs.md).")

        def init_handlers(self):
            from jupyter_server.utils import url_path_join

            return [(url_path_join(self.server_url, CHARTS_ROUTE + "(jupyterchart-[0-9a-f]{8}\\.js)"), ChartBundle,
                     {"path": self.charts_dir}), *super().init_handlers()]

        def stop(self):
            # kernels first: with IPC transport their sockets are in connection_dir
            try:
                run_sync(self.kernel_manager.shutdown_all)()
            finally:
                shutil.rmtree(self.connection_dir, ignore_errors=True)
                shutil.rmtree(self.charts_dir, ignore_errors=True)

    return LabsVoila


def main() -> None:
    install().launch_instance()


if __name__ == "__main__":
    main()
