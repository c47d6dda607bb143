"""The labs on JupyterHub: the settings shared by deploy/jupyterhub_config.py (the local run, `make
hub`) and deploy/z2jh-config.yaml (Zero to JupyterHub), in one place so a test can check that the
two say the same (tests/hub/test_config_parity.py).

Local run overrides (environment, all optional but the password; used by tests/hub and
benchmarks/bench_hub.py to shorten the idle limits):

    SMI_HUB_PASSWORD              shared password of the local test authenticator (required, >= 8 chars)
    SMI_HUB_PORT                  public port on 127.0.0.1 (default 8010)
    SMI_HUB_API_PORT              the Hub's own API port on 127.0.0.1 (default 8011)
    SMI_HUB_PROXY_API_PORT        configurable-http-proxy's REST API port on 127.0.0.1 (default 8012)
    SMI_HUB_STATE                 directory for the Hub's database, secrets, logs, user homes
                                  (default _build/hub)
    SMI_HUB_CULL_TIMEOUT          seconds without activity before the idle culler stops a server
    SMI_HUB_CULL_EVERY            seconds between the idle culler's checks
    SMI_HUB_ACTIVITY_INTERVAL     seconds between activity reports (proxy -> Hub, server -> Hub)
    SMI_HUB_KERNEL_CULL_TIMEOUT   seconds before an idle kernel is shut down inside a server
    SMI_HUB_KERNEL_CULL_INTERVAL  seconds between those checks
"""
from __future__ import annotations

import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
LABS = ROOT / "widgets" / "labs"
SHARE = ROOT / "share" / "jupyter"          # Jupyter data dir holding the smi-lab Voila template
VOILA_JSON = ROOT / "voila.json"
SINGLEUSER_PYTHONPATH = DEPLOY / "singleuser"  # the smi_labs_index server extension
VOILA_TEMPLATE = "smi-lab"
LAB_NAMES = ["linkage_lab", "capability_lab", "dysfunction_lab"]

# What a school runs. Each value is mirrored in deploy/z2jh-config.yaml.
DEFAULT_URL = "/labs"            # smi_labs_index: the three labs, with what each is about
CULL_TIMEOUT_S = 3600            # a server idle for an hour is stopped (and its kernels with it)
CULL_EVERY_S = 300
CULL_CONCURRENCY = 10
ACTIVITY_INTERVAL_S = 300        # JupyterHub's default for both reports
MEM_LIMIT = "1.5G"               # server (~0.15 GB) + three lab kernels (0.19-0.26 GB each) + reloads
MEM_GUARANTEE = "700M"           # server + one lab kernel + headroom
CPU_LIMIT = 1.0
CPU_GUARANTEE = 0.1
START_TIMEOUT_S = 300            # a class arriving at once queues on the CPU: 60 s (the default) is too short
HTTP_TIMEOUT_S = 120


def _env_int(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"environment variable {name}={raw!r}: not a whole number of seconds/port") from None
    if value < minimum:
        raise SystemExit(f"environment variable {name}={value}: must be at least {minimum}")
    return value


def voila_settings() -> dict:
    """The labs' Voila settings (voila.json), read as the standalone server reads them."""
    try:
        data = json.loads(VOILA_JSON.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise SystemExit(f"{VOILA_JSON}: cannot read the labs' Voila settings: {e}") from None
    for section in ("VoilaConfiguration", "MappingKernelManager"):
        if not isinstance(data.get(section), dict):
            raise SystemExit(f"{VOILA_JSON}: field {section!r} missing or not an object "
                             f"(got {data.get(section)!r})")
    return data


def kernel_culling() -> dict:
    """Kernel culling inside each user's server: voila.json's MappingKernelManager section (the
    Voila server extension does not apply it itself), optionally shortened for tests."""
    mkm = dict(voila_settings()["MappingKernelManager"])
    mkm["cull_idle_timeout"] = _env_int("SMI_HUB_KERNEL_CULL_TIMEOUT", mkm["cull_idle_timeout"])
    mkm["cull_interval"] = _env_int("SMI_HUB_KERNEL_CULL_INTERVAL", mkm["cull_interval"])
    return mkm


def server_config() -> dict:
    """Jupyter Server configuration of every user's server (written as jupyter_server_config.json:
    by jupyterhub_config.py into the local state directory, by z2jh-config.yaml's
    singleuser.extraFiles into the image)."""
    voila = voila_settings()["VoilaConfiguration"]
    return {
        "ServerApp": {
            "jpserver_extensions": {"voila": True, "smi_labs_index": True},
            # As a server extension Voila's page loads MathJax from cdnjs unless both are null (as
            # standalone Voila has them): no page may load anything from another host, and the
            # labs need no LaTeX.
            "tornado_settings": {"mathjax_url": None, "mathjax_config": None},
        },
        "MappingKernelManager": kernel_culling(),
        # preheat_kernel is a standalone-Voila feature: a server extension has no kernel pools
        "VoilaConfiguration": {**voila, "template": VOILA_TEMPLATE},
    }


def culler_args() -> list[str]:
    """jupyterhub-idle-culler's arguments (z2jh's cull.* values produce the same)."""
    return [f"--timeout={_env_int('SMI_HUB_CULL_TIMEOUT', CULL_TIMEOUT_S)}",
            f"--cull-every={_env_int('SMI_HUB_CULL_EVERY', CULL_EVERY_S)}",
            f"--concurrency={CULL_CONCURRENCY}"]


def activity_interval() -> int:
    return _env_int("SMI_HUB_ACTIVITY_INTERVAL", ACTIVITY_INTERVAL_S)


def ports() -> dict[str, int]:
    p = {"public": _env_int("SMI_HUB_PORT", 8010), "hub_api": _env_int("SMI_HUB_API_PORT", 8011),
         "proxy_api": _env_int("SMI_HUB_PROXY_API_PORT", 8012)}
    if len(set(p.values())) != 3:
        raise SystemExit(f"SMI_HUB_PORT, SMI_HUB_API_PORT, SMI_HUB_PROXY_API_PORT must differ: {p}")
    return p


def state_dir() -> Path:
    return Path(os.environ.get("SMI_HUB_STATE") or ROOT / "_build" / "hub").resolve()


def shared_password() -> str:
    pw = os.environ.get("SMI_HUB_PASSWORD", "")
    if len(pw) < 8:
        raise SystemExit("SMI_HUB_PASSWORD is not set or shorter than 8 characters: the local Hub's "
                         "test authenticator needs a shared password, e.g. "
                         "SMI_HUB_PASSWORD=$(openssl rand -hex 8) make hub")
    return pw
