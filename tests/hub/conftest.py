"""The labs on a real JupyterHub (deploy/jupyterhub_config.py, `make hub`) on 127.0.0.1:
configurable-http-proxy from node_modules (`npm ci`), jupyterhub-idle-culler, the local test
authenticator, one Jupyter Server per student. Idle limits are shortened (HUB_ENV) so culling is
seen within the test; everything else is the configuration a school gets."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy"))
import hub_launch  # noqa: E402

# Shortened idle limits. A server is culled after SERVER_IDLE_S without activity. The Hub sees no
# activity from a server while its first lab page renders (server start, then a cold kernel
# running the lab, ~5 s of CPU), which took 60-140 s while other heavy jobs shared this machine;
# limits of 60 s and 120 s then culled servers under pages being rendered.
# HUB_TEST_SERVER_IDLE_S raises the limit on such a machine. Kernels of closed pages go after
# KERNEL_IDLE_S, well inside the server's limit, so kernel culling is seen in a running server.
SERVER_IDLE_S = int(os.environ.get("HUB_TEST_SERVER_IDLE_S", "120"))
CULL_EVERY_S, ACTIVITY_S, KERNEL_IDLE_S = 10, 10, 60
HUB_ENV = {"SMI_HUB_CULL_TIMEOUT": str(SERVER_IDLE_S), "SMI_HUB_CULL_EVERY": str(CULL_EVERY_S),
           "SMI_HUB_ACTIVITY_INTERVAL": str(ACTIVITY_S), "SMI_HUB_KERNEL_CULL_TIMEOUT": str(KERNEL_IDLE_S),
           "SMI_HUB_KERNEL_CULL_INTERVAL": "5"}


@pytest.fixture(scope="session")
def hub(tmp_path_factory):
    if not (ROOT / "node_modules" / ".bin" / "configurable-http-proxy").exists():
        pytest.fail("node_modules/.bin/configurable-http-proxy missing: run `npm ci` at the repo root")
    h = hub_launch.start_hub(tmp_path_factory.mktemp("hub"), env=HUB_ENV)
    h.idle_rss_mb = h.rss_mb()  # Hub + proxy + culler, before any student
    yield h
    h.stop()



