# JupyterHub configuration: the Voila labs for a whole school, on one machine (`make hub`).
#
# Students log in; each gets a Jupyter Server of their own that serves the labs at
#   /user/<name>/voila/render/{linkage,capability,dysfunction}_lab.ipynb
# with the repo's CDN-free smi-lab template and voila.json's settings, and lands on
# /user/<name>/labs (an index of the three labs). Idle servers are stopped by
# jupyterhub-idle-culler (a Hub service); idle kernels inside a server by the server itself.
# The same settings for Zero to JupyterHub: deploy/z2jh-config.yaml (values shared through
# deploy/hub_settings.py and cross-checked by tests/hub/test_config_parity.py). Docs:
# docs/deploy-hub.md.
#
# LOCAL RUN ONLY: the authenticator below takes any user name with one shared password
# (SMI_HUB_PASSWORD) and SimpleLocalProcessSpawner runs every student's server as the same OS
# user. A school uses its single sign-on authenticator (OAuthenticator / LTI / LDAP) and a
# spawner that isolates users (KubeSpawner on Zero to JupyterHub; SystemdSpawner on TLJH).
#
# Run: SMI_HUB_PASSWORD=... .venv/bin/jupyterhub -f deploy/jupyterhub_config.py
# (or `make hub`); other SMI_HUB_* variables: deploy/hub_settings.py.
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hub_settings as S  # noqa: E402

c = get_config()  # noqa: F821 - provided by JupyterHub when it loads this file

HOST = "127.0.0.1"  # loopback only; a school puts TLS and its domain in front (docs/deploy-hub.md)
ports = S.ports()
state = S.state_dir()
state.mkdir(parents=True, exist_ok=True)

chp = S.ROOT / "node_modules" / ".bin" / "configurable-http-proxy"
if not chp.exists():
    raise SystemExit(f"{chp} not found: run `npm ci` in {S.ROOT} (package.json pins "
                     "configurable-http-proxy)")

# ---------------------------------------------------------------- network, proxy, state
c.JupyterHub.bind_url = f"http://{HOST}:{ports['public']}/"
c.JupyterHub.hub_bind_url = f"http://{HOST}:{ports['hub_api']}"
c.ConfigurableHTTPProxy.api_url = f"http://{HOST}:{ports['proxy_api']}"
c.ConfigurableHTTPProxy.command = [str(chp)]
c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
c.JupyterHub.cleanup_servers = True  # stopping the Hub stops every student's server
c.JupyterHub.last_activity_interval = S.activity_interval()

# ---------------------------------------------------------------- login (local run only)
# SharedPasswordAuthenticator is JupyterHub's replacement for DummyAuthenticator.password
# (deprecated since 5.3): any user name, one shared password. Never for a real class.
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = S.shared_password()
c.Authenticator.allow_all = True

# ---------------------------------------------------------------- each student's server
c.JupyterHub.spawner_class = "simple"  # SimpleLocalProcessSpawner: no system users needed
c.SimpleLocalProcessSpawner.home_dir_template = str(state / "home" / "{username}")
c.Spawner.cmd = [str(Path(sys.executable).parent / "jupyterhub-singleuser")]
c.Spawner.notebook_dir = str(S.LABS)  # labs at /user/<name>/voila/render/<lab>.ipynb
c.Spawner.default_url = S.DEFAULT_URL
c.Spawner.ip = HOST
c.Spawner.start_timeout = S.START_TIMEOUT_S
c.Spawner.http_timeout = S.HTTP_TIMEOUT_S
if os.geteuid() == 0:  # containers and CI run as root; the Jupyter Server refuses that unless told
    c.Spawner.args = ["--allow-root"]

# Limits per student. SimpleLocalProcessSpawner (like every LocalProcessSpawner) does NOT enforce
# them: it only passes MEM_LIMIT / CPU_LIMIT etc. to the server's environment. They are set here
# so that both configurations carry the same numbers; KubeSpawner (z2jh) enforces them.
c.Spawner.mem_limit = S.MEM_LIMIT
c.Spawner.mem_guarantee = S.MEM_GUARANTEE
c.Spawner.cpu_limit = S.CPU_LIMIT
c.Spawner.cpu_guarantee = S.CPU_GUARANTEE

# The server's own configuration (Voila template and settings, kernel culling, the labs index)
# goes into a config directory of its own, on JUPYTER_CONFIG_PATH; the template is found on the
# Jupyter data path, as scripts/serve.py finds it (JUPYTER_PATH).
server_conf_dir = state / "singleuser-config"
server_conf_dir.mkdir(exist_ok=True)
(server_conf_dir / "jupyter_server_config.json").write_text(
    json.dumps(S.server_config(), indent=2), encoding="utf-8")
c.Spawner.environment = {
    "JUPYTER_CONFIG_PATH": str(server_conf_dir),
    "JUPYTER_PATH": str(S.SHARE),
    "PYTHONPATH": str(S.SINGLEUSER_PYTHONPATH),
    "JUPYTERHUB_ACTIVITY_INTERVAL": str(S.activity_interval()),
    # marks every process of this Hub's servers and kernels (tests and benchmark find them by it)
    "SMI_HUB_STATE": str(state),
}

# ---------------------------------------------------------------- idle culling
c.JupyterHub.services = [{
    "name": "idle-culler",
    "command": [sys.executable, "-m", "jupyterhub_idle_culler", *S.culler_args()],
}]
c.JupyterHub.load_roles = [{
    "name": "idle-culler",
    "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
    "services": ["idle-culler"],
}]
