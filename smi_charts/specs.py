"""Each explorable's chart spec leaves the page for a script of its own (issue 14), at build end.

An explorable's Vega-Lite spec carries its data: the dynamics explorer's precomputed runs make
its spec 0.8 MB, three quarters of its chapter's HTML. In the page, a phone on a slow network
downloads all of it before the first paint, for a chart that may be screens away and that is
drawn from its fallback image until Vega arrives anyway. So the built site's pages keep an empty
``<script type="application/json" id="smi-KEY-spec" data-src="...">`` and the spec goes to
``_static/specs/smi-KEY.js`` (fingerprinted ``?v=``), which registers it (``window.smiSpecs``). smi.js loads it
with the Vega bundle, when the explorable nears the screen. A ``<script src>``, not ``fetch``: a
book opened from disk (file://) may not fetch, and may run scripts. The ``?v=`` is the content's
checksum, so a host may cache it for good (docs/deploy-book.md).

A notebook's output (JupyterLab, the print edition) keeps its spec inline; smi.js reads either.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from smi_charts import head

SPEC_DIR = "_static/specs"
_INLINE = re.compile(r'<script type="application/json" id="(smi-[\w-]+)-spec">(.*?)</script>', re.S)
_EXTERNAL = re.compile(r'<script type="application/json" id="(smi-[\w-]+)-spec" data-src="([^"]+)"></script>')


# what a spec's script says before the spec itself (page_specs reads it back)
_REGISTER = "(window.smiSpecs = window.smiSpecs || {{}})[{}] = "


def externalize(outdir: Path) -> int:
    """Move every inline spec of the built site to its script; the number moved."""
    specs = outdir / SPEC_DIR
    written: dict[str, tuple[str, Path]] = {}  # figure id -> (checksum, page), this build
    for page in head.site_pages(outdir):
        text = page.read_text(encoding="utf-8")

        def out(m: re.Match) -> str:
            fig_id, body = m.group(1), m.group(2)
            try:
                json.loads(body)
            except ValueError as e:
                raise ValueError(f"{page}: the spec of {fig_id} is not JSON: {e}") from None
            script = f"{_REGISTER.format(json.dumps(fig_id))}{body};\n"
            version = head.checksum(script.encode("utf-8"))
            if fig_id in written and written[fig_id][0] != version:
                raise RuntimeError(f"two different charts have the id {fig_id}: {written[fig_id][1]} and {page}")
            written[fig_id] = (version, page)
            specs.mkdir(parents=True, exist_ok=True)
            target = specs / f"{fig_id}.js"
            target.write_text(script, encoding="utf-8")
            return (f'<script type="application/json" id="{fig_id}-spec" '
                    f'data-src="{head.rel(page, target, outdir)}?v={version}"></script>')

        new = _INLINE.sub(out, text)
        if new != text:
            page.write_text(new, encoding="utf-8")
    return len(written)


def page_specs(page: Path) -> dict[str, dict]:
    """{figure id: Vega-Lite spec} of one built page, inline or moved out, in page order."""
    text = page.read_text(encoding="utf-8")
    found = [(m.start(), m.group(1), json.loads(m.group(2))) for m in _INLINE.finditer(text)]
    for m in _EXTERNAL.finditer(text):
        script = (page.parent / m.group(2).split("?")[0]).read_text(encoding="utf-8")
        body = script.removeprefix(_REGISTER.format(json.dumps(m.group(1)))).rstrip().removesuffix(";")
        found.append((m.start(), m.group(1), json.loads(body)))
    return {fig_id: spec for _, fig_id, spec in sorted(found, key=lambda t: t[0])}
