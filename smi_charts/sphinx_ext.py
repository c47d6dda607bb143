"""Sphinx extension: serve the book's own assets from the site, never from another host.

* smi.js / smi.css (components) go on every page;
* the Vega + Vega-Lite + vega-embed bundle that vl-convert ships (offline, ~0.9 MB) is written
  into _static/vendor/ and added only to pages that embed a chart.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import vl_convert as vlc

STATIC = Path(__file__).parent / "static"
BUNDLE = "vendor/vega-embed-bundle.js"
VL_VERSION = "6.4"  # the Vega-Lite schema Altair 6 writes


def _write_assets(app) -> None:
    if app.builder.format != "html":
        return
    out = Path(app.builder.outdir) / "_static"
    (out / "vendor").mkdir(parents=True, exist_ok=True)
    # The bundle's top-level names (e.g. `_`) would clash with Sphinx's own scripts in the shared
    # global scope; a function scope keeps them private (it publishes window.vegaEmbed itself).
    bundle = vlc.javascript_bundle(vl_version=VL_VERSION)
    (out / BUNDLE).write_text(f"(function () {{\n{bundle}\n}})();\n", encoding="utf-8")
    for f in ("smi.js", "smi.css"):
        shutil.copyfile(STATIC / f, out / f)


def _page_assets(app, pagename, templatename, context, doctree) -> None:
    if "smiEmbed(" in (context.get("body") or ""):
        # page-specific: Sphinx restores its JS list before each page (priority: before smi.js)
        app.add_js_file(BUNDLE, priority=400)


def setup(app):
    app.add_js_file("smi.js", priority=500)
    app.add_css_file("smi.css")
    app.connect("builder-inited", _write_assets)
    app.connect("html-page-context", _page_assets)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
