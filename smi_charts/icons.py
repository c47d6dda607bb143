"""The theme's icons drawn at build time, without Font Awesome's 1.4 MB script (issue 14).

pydata-sphinx-theme puts ``<i class="fa-solid fa-bars"></i>`` in its header, navbar and buttons and
loads ``_static/scripts/fontawesome.js`` (~1.4 MB, ~540 KiB gzipped: every icon of Font Awesome 6)
on every page, which swaps each such element for an inline ``<svg class="svg-inline--fa ...">``
once the page has loaded. The pages draw about twenty icons. :func:`inline_icons` writes that same
SVG into the page at build time, from the path data of the very script the theme ships (so the
icons are the theme's, at its version), and :func:`drop_script` removes the script tag; the few
CSS rules the script injected at run time are in ``static/smi.css`` (``.svg-inline--fa``). The
theme's stylesheet still draws a few icons itself (CSS pseudo-elements, e.g. admonition titles)
with Font Awesome's webfonts (the solid one alone is 153 KiB): :func:`subset_webfonts` cuts each
down to the glyphs the site's stylesheets name, a few KiB.
"""
from __future__ import annotations

import functools
import html
import re
from pathlib import Path

PREFIXES = {"fa-solid": "fas", "fas": "fas", "fa-regular": "far", "far": "far", "fa-brands": "fab", "fab": "fab"}
# an icon element as the theme's templates write it: <i|span class="..."[ attrs]></i|span>
_ELEMENT = re.compile(r'<(i|span) class="([^"]*)"([^>]*)></\1>')
_SCRIPT = re.compile(r'[ \t]*<script defer src="[^"]*_static/scripts/fontawesome\.js(?:\?[^"]*)?"></script>\n?')
# in fontawesome.js each pack is `var p={name:[width,height,[aliases],"unicode","path"],...}` handed
# to d("fas", p) (solid), d("far", p) (regular) or d("fab", p) (brands)
_PACK_END = re.compile(r'd\("(fas|far|fab)",p\)')
_ICON = re.compile(r'(?:"([\w-]+)"|([\w$]+)):\[(\d+),(\d+),\[[^\]]*\],"[^"]*","((?:[^"\\]|\\.)*)"\]')
_ATTR = re.compile(r'([\w-]+)="([^"]*)"')


def theme_script() -> Path:
    import pydata_sphinx_theme

    return (Path(pydata_sphinx_theme.__file__).parent / "theme" / "pydata_sphinx_theme" / "static" / "scripts"
            / "fontawesome.js")


@functools.lru_cache(maxsize=1)
def icon_paths() -> dict[tuple[str, str], tuple[int, int, str]]:
    """(prefix, name) -> (width, height, SVG path) for every icon of the theme's fontawesome.js."""
    text = theme_script().read_text(encoding="utf-8")
    out, start = {}, 0
    for end in _PACK_END.finditer(text):
        body = text[text.rfind("var p={", start, end.start()):end.start()]
        for m in _ICON.finditer(body):
            name = m.group(1) or m.group(2)
            out.setdefault((end.group(1), name), (int(m.group(3)), int(m.group(4)), m.group(5)))
        start = end.end()
    if ("fas", "bars") not in out:
        raise RuntimeError(f"no Font Awesome icon found in {theme_script()}: has the theme changed its bundle?")
    return out


def _svg(m: re.Match) -> str:
    classes = m.group(2).split()
    prefix = next((PREFIXES[c] for c in classes if c in PREFIXES), None)
    if prefix is None:  # not an icon
        return m.group(0)
    names = [c[3:] for c in classes if c.startswith("fa-") and (prefix, c[3:]) in icon_paths()]
    if not names:
        raise ValueError(f"unknown Font Awesome icon: {m.group(0)}")
    name = names[0]
    width, height, path = icon_paths()[(prefix, name)]
    # the classes fontawesome.js gives the SVG: its own, the icon's, then every other class but the prefix
    rest = [c for c in classes if c not in PREFIXES and c != f"fa-{name}"]
    attrs = dict(_ATTR.findall(m.group(3)))
    title = attrs.pop("title", None)
    extra = "".join(f' {k}="{v}"' for k, v in attrs.items())
    inner = (f"<title>{title}</title>" if title else "") + f'<path fill="currentColor" d="{html.escape(path)}"></path>'
    return (f'<svg class="{" ".join(["svg-inline--fa", f"fa-{name}", *rest])}"{extra} aria-hidden="true" '
            f'focusable="false" data-prefix="{prefix}" data-icon="{name}" xmlns="http://www.w3.org/2000/svg" '
            f'viewBox="0 0 {width} {height}">{inner}</svg>')


def inline_icons(page: str) -> str:
    """The page with every Font Awesome element replaced by its inline SVG."""
    return _ELEMENT.sub(_svg, page)


def drop_script(page: str) -> str:
    return _SCRIPT.sub("", page)


# a glyph a stylesheet names: Font Awesome's private-use code points, written as the character
# (the theme's minified CSS) or as a CSS escape ("\f05a")
_GLYPH = re.compile(r"[\ue000-\uf8ff]|\\(f[0-9a-fA-F]{3})\b")


_RULE = re.compile(r"([^{}]*)\{([^{}]*)\}")
# Font Awesome's own rules, one per icon class (`.fa-bars:before{content:...}`): the theme's CSS
# carries all ~1,400 of them, but no element of the site has such a class any more (inline_icons)
_FA_CLASS_RULE = re.compile(r"\.fa-[\w-]+:{1,2}(?:before|after)")


def css_glyphs(static: Path) -> set[int]:
    """Every Font Awesome code point the site's stylesheets draw (admonition titles, links...),
    leaving out the per-class rules of icons no page carries."""
    found = set()
    for css in static.rglob("*.css"):
        for rule in _RULE.finditer(css.read_text(encoding="utf-8", errors="replace")):
            selectors = [sel.strip() for sel in rule.group(1).split(",")]
            if all(_FA_CLASS_RULE.fullmatch(sel) for sel in selectors):
                continue
            for m in _GLYPH.finditer(rule.group(2)):
                found.add(int(m.group(1), 16) if m.group(1) else ord(m.group(0)))
    return found


def subset_webfonts(outdir: Path) -> None:
    """Font Awesome's webfonts in the built site, cut to the glyphs the stylesheets name (same
    file names, so the theme's @font-face rules keep working; woff2 needs the brotli package)."""
    from fontTools import subset

    glyphs = css_glyphs(outdir / "_static")
    for font in sorted((outdir / "_static" / "vendor" / "fontawesome" / "webfonts").glob("*")):
        if font.suffix not in (".woff2", ".ttf"):
            continue
        options = subset.Options(flavor="woff2" if font.suffix == ".woff2" else None, ignore_missing_unicodes=True)
        loaded = subset.load_font(str(font), options)
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=glyphs)
        subsetter.subset(loaded)
        subset.save_font(loaded, str(font), options)


def rewrite_site(outdir: Path) -> None:
    """Every page of the built site: icons inlined, the script gone; the script itself removed;
    the webfonts cut to the glyphs the stylesheets use."""
    for page in outdir.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        new = drop_script(inline_icons(text))
        if new != text:
            page.write_text(new, encoding="utf-8")
    for f in (outdir / "_static" / "scripts").glob("fontawesome.js*"):
        f.unlink()
    subset_webfonts(outdir)
