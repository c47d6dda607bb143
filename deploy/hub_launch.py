"""Start and stop the local Hub (deploy/jupyterhub_config.py) from Python, on free loopback
ports with a state directory of its own: shared by tests/hub and benchmarks/bench_hub.py, so
both run the Hub exactly as `make hub` does, only with the idle limits they pass in `env`.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests

DEPLOY = Path(__file__).resolve().parent
ROOT = DEPLOY.parent
HOST = "127.0.0.1"


def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class LocalHub:
    url: str
    proc: subprocess.Popen
    state: Path
    log: Path
    password: str
    known: dict[int, psutil.Process] = field(default_factory=dict)  # seen in this Hub's tree

    def processes(self) -> list[psutil.Process]:
        """The Hub, its proxy and culler, and every student's server and kernel: the Hub's
        process tree plus any process carrying this Hub's SMI_HUB_STATE (a kernel whose server
        died is re-parented out of the tree)."""
        found: dict[int, psutil.Process] = {}
        try:
            hub = psutil.Process(self.proc.pid)
            for p in [hub, *hub.children(recursive=True)]:
                found[p.pid] = p
        except psutil.NoSuchProcess:
            pass
        for p in psutil.process_iter(["environ"]):
            try:
                if (p.info["environ"] or {}).get("SMI_HUB_STATE") == str(self.state):
                    found[p.pid] = p
            except (psutil.Error, TypeError):
                pass
        self.known.update(found)  # Process objects: is_running() guards against reused pids
        return list(found.values())

    def user_processes(self) -> list[psutil.Process]:
        """Students' servers and kernels only."""
        out = []
        for p in self.processes():
            try:
                if (p.environ() or {}).get("JUPYTERHUB_USER") or "ipykernel" in " ".join(p.cmdline()):
                    out.append(p)
            except psutil.Error:
                pass
        return out

    def rss_mb(self) -> float:
        total = 0
        for p in self.processes():
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total / 2**20

    def login(self, user: str, timeout: float = 300) -> requests.Session:
        """Log in over HTTP as a browser does (form + _xsrf), wait until the user's server
        answers its default URL, and return the session (cookies)."""
        s = requests.Session()
        r = s.get(f"{self.url}/hub/login", timeout=30)
        m = re.search(r'name="_xsrf" value="([^"]+)"', r.text)
        if not m:
            raise RuntimeError(f"no _xsrf field on {r.url} (status {r.status_code})")
        r = s.post(f"{self.url}/hub/login", data={"username": user, "password": self.password,
                                                 "_xsrf": m.group(1)}, timeout=timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = s.get(f"{self.url}/user/{user}/labs", timeout=timeout)
            if r.status_code == 200 and r.url.endswith(f"/user/{user}/labs"):
                return s
            time.sleep(1)
        raise RuntimeError(f"{user}'s server did not answer within {timeout} s (last: {r.status_code} {r.url})")

    def stop(self, timeout: float = 90) -> None:
        """SIGTERM the Hub (it stops the servers, the culler and the proxy), SIGKILL after
        `timeout`, then kill anything of this Hub still running."""
        self.processes()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.processes()
        for p in self.known.values():
            try:
                if p.pid != os.getpid() and p.is_running():
                    p.kill()
            except psutil.Error:
                pass


def start_hub(state: Path, env: dict[str, str] | None = None, password: str = "class-of-2026",
              timeout: float = 180) -> LocalHub:
    """Start `jupyterhub -f deploy/jupyterhub_config.py` with its state in `state`, on three
    free loopback ports; return once the Hub answers through the proxy."""
    state.mkdir(parents=True, exist_ok=True)
    public, api, proxy_api = free_ports(3)
    full_env = {**os.environ, "SMI_HUB_PASSWORD": password, "SMI_HUB_STATE": str(state),
                "SMI_HUB_PORT": str(public), "SMI_HUB_API_PORT": str(api),
                "SMI_HUB_PROXY_API_PORT": str(proxy_api), "PYTHONUNBUFFERED": "1", **(env or {})}
    log = state / "hub.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(DEPLOY / "jupyterhub_config.py")],
                                cwd=state, env=full_env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    hub = LocalHub(f"http://{HOST}:{public}", proc, state.resolve(), log, password)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            hub.stop(timeout=5)  # its proxy may outlive it
            raise RuntimeError(f"the Hub exited with code {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            hub.processes()  # remember the proxy and culler as soon as they exist
            if requests.get(f"{hub.url}/hub/api", timeout=2).status_code == 200:
                return hub
        except requests.RequestException:
            pass
        time.sleep(0.5)
    hub.stop(timeout=10)
    raise RuntimeError(f"the Hub did not answer within {timeout} s:\n{log.read_text()[-3000:]}")
