"""Sphinx extension: the book's own assets, accessibility fixes and notebook downloads.

* smi.js / smi.css (components) go on every page;
* the Vega + Vega-Lite + vega-embed bundle that vl-convert ships (offline, ~0.9 MB) is written
  into _static/vendor/; a chapter's explorables load it themselves (smi.js, once the first one
  nears the screen: a phone's first visit stays light), under a fingerprinted URL written into
  smi.js here; the health check and the debrief load it through smi.js on their first complete
  answers;
* the theme's Font Awesome icons are drawn as inline SVG at build time and its 1.4 MB
  fontawesome.js is dropped (smi_charts/icons.py);
* each explorable's chart spec (with its data) leaves the page for a script of its own under
  ``_static/specs/``, loaded with Vega when the chart nears the screen (smi_charts/specs.py);
* every page's <head> is made light at build end (smi_charts/head.py): its stylesheets become one,
  purged of the rules no page uses; its scripts are deferred; Sphinx's search index stays on
  search.html;
* every text file of the site over 1 KiB gets a gzip -9 twin (``.gz``) for a host to send as is
  (docs/deploy-book.md: with the cache headers);
* docutils marks a reference list ``role="list"`` but its entries ``role="doc-biblioentry"``,
  which axe reports as a critical ARIA failure (a list must own list items): entries become
  ``listitem``;
* the theme's icon-only sidebar toggles get an accessible name;
* every chapter written as a MyST notebook is also offered as a Jupyter notebook (.ipynb,
  converted by jupytext, no outputs) that runs as-is in JupyterLab with the project's environment;
* the ``smi-diagram`` directive draws a study's framework diagram from ``data/`` at build time
  (DOT from ``smi_charts.diagrams``, rendered to SVG by ``sphinx.ext.graphviz``) with its text
  alternative;
* the site's root ``index.html`` (a redirect to the first chapter) is a whole HTML document, and
  the theme's Jinja macro files that Sphinx copies into ``_static/`` as ``.html`` are removed, so
  every ``.html`` of the site is a valid page (tests/browser/test_html_valid.py).
"""
from __future__ import annotations

import gzip
import html
import posixpath
import re
import shutil
import zlib
from pathlib import Path

import jupytext
import vl_convert as vlc
from docutils import nodes
from sphinx.ext.graphviz import graphviz as graphviz_node
from sphinx.util.docutils import SphinxDirective

from smi_charts import head, icons, specs

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
    for f in ("smi.css", "diagrams.css"):
        shutil.copyfile(STATIC / f, out / f)
    # smi.js loads the bundle itself, under the URL a page's <script> would give it (Sphinx's
    # ?v=<checksum>): a new bundle gets a new URL, so a host may cache it for good
    js = (STATIC / "smi.js").read_text(encoding="utf-8")
    placeholder = f'var BUNDLE = "{BUNDLE}";'
    if placeholder not in js:
        raise RuntimeError(f"smi.js no longer holds {placeholder!r}")
    js = js.replace(placeholder, f'var BUNDLE = "{BUNDLE}?v={_checksum(out / BUNDLE)}";')
    (out / "smi.js").write_text(js, encoding="utf-8")


def _checksum(path: Path) -> str:
    """The fingerprint Sphinx appends to a page's own scripts and stylesheets (?v=...)."""
    content = path.read_bytes().translate(None, b"\r")  # as sphinx.builders.html._assets._file_checksum
    return f"{zlib.crc32(content):08x}"


NOTEBOOKS = "_notebooks"


def _notebook_download(app, pagename: str) -> str | None:
    """Write the page's notebook into the site; return its URL relative to the page."""
    src = Path(app.env.doc2path(pagename))
    if src.suffix != ".md" or "kernelspec:" not in src.read_text(encoding="utf-8")[:600]:
        return None
    target = Path(app.builder.outdir) / NOTEBOOKS / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    jupytext.write(jupytext.read(src), target, fmt="ipynb")
    depth = pagename.count("/")
    return "../" * depth + f"{NOTEBOOKS}/{pagename}.ipynb"


def _page_assets(app, pagename, templatename, context, doctree) -> None:
    body = context.get("body") or ""
    if "smi-diagram-svg" in body:
        body = _diagram_images(app, pagename, body)
    body = re.sub(r'(<div class="citation" id="[^"]*") role="doc-biblioentry"', r'\1 role="listitem"', body)
    if app.builder.name == "html" and doctree is not None:  # not singlehtml (the PDF route)
        url = _notebook_download(app, pagename)
        if url:
            name = pagename.rsplit("/", 1)[-1]
            body = (f'<p class="smi-download"><a href="{url}" download="{name}.ipynb">Download this chapter as a '
                    f"Jupyter notebook (.ipynb)</a>: it runs as-is in JupyterLab with the project's environment.</p>\n"
                    + body)
    context["body"] = body


class DiagramDirective(SphinxDirective):
    """```{smi-diagram} malshe2011``` -- the study's framework diagram, drawn from data/ now."""

    required_arguments = 1

    def run(self):
        from smi import data as smi_data
        from smi_charts import diagrams

        d = diagrams.diagram(self.arguments[0].strip())
        for f in diagrams.SOURCES[d.study]:  # rebuild the page when its data change
            self.env.note_dependency(str(smi_data.data_dir() / f))
        graph = graphviz_node()
        graph["code"] = d.dot
        graph["options"] = {"docname": self.env.docname}
        graph["alt"] = html.escape(d.summary)  # sphinx.ext.graphviz writes alt unescaped
        graph["classes"] = ["smi-diagram-svg"]
        scroll = nodes.container(classes=["smi-diagram-scroll"])
        scroll += graph
        box = nodes.container(classes=["smi-diagram"])
        box += nodes.paragraph(text=d.title, classes=["smi-diagram-title"])
        box += scroll
        box += nodes.raw("", diagrams.text_alternative_html(d), format="html")
        return [box]


# sphinx.ext.graphviz embeds an SVG as <object>, whose drawing keeps its fixed size when the box
# shrinks; as <img> with its size as width/height it scales to the column (phones, print).
_DIAGRAM_OBJECT = re.compile(r'<object data="([^"]+)" type="image/svg\+xml" class="([^"]*smi-diagram-svg[^"]*)">\s*'
                             r'<p class="warning">(.*?)</p></object>', re.S)
_SVG_SIZE = re.compile(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"')


def _diagram_images(app, pagename: str, body: str) -> str:
    def img(m: re.Match) -> str:
        name = m.group(1).rsplit("/", 1)[-1]
        svg = Path(app.builder.outdir) / app.builder.imagedir / name
        size = _SVG_SIZE.search(svg.read_text(encoding="utf-8"))
        w, h = (round(float(v) * 4 / 3) for v in size.groups())  # pt -> CSS px
        # relative to the page: singlehtml writes the root page in book/ but gives "_images/..."
        src = posixpath.relpath(f"{app.builder.imagedir}/{name}", posixpath.dirname(pagename) or ".")
        # not lazy: the print edition is printed right after load, with images below the fold
        return (f'<img src="{src}" alt="{m.group(3)}" class="{m.group(2)}" width="{w}" height="{h}" '
                f'style="min-width: min(440px, {w}px)">')
    return _DIAGRAM_OBJECT.sub(img, body)


TOGGLE = '<summary><span class="toctree-toggle" role="presentation">'


def _label_nav_toggles(app, exception) -> None:
    """The theme's sidebar toggles for nested sections are icon-only <summary> elements, which
    axe reports as unnamed (serious). The sidebar is rendered by the theme's template, after the
    page body, so the name is added to the written pages."""
    if exception is not None or app.builder.format != "html":
        return
    named = '<summary aria-label="Show or hide this section\'s pages"><span class="toctree-toggle" role="presentation">'
    for page in Path(app.builder.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        if TOGGLE in text:
            page.write_text(text.replace(TOGGLE, named), encoding="utf-8")


# Jinja source the themes keep in their static folders (Sphinx copies it into _static/): not
# pages, linked from nowhere, and not valid HTML on their own.
THEME_MACROS = ("webpack-macros.html", "sbt-webpack-macros.html")

REDIRECT = """<!DOCTYPE html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<title>{title}</title>
<meta http-equiv="Refresh" content="0; url={url}">
</head>
<body>
<p><a href="{url}">{title}</a></p>
</body>
</html>
"""


def _valid_html_files(app, exception) -> None:
    """sphinx-external-toc writes the root redirect as a lone <meta> (no doctype, no title): write
    it as a whole document instead (this runs after it, and always, so a stale one is replaced)."""
    if exception is not None or app.builder.format != "html":
        return
    out = Path(app.builder.outdir)
    for name in THEME_MACROS:
        (out / "_static" / name).unlink(missing_ok=True)
    root = app.config.root_doc
    if root == "index":
        return
    url = f"{root}/index.html" if app.builder.name == "dirhtml" else f"{root}.html"
    title = app.config.html_title or app.config.project
    (out / "index.html").write_text(REDIRECT.format(lang=html.escape(app.config.language or "en"),
                                                    title=html.escape(title), url=html.escape(url)), encoding="utf-8")


def _icons(app, exception) -> None:
    """Font Awesome's script draws ~20 icons with a 1.4 MB kit: draw them at build time (icons.py)."""
    if exception is None and app.builder.format == "html":
        icons.rewrite_site(Path(app.builder.outdir))


# Text a host sends compressed; a .gz twin beside each file over 1 KiB, written once here (gzip -9)
# rather than on every request (docs/deploy-book.md). Source maps are left out: never fetched by a
# reader's browser.
COMPRESSIBLE = (".html", ".js", ".css", ".svg", ".json", ".xml", ".txt", ".ipynb", ".md", ".inv")
MIN_COMPRESS = 1024


def _precompress(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    out = Path(app.builder.outdir)
    for stale in out.rglob("*.gz"):
        stale.unlink()
    for f in out.rglob("*"):
        if f.suffix in COMPRESSIBLE and f.is_file() and f.stat().st_size > MIN_COMPRESS:
            data = f.read_bytes()
            packed = gzip.compress(data, compresslevel=9, mtime=0)
            if len(packed) < len(data):
                f.with_name(f.name + ".gz").write_bytes(packed)


def _specs(app, exception) -> None:
    """Each explorable's spec out of its page, loaded when the chart nears the screen (specs.py)."""
    if exception is None and app.builder.name == "html":  # not singlehtml: the print edition draws none
        specs.externalize(Path(app.builder.outdir))


def _head(app, exception) -> None:
    """One purged stylesheet, deferred scripts, search tools on the search page only (head.py)."""
    # not singlehtml (the print edition, printed once loaded: nothing to gain, and its root page
    # lies in book/ with links written from the site's root)
    if exception is None and app.builder.name == "html":
        head.rewrite_site(Path(app.builder.outdir))


def setup(app):
    # smi.js is deferred (head.py); the classes its CSS keys on are set before the first paint.
    # smi-deep-link: a page opened at an anchor lays every table out (smi.css), so the browser
    # scrolls to the anchor in a page laid out as it will stay.
    app.add_js_file(None, body='document.documentElement.classList.add("smi-js");'
                    ' if (location.hash.length > 1) document.documentElement.classList.add("smi-deep-link");',
                    priority=100)
    app.add_js_file("smi.js", priority=500)
    app.add_css_file("smi.css")
    app.add_css_file("diagrams.css")
    app.add_directive("smi-diagram", DiagramDirective)
    app.connect("builder-inited", _write_assets)
    app.connect("html-page-context", _page_assets)
    app.connect("build-finished", _label_nav_toggles)
    app.connect("build-finished", _valid_html_files, priority=900)  # after sphinx-external-toc's redirect
    app.connect("build-finished", _icons, priority=950)
    app.connect("build-finished", _specs, priority=955)
    app.connect("build-finished", _head, priority=960)  # after every page's markup is final (icons)
    app.connect("build-finished", _precompress, priority=990)  # last: after every rewrite of the pages
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
