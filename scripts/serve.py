"""Serve the built book (and the Voila labs, once they exist) on 127.0.0.1.

    BOOK_PORT   port for the static book (default 8000)
    VOILA_PORT  port for the Voila labs (default 8866)

The book is served from _build/html by a threaded http.server. Voila is started only when lab
notebooks exist under widgets/labs/*.ipynb. Ctrl-C (or SIGTERM) stops both.

If a port was not set explicitly and the default is taken, the next free port is used and printed;
an explicitly set port that is taken is an error.
"""

from __future__ import annotations

import functools
import http.server
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "_build" / "html"
LABS = ROOT / "widgets" / "labs"


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


def _start_voila(port: int) -> subprocess.Popen:
    cmd = [
        sys.executable, "-m", "voila", str(LABS.relative_to(ROOT)),
        "--no-browser", f"--port={port}", f"--Voila.ip={HOST}",
    ]
    # Own session: the terminal's Ctrl-C reaches only this script, which then stops Voila itself
    # (otherwise Voila may answer SIGINT with an interactive "shut down? (y/n)" prompt).
    return subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, start_new_session=True)


def _announce_when_listening(proc: subprocess.Popen, port: int, url: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection((HOST, port), timeout=1):
                print(f"Labs: {url} (Voila is ready)", flush=True)
                return
        except OSError:
            time.sleep(0.5)
    if proc.poll() is not None:
        print(f"Labs: Voila exited with code {proc.returncode}; the book is still served", flush=True)


def _stop_voila(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main() -> int:
    if not (SITE / "index.html").exists():
        print(f"{SITE.relative_to(ROOT)}/index.html not found: build the book first (make book)",
              file=sys.stderr)
        return 1

    book_port = _choose_port("BOOK_PORT", 8000)
    httpd = _start_book(book_port)
    print(f"Book: http://{HOST}:{book_port}/", flush=True)

    voila = None
    labs = sorted(LABS.glob("*.ipynb"))
    if labs:
        voila_port = _choose_port("VOILA_PORT", 8866)
        voila = _start_voila(voila_port)
        url = f"http://{HOST}:{voila_port}/"
        print(f"Labs: {url} (starting Voila for {len(labs)} notebook(s) in "
              f"{LABS.relative_to(ROOT)}/)", flush=True)
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
            _stop_voila(voila)
        httpd.shutdown()
        httpd.server_close()
    print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
