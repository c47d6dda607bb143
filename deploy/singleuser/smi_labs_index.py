"""Jupyter Server extension: the labs' index at <server>/labs, where a student lands after login.

Voila's own listing (/voila/tree) shows bare file names; this page names each lab and says what
it is about (the opening sentence of the lab notebook's first cell), and links to the lab
rendered by Voila. It loads nothing but itself (inline style, no script).
Enabled by deploy/hub_settings.server_config() (ServerApp.jpserver_extensions), importable
through PYTHONPATH=deploy/singleuser.
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web

ORDER = ["linkage_lab", "capability_lab", "dysfunction_lab"]

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Labs - Sales &amp; Marketing, Connected</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem;
       line-height: 1.5; color: #1a1a1a; }}
li {{ margin: 0 0 1.2rem; }} a {{ font-size: 1.15rem; font-weight: 600; color: #0b5394; }}
p {{ margin: .2rem 0; }} .who {{ color: #555; }}
</style></head>
<body><main>
<h1>Labs</h1>
<p class="who">Signed in as {user}. The first lab you open takes a few seconds to start;
the next ones are quicker.</p>
<ul class="smi-labs-index">
{items}
</ul>
</main></body></html>
"""


def _about(nb_path: Path) -> str:
    """The opening sentence of the notebook's first Markdown cell, without Markdown emphasis."""
    try:
        cells = json.loads(nb_path.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, json.JSONDecodeError):
        return ""
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            text = "".join(cell.get("source", ""))
            text = text.split(" · ", 1)[-1]  # drop the book's name before the study
            text = re.sub(r"[*_`]", "", text)
            return re.split(r"(?<=\.)\s", text.strip(), maxsplit=1)[0]
    return ""


def labs(root: Path) -> list[tuple[str, str, str]]:
    """(notebook file name, title, about) for every lab notebook in the server's root."""
    names = sorted((p.stem for p in root.glob("*_lab.ipynb")),
                   key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))
    return [(f"{n}.ipynb", n.replace("_", " ").capitalize(), _about(root / f"{n}.ipynb")) for n in names]


class LabsIndexHandler(JupyterHandler):
    @web.authenticated
    def get(self) -> None:
        root = Path(self.settings["server_root_dir"]).expanduser()
        items = "\n".join(
            f'<li><a href="{html.escape(url_path_join(self.base_url, "voila/render", name))}">'
            f"{html.escape(title)}</a><p>{html.escape(about)}</p></li>"
            for name, title, about in labs(root))
        user = getattr(self.current_user, "username", None) or getattr(self.current_user, "name", "")
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish(PAGE.format(user=html.escape(str(user)), items=items))


def _jupyter_server_extension_points():
    return [{"module": "smi_labs_index"}]


def _load_jupyter_server_extension(serverapp) -> None:
    base = serverapp.web_app.settings["base_url"]
    serverapp.web_app.add_handlers(".*$", [(url_path_join(base, "labs"), LabsIndexHandler)])
