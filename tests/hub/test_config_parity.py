"""deploy/jupyterhub_config.py (the local run) and deploy/z2jh-config.yaml (Zero to JupyterHub)
say the same: both files are parsed as JupyterHub / Helm read them and every shared setting is
compared. Also: the local-only authenticator stays local, and bad settings get a clear message."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from jupyterhub.traitlets import ByteSpecification
from traitlets.config.loader import PyFileConfigLoader

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
IMAGE_REPO = Path("/srv/smi")  # where z2jh-config.yaml says repo2docker puts the repository


def _clean_env(monkeypatch, tmp_path) -> None:
    for k in list(os.environ):
        if k.startswith("SMI_HUB_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("SMI_HUB_PASSWORD", "parity-check-only")
    monkeypatch.setenv("SMI_HUB_STATE", str(tmp_path))


@pytest.fixture
def local(monkeypatch, tmp_path):
    """The Hub's configuration exactly as `jupyterhub -f deploy/jupyterhub_config.py` loads it,
    with no SMI_HUB_* overrides (what `make hub` runs)."""
    _clean_env(monkeypatch, tmp_path)
    cfg = PyFileConfigLoader("jupyterhub_config.py", path=str(DEPLOY)).load_config()
    server = json.loads((tmp_path / "singleuser-config" / "jupyter_server_config.json").read_text())
    return cfg, server


@pytest.fixture(scope="module")
def z2jh():
    return yaml.safe_load((DEPLOY / "z2jh-config.yaml").read_text(encoding="utf-8"))


def _bytes(v) -> int:
    return ByteSpecification().validate(None, v)


def _culler_opts(cfg) -> dict[str, str]:
    (svc,) = [s for s in cfg.JupyterHub.services if s["name"] == "idle-culler"]
    assert svc["command"][1:3] == ["-m", "jupyterhub_idle_culler"]
    return dict(a[2:].split("=", 1) for a in svc["command"][3:])


def test_same_default_url_and_lab_location(local, z2jh):
    cfg, _ = local
    su = z2jh["singleuser"]
    assert cfg.Spawner.default_url == su["defaultUrl"] == "/labs"
    # the server's root is the labs folder in both: labs at /user/<name>/voila/render/<lab>.ipynb
    assert Path(cfg.Spawner.notebook_dir).relative_to(ROOT) == Path(su["notebookDir"]).relative_to(IMAGE_REPO) \
        == Path("widgets/labs")
    for lab in ("linkage_lab", "capability_lab", "dysfunction_lab"):
        assert (Path(cfg.Spawner.notebook_dir) / f"{lab}.ipynb").exists()


def test_same_limits_per_student(local, z2jh):
    cfg, _ = local
    su = z2jh["singleuser"]
    assert _bytes(cfg.Spawner.mem_limit) == _bytes(su["memory"]["limit"]) == int(1.5 * 2**30)
    assert _bytes(cfg.Spawner.mem_guarantee) == _bytes(su["memory"]["guarantee"])
    assert float(cfg.Spawner.cpu_limit) == float(su["cpu"]["limit"])
    assert float(cfg.Spawner.cpu_guarantee) == float(su["cpu"]["guarantee"])
    assert cfg.Spawner.start_timeout == su["startTimeout"]


def test_same_server_culling(local, z2jh):
    cfg, _ = local
    opts, cull = _culler_opts(cfg), z2jh["cull"]
    assert cull["enabled"] is True
    assert int(opts["timeout"]) == cull["timeout"] == 3600
    assert int(opts["cull-every"]) == cull["every"]
    assert int(opts["concurrency"]) == cull["concurrency"]
    assert cull["users"] is False and cull["maxAge"] == 0 and "max-age" not in opts and "cull-users" not in opts
    # the culler may stop servers, and nothing more
    (role,) = [r for r in cfg.JupyterHub.load_roles if r["name"] == "idle-culler"]
    assert set(role["scopes"]) == {"list:users", "read:users:activity", "read:servers", "delete:servers"}
    # activity reaches the Hub as often in both (proxy -> Hub, and each server -> Hub)
    interval = z2jh["hub"]["config"]["JupyterHub"]["last_activity_interval"]
    assert cfg.JupyterHub.last_activity_interval == interval
    assert cfg.Spawner.environment["JUPYTERHUB_ACTIVITY_INTERVAL"] == z2jh["singleuser"]["extraEnv"][
        "JUPYTERHUB_ACTIVITY_INTERVAL"] == str(interval)


def test_same_server_configuration_voila_and_kernel_culling(local, z2jh):
    cfg, server = local
    (f,) = z2jh["singleuser"]["extraFiles"].values()
    assert f["mountPath"].startswith("/etc/jupyter/") and f["mountPath"].endswith("jupyter_server_config.json")
    assert f["data"] == server
    voila = json.loads((ROOT / "voila.json").read_text())
    assert server["MappingKernelManager"] == voila["MappingKernelManager"]  # voila.json's kernel culling
    assert server["VoilaConfiguration"] == {**voila["VoilaConfiguration"], "template": "smi-lab"}
    assert server["ServerApp"]["jpserver_extensions"] == {"voila": True, "smi_labs_index": True}
    assert server["ServerApp"]["tornado_settings"] == {"mathjax_url": None, "mathjax_config": None}  # no MathJax from a CDN
    # template and index extension are found the same way (relative to the repository)
    env, extra = cfg.Spawner.environment, z2jh["singleuser"]["extraEnv"]
    for key in ("JUPYTER_PATH", "PYTHONPATH"):
        assert Path(env[key]).relative_to(ROOT) == Path(extra[key]).relative_to(IMAGE_REPO), key
    assert (Path(env["JUPYTER_PATH"]) / "voila" / "templates" / "smi-lab").is_dir()
    assert (Path(env["PYTHONPATH"]) / "smi_labs_index.py").exists()


def test_local_run_binds_loopback_only_and_its_login_stays_local(local, z2jh):
    cfg, _ = local
    for url in (cfg.JupyterHub.bind_url, cfg.JupyterHub.hub_bind_url, cfg.ConfigurableHTTPProxy.api_url):
        assert url.startswith("http://127.0.0.1:"), url
    assert cfg.Spawner.ip == "127.0.0.1"
    assert cfg.JupyterHub.authenticator_class == "shared-password"
    auth = z2jh["hub"]["config"]["JupyterHub"]["authenticator_class"]
    assert auth not in ("dummy", "shared-password", "null") and "Dummy" not in auth and "SharedPassword" not in auth
    assert z2jh["hub"]["config"]["Authenticator"]["allow_all"] is False
    assert "SharedPasswordAuthenticator" not in z2jh["hub"]["config"]


def _load_with(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    code = ("from traitlets.config.loader import PyFileConfigLoader as L; "
            f"L('jupyterhub_config.py', path={str(DEPLOY)!r}).load_config()")
    base = {k: v for k, v in os.environ.items() if not k.startswith("SMI_HUB_")}
    return subprocess.run([sys.executable, "-c", code], env={**base, "SMI_HUB_STATE": str(tmp_path), **env},
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("env, message", [
    ({}, "SMI_HUB_PASSWORD is not set"),
    ({"SMI_HUB_PASSWORD": "short"}, "SMI_HUB_PASSWORD is not set or shorter than 8"),
    ({"SMI_HUB_PASSWORD": "long-enough", "SMI_HUB_CULL_TIMEOUT": "an hour"},
     "SMI_HUB_CULL_TIMEOUT='an hour': not a whole number"),
    ({"SMI_HUB_PASSWORD": "long-enough", "SMI_HUB_PORT": "0"}, "SMI_HUB_PORT=0: must be at least 1"),
])
def test_bad_settings_get_a_clear_message(env, message, tmp_path):
    r = _load_with(env, tmp_path)
    assert r.returncode != 0 and message in r.stderr, r.stderr[-800:]
