"""The Voila labs served over HTTP on 127.0.0.1, without a browser (the browser tests drive them).

Two servers, both from the venv and both reading the repo's voila.json from the repo root:
- standalone Voila on widgets/labs, started like `make serve` does (scripts/serve.py), with its
  kernel pools shrunk to one kernel per lab (voila.json sizes them for a class: 30+ kernels);
- a Jupyter Server with Voila's server extension (how JupyterHub / BinderHub serve the labs), at
  /voila/render/widgets/labs/<lab>.ipynb.
Every lab page must answer 200 with the lab rendered, no traceback, no error output, and load no
script or stylesheet from another host. Every wait is bounded; the servers and their kernels are
always stopped.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
LABS = sorted((ROOT / "widgets" / "labs").glob("*.ipynb"))
START_LIMIT_S = 60     # server listening
PAGE_LIMIT_S = 180     # one lab page, kernel start and notebook run included
SMALL_POOLS = {"VoilaKernelManager": {"kernel_pools_config": {"default": {"pool_size": 1}}}}


def _serve():
    spec = importlib.util.spec_from_file_location("smi_serve", ROOT / "scripts" / "serve.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


serve = _serve()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(cmd: list[str], env: dict, cwd: Path, port: int, log: Path) -> subprocess.Popen:
    out = open(log, "wb")
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True)
    out.close()
    deadline = time.monotonic() + START_LIMIT_S
    while True:
        if proc.poll() is not None:
            pytest.fail(f"{cmd[2]} exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            if time.monotonic() > deadline:
                serve.stop_server(proc)
                pytest.fail(f"{cmd[2]} did not listen on 127.0.0.1:{port} within {START_LIMIT_S} s")
            time.sleep(0.2)


def _get(url: str, headers: dict | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=PAGE_LIMIT_S) as r:
            return r.status, r.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", errors="replace")


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("voila")
    work = tmp / "cwd"
    work.mkdir()
    port = _free_port()
    cmd, env, cwd = serve.voila_command(port, tuned=True, overrides=SMALL_POOLS, workdir=work)
    assert cwd == ROOT, "Voila must start in the repo root to read voila.json"
    proc = _start(cmd, env, cwd, port, tmp / "voila.log")
    try:
        yield f"http://127.0.0.1:{port}", tmp / "voila.log"
    finally:
        serve.stop_server(proc)


@pytest.fixture(scope="module")
def jupyter_server(tmp_path_factory):
    """A Jupyter Server with the Voila extension, in the repo root (so the extension reads
    voila.json), with its own config and runtime directories and a random token."""
    tmp = tmp_path_factory.mktemp("jupyter")
    port = _free_port()
    token = secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp / "config"), "JUPYTER_RUNTIME_DIR": str(tmp / "runtime")}
    env["JUPYTER_PATH"] = os.pathsep.join([str(serve.SHARE), *[p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]])
    # --allow-root: CI containers run as root; the flag changes nothing for another user
    cmd = [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--ServerApp.root_dir={ROOT}",
           f"--IdentityProvider.token={token}", f"--VoilaConfiguration.template={serve.VOILA_TEMPLATE}"]
    proc = _start(cmd, env, ROOT, port, tmp / "server.log")
    try:
        yield f"http://127.0.0.1:{port}", {"Authorization": f"token {token}"}
    finally:
        serve.stop_server(proc)


class _Loads(HTMLParser):
    """What the page itself makes the browser fetch: script src, stylesheet / preload links."""

    def __init__(self):
        super().__init__()
        self.loads: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.loads.append(a["src"])
        rel = (a.get("rel") or "").lower().split()
        if tag == "link" and a.get("href") and ({"stylesheet", "preload", "modulepreload", "import"} & set(rel)):
            self.loads.append(a["href"])


def _check_page(status: int, html: str, where: str) -> None:
    assert status == 200, f"{where}: HTTP {status}\n{html[-2000:]}"
    assert "application/vnd.jupyter.widget-view+json" in html, f"{where}: the lab displayed no widget"
    for bad in ("Traceback (most recent call last)", "There was an error when executing cell",
                "Cell execution timed out", "An exception occurred at the server"):
        assert bad not in html, f"{where}: the page shows {bad!r}"
    assert not re.search(r'"output_type":\s*"error"', html), f"{where}: a cell output is an error"
    p = _Loads()
    p.feed(html)
    external = [u for u in p.loads if urlparse(u).hostname not in (None, "127.0.0.1", "localhost")]
    assert not external, f"{where}: the page loads from another host: {external}"


def test_lab_notebooks_exist():
    assert LABS, "no lab notebooks in widgets/labs/*.ipynb"


def _labs():
    return [pytest.param(p, id=p.stem) for p in LABS] or [pytest.param(None, id="no-labs")]


@pytest.mark.parametrize("lab", _labs())
def test_standalone_voila_serves_lab(standalone, lab):
    if lab is None:
        pytest.fail("no lab notebooks in widgets/labs/*.ipynb")
    base, _ = standalone
    url = f"{base}/voila/render/{lab.name}"
    assert url in serve.lab_urls(int(urlparse(base).port)), "serve.py prints a different URL"
    status, html = _get(url)
    _check_page(status, html, url)
    assert f"/voila/templates/{serve.VOILA_TEMPLATE}/static/" in html, "not rendered with the smi-lab template"


@pytest.mark.parametrize("lab", _labs())
def test_jupyter_server_extension_serves_lab(jupyter_server, lab):
    if lab is None:
        pytest.fail("no lab notebooks in widgets/labs/*.ipynb")
    base, headers = jupyter_server
    url = f"{base}/voila/render/{lab.relative_to(ROOT).as_posix()}"
    status, html = _get(url, headers)
    _check_page(status, html, url)


def test_standalone_uses_preheated_kernels(standalone):
    """voila.json's pools are live: a page is served by a kernel from the pool."""
    base, log = standalone
    if not LABS:
        pytest.fail("no lab notebooks in widgets/labs/*.ipynb")
    _get(f"{base}/voila/render/{LABS[0].name}")
    assert "Using pre-heated kernel" in log.read_text(errors="replace")


def test_voila_json_is_applied():
    """Build the Voila application exactly as `voila widgets/labs` does from the repo root (in a
    subprocess: Voila installs signal handlers) and compare its live settings with voila.json."""
    conf = json.loads((ROOT / "voila.json").read_text(encoding="utf-8"))
    probe = r"""
import json, sys, tornado.web
from voila.app import Voila
import nbformat
from voila.execute import VoilaExecutor
app = Voila()
app.initialize(sys.argv[1:])
app.app = tornado.web.Application(**app.init_settings())
km, vc = app.kernel_manager, app.voila_configuration
ex = VoilaExecutor(nbformat.v4.new_notebook(), config=app.config)
print(json.dumps({
    "loaded": app.loaded_config_files, "Voila": {"ip": app.ip, "port_retries": app.port_retries},
    "VoilaConfiguration": {k: getattr(vc, k) for k in %s},
    "VoilaKernelManager": {"kernel_pools_config": km.kernel_pools_config, "fill_delay": km.fill_delay},
    "MappingKernelManager": {k: getattr(km, k) for k in %s},
    "VoilaExecutor": {k: getattr(ex, k) for k in %s},
    "km_class": type(km).__name__}))
""" % (list(conf["VoilaConfiguration"]), list(conf["MappingKernelManager"]), list(conf["VoilaExecutor"]))
    r = subprocess.run([sys.executable, "-c", probe, "widgets/labs"], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    live = json.loads(r.stdout.strip().splitlines()[-1])
    assert str(ROOT / "voila.json") in live["loaded"]
    assert live["km_class"] == "VoilaKernelManager"  # preheat_kernel took effect
    for section in ("Voila", "VoilaConfiguration", "VoilaKernelManager", "MappingKernelManager", "VoilaExecutor"):
        for key, value in conf[section].items():
            assert live[section][key] == value, f"{section}.{key}: voila.json says {value!r}, Voila uses {live[section][key]!r}"
