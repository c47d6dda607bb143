"""HTML for the book components, rendered from Jinja2 templates in ``smi_charts/templates``.

Every component that writes HTML into a page goes through :func:`render`: the markup lives in
one template per component, and autoescaping quotes every value (labels, titles, data) unless
the caller marks it safe with :func:`script_json`, :func:`inline` or ``Markup``.
"""
from __future__ import annotations

import json
import re
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

_KEY = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def check_key(key: str) -> str:
    """A component key becomes an HTML id and a storage key: lowercase letters, digits, dashes."""
    if not isinstance(key, str) or not _KEY.match(key):
        raise ValueError(f"component key must be lowercase letters, digits and dashes (value {key!r})")
    return key


def json_for_script(obj) -> Markup:
    """JSON to place inside ``<script type="application/json">`` ("</" would end the element early)."""
    return Markup(json.dumps(obj).replace("</", "<\\/"))


def inline(text: str, name: str) -> Markup:
    """A stylesheet or script inlined into a ``<style>``/``<script>`` element, refused if it would close it."""
    low = text.lower()
    if "</script" in low or "</style" in low:
        raise ValueError(f"{name} must not contain a closing script/style tag (it is inlined)")
    return Markup(text)


@cache
def _env() -> Environment:
    # StrictUndefined: a template that names a value the caller did not pass fails loudly
    return Environment(loader=PackageLoader("smi_charts", "templates"), autoescape=select_autoescape(["j2"]),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)


def render(template: str, **context) -> str:
    """Render ``smi_charts/templates/<template>`` with ``context`` (values escaped unless marked safe)."""
    return _env().get_template(template).render(**context)


def render_macro(template: str, name: str, **args) -> str:
    """Render one macro of ``smi_charts/templates/<template>`` (a file of small pieces, such as the
    labs' ``lab_parts.html.j2``) with ``args`` (escaped unless marked safe)."""
    return str(getattr(_env().get_template(template).module, name)(**args))
