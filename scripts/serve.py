"""Serve the built book (and the Voila labs, once they exist) on 127.0.0.1.

    BOOK_PORT        port for the static book (default 8000)
    VOILA_PORT       port for the Voila labs (default 8866)
    VOILA_POOL_SIZE  warm kernels per lab, instead of voila.json's class-sized pools (90 kernels:
                     5.5 GB of RAM, voila.md); e.g. VOILA_POOL_SIZE=1 to preview on a laptop

The book is served from _build/html by a threaded http.server. Voila is started only when lab
notebooks exist under widgets/labs/*.ipynb, with the repo's tuned configuration: it runs from the
repo root, so it reads ./voila.json (preheated kernel pools, culling, no tracebacks, at most
max_kernels kernels; why each value: voila.md), through scripts/voila_labs.py (Voila with a pool
that replaces dead kernels and starts one at once for a visitor beyond the pool), and it renders
with the repo's `smi-lab` template (share/jupyter/voila/templates, the stock `lab` template without
its two CDN stylesheets). Both listen on 127.0.0.1 only: Voila has no login (other machines: JupyterHub
or a reverse proxy with login, docs/deploy-labs.md). Ctrl-C (or SIGTERM) stops both, and the
kernels Voila started.

`voila_command()` and `stop_server()` are shared with tests/test_voila_server.py and
benchmarks/bench_voila.py, so every launcher starts the labs the same way.

If a port was not set explicitly and the default is taken, the next free port is used and printed;
an explicitly set port that is taken is an error.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "_build" / "html"
LABS = ROOT / "widgets" / "labs"
SHARE = ROOT / "share" / "jupyter"  # Jupyter data dir holding the smi-lab Voila template
VOILA_TEMPLATE = "smi-lab"
LAB_ORDER = ["linkage_lab", "capability_lab", "dysfunction_lab"]


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # Both servers bind with SO_REUSEADDR, so a port left in TIME_WAIT by a previous run is free.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
        return True


def _choose_port(env_name: str, default: int) -> int:
    raw = os.environ.get(env_name)
    if raw:
        try:
            port = int(raw)
        except ValueError:
            sys.exit(f"{env_name}={raw!r} is not a port number")
        if not _port_is_free(port):
            sys.exit(f"{env_name}={port}: port is already in use on {HOST}; choose another")
        return port
    for port in range(default, default + 50):
        if _port_is_free(port):
            return port
    sys.exit(f"no free port in {default}-{default + 49} on {HOST}; set {env_name}")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        pass


def _start_book(port: int) -> http.server.ThreadingHTTPServer:
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    httpd = http.server.ThreadingHTTPServer((HOST, port), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, name="book-server", daemon=True).start()
    return httpd


def voila_command(port: int, *extra: str, tuned: bool = True, overrides: dict | None = None,
                  workdir: Path | None = None) -> tuple[list[str], dict[str, str], Path]:
    """Command, environment and working directory that serve widgets/labs with Voila on HOST.

    tuned=True: the repo's configuration. Voila reads voila.json from its working directory
    (then from the Jupyter config path), so it runs from the repo root; the smi-lab template is
    found on the Jupyter data path (JUPYTER_PATH), which a config file cannot extend.
    overrides: settings that take precedence over voila.json, e.g. smaller kernel pools for a
    test ({"VoilaKernelManager": {"kernel_pools_config": {...}}}); they are written to
    workdir/voila.json, which Voila reads before the repo's (a dict-valued setting such as
    kernel_pools_config cannot be given on the command line).
    tuned=False: stock Voila, for comparison: started in `workdir` (an empty directory), so no
    voila.json is read, with the stock `lab` template.
    `extra` arguments come last and override everything (e.g.
    --MappingKernelManager.cull_idle_timeout=20).
    """
    env = dict(os.environ)
    # tuned: Voila through scripts/voila_labs.py (same options; a pool that replaces dead kernels,
    # serves overflow visitors at once, and LabKernelManager.max_kernels); stock: plain Voila
    launcher = [str(ROOT / "scripts" / "voila_labs.py")] if tuned else ["-m", "voila"]
    cmd = [sys.executable, *launcher, str(LABS), "--no-browser", f"--port={port}",
           f"--Voila.ip={HOST}", "--Voila.port_retries=0"]
    if tuned:
        cwd = ROOT
        env["JUPYTER_PATH"] = os.pathsep.join(
            [str(SHARE), *[p for p in env.get("JUPYTER_PATH", "").split(os.pathsep) if p]])
        cmd.append(f"--VoilaConfiguration.template={VOILA_TEMPLATE}")
        if overrides:
            if workdir is None:
                raise ValueError("overrides need a workdir to write their voila.json in")
            (workdir / "voila.json").write_text(json.dumps(overrides), encoding="utf-8")
            cmd += [f"--Voila.config_file_paths={workdir}", f"--Voila.config_file_paths={ROOT}"]
    else:
        if workdir is None or (workdir / "voila.json").exists() or (workdir / "voila.py").exists():
            raise ValueError("stock Voila needs a workdir without voila.json / voila.py")
        cwd = workdir
    return [*cmd, *extra], env, cwd


def _kernel_procs(proc: subprocess.Popen) -> list:
    """The server's child processes (kernels run in their own sessions: a process-group signal
    does not reach them)."""
    try:
        import psutil
        return psutil.Process(proc.pid).children(recursive=True)
    except Exception:  # psutil missing or the server already gone
        return []


def stop_server(proc: subprocess.Popen, timeout: float = 30) -> None:
    """Stop a Voila / Jupyter server and every kernel it started. SIGTERM first (the server then
    shuts its kernels down itself), SIGKILL after `timeout` s, then kill any kernel left over."""
    children = _kernel_procs(proc)
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for child in children:
        try:
            child.wait(timeout=2)
        except Exception:
            try:
                child.kill()
            except Exception:
                pass


def _start_voila(port: int, workdir: Path) -> subprocess.Popen:
    overrides = None
    raw = os.environ.get("VOILA_POOL_SIZE")
    if raw:
        try:
            size = int(raw)
        except ValueError:
            sys.exit(f"VOILA_POOL_SIZE={raw!r} is not a whole number")
        overrides = {"VoilaKernelManager": {"kernel_pools_config": {"default": {"pool_size": max(size, 0)}}}}
    cmd, env, cwd = voila_command(port, overrides=overrides, workdir=workdir)
    # Own session: the terminal's Ctrl-C reaches only this script, which then stops Voila itself
    # (otherwise Voila may answer SIGINT with an interactive "shut down? (y/n)" prompt).
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, start_new_session=True)


def lab_urls(port: int) -> list[str]:
    """One URL per lab notebook: Voila serving a directory renders <name>.ipynb at /voila/render/."""
    names = sorted((p.stem for p in LABS.glob("*.ipynb")),
                   key=lambda n: (LAB_ORDER.index(n) if n in LAB_ORDER else len(LAB_ORDER), n))
    return [f"http://{HOST}:{port}/voila/render/{n}.ipynb" for n in names]


def _announce_when_listening(proc: subprocess.Popen, port: int, url: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection((HOST, port), timeout=1):
                print(f"Labs: Voila is listening on {url}; it preheats the kernel pools set in "
                      "voila.json in the background (about 4-5 s of CPU per kernel)", flush=True)
                return
        except OSError:
            time.sleep(0.5)
    if proc.poll() is not None:
        print(f"Labs: Voila exited with code {proc.returncode}; the book is still served", flush=True)


def main() -> int:
    if not (SITE / "index.html").exists():
        print(f"{SITE.relative_to(ROOT)}/index.html not found: build the book first (make book)",
              file=sys.stderr)
        return 1

    book_port = _choose_port("BOOK_PORT", 8000)
    httpd = _start_book(book_port)
    print(f"Book: http://{HOST}:{book_port}/", flush=True)

    voila = voila_tmp = None
    labs = sorted(LABS.glob("*.ipynb"))
    if labs:
        voila_port = _choose_port("VOILA_PORT", 8866)
        voila_tmp = Path(tempfile.mkdtemp(prefix="smi-voila-"))
        voila = _start_voila(voila_port, voila_tmp)
        url = f"http://{HOST}:{voila_port}/"
        print(f"Labs: starting Voila for {len(labs)} notebook(s) in {LABS.relative_to(ROOT)}/ "
              "(config: voila.json)", flush=True)
        for lab in lab_urls(voila_port):
            print(f"  {lab}", flush=True)
        threading.Thread(target=_announce_when_listening, args=(voila, voila_port, url),
                         daemon=True).start()
    else:
        print(f"Labs: not built yet (no notebooks in {LABS.relative_to(ROOT)}/)", flush=True)
    print("Press Ctrl-C to stop.", flush=True)

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    finally:
        print("\nStopping...", flush=True)
        if voila is not None:
            stop_server(voila)
        if voila_tmp is not None:
            shutil.rmtree(voila_tmp, ignore_errors=True)
        httpd.shutdown()
        httpd.server_close()
    print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
