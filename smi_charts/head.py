"""A light <head> for a phone's first visit (issue 14), rewritten at build end on every page.

The theme's <head> holds eleven render-blocking stylesheets (one of them @imports a twelfth) and
a dozen synchronous scripts, among them Sphinx's search tools and the whole search index, which
pydata-sphinx-theme loads on every page for its search-as-you-type box (off here: its search
field is a plain form that opens search.html). A page paints only once all of them are in.

* the stylesheets become one (``_static/smi-site.css``, fingerprinted ``?v=``), with every rule
  whose selector names a class or id that appears in no built page and no script of the site
  dropped (most of Bootstrap and ~1,400 Font Awesome icon rules): :func:`purge`;
* the search tools and index stay on search.html only;
* every script of the <head> is ``defer``: deferred scripts still run in document order, after
  the page is parsed and before DOMContentLoaded, which is when each of them does its work (read
  for each: doctools, sphinx_highlight, clipboard, copybutton, sphinx-book-theme, togglebutton,
  design-tabs, searchtools, smi.js, which embeds the explorables itself once parsed). The
  inline scripts between them only set variables, but ``DOCUMENTATION_OPTIONS.pagename = ...``
  needs ``documentation_options.js`` to have run: that small file is inlined instead;
* pydata-sphinx-theme's per-region focus pass is switched off (:data:`THEME_PATCH`; smi.js
  measures each region when it nears the view) and its script gets a fingerprint of its own;
* the theme's ``<link rel="preload">`` of its own deferred scripts is dropped. The health check
  and the debrief start on DOMContentLoaded, after the deferred smi.js has run
  (templates/_healthcheck_macros.html.j2).
"""
from __future__ import annotations

import re
import zlib
from pathlib import Path

import tinycss2

SITE_CSS = "smi-site.css"
SEARCH_ONLY = ("_static/searchtools.js", "_static/language_data.js", "searchindex.js")
DOC_OPTIONS = "_static/documentation_options.js"

# class names the scripts build by concatenation, so they never appear whole in any file
SAFELIST = re.compile(r"^(bs-tooltip-|bs-popover-|tooltip|popover|collaps|show|fade|modal)")

# pydata-sphinx-theme (pinned in requirements.txt) makes each scrolling region focusable by
# setting its tabindex right after reading its size, which lays the whole page out once per region
# (a second of a phone's main thread on the model reference). smi.js measures a region when it
# nears the view (the tables far off screen are not laid out at load: smi.css);
# the theme's function is switched off by a `return`. A theme whose code differs stops the build,
# so the switch is never silently lost.
THEME_JS = "_static/scripts/pydata-sphinx-theme.js"
THEME_PATCH = ('function I(){const e=()=>{document.querySelectorAll(["pre",',
               'function I(){return;const e=()=>{document.querySelectorAll(["pre",')

_THEME_SRC = re.compile(r'(/scripts/pydata-sphinx-theme\.js)\?digest=\w+')
_HEAD = re.compile(r"<head>.*?</head>", re.S)
_PRELOAD = re.compile(r'[ \t]*<link rel="preload" as="script" href="[^"]+" />\n?')
_LINK = re.compile(r'[ \t]*<link\b[^>]*\brel="stylesheet"[^>]*>\n?')
_HREF = re.compile(r'\bhref="([^"]+)"')
_SCRIPT = re.compile(r'([ \t]*)<script\b([^>]*)\bsrc="([^"]+)"([^>]*)></script>\n?')
_IMPORT = re.compile(r'@import\s+(?:url\()?\s*["\']?([^"\')\s]+)["\']?\s*\)?\s*;')
_URL = re.compile(r'url\(\s*(["\']?)([^"\')]+)\1\s*\)')
_WORD = re.compile(r"[A-Za-z0-9_-]+")


def _target(page: Path, url: str) -> Path:
    return (page.parent / url.split("?", 1)[0].split("#", 1)[0]).resolve()


def site_pages(outdir: Path) -> list[Path]:
    """Every page of the built site (not _static/'s or _sources/' files), in path order."""
    return [p for p in sorted(outdir.rglob("*.html"))
            if not {"_static", "_sources"} & set(p.relative_to(outdir).parts)]


def rel(page: Path, target: Path, outdir: Path) -> str:
    """`target`'s URL relative to `page`, both in the built site `outdir`."""
    depth = len(page.relative_to(outdir).parts) - 1
    return "../" * depth + target.relative_to(outdir).as_posix()


def _css_text(path: Path, static: Path, seen: set[Path]) -> str:
    """The file's CSS with its @imports inlined and its url()s made relative to _static/."""
    if path in seen:
        return ""
    seen.add(path)
    text = path.read_text(encoding="utf-8")
    text = _IMPORT.sub(lambda m: _css_text((path.parent / m.group(1)).resolve(), static, seen), text)

    def url(m: re.Match) -> str:
        ref = m.group(2).strip()
        if re.match(r"^(data:|[a-z]+:|/|#)", ref):
            return m.group(0)
        target = (path.parent / ref).resolve()
        if not target.is_relative_to(static):
            raise RuntimeError(f"{path}: url({ref}) lies outside _static")
        return f'url("{target.relative_to(static).as_posix()}")'  # the combined sheet is in _static/
    return _URL.sub(url, text)


def used_words(outdir: Path) -> set[str]:
    """Every word of every built page and script: a class or id named nowhere is never used."""
    words: set[str] = set()
    for f in outdir.rglob("*"):
        if f.suffix in (".html", ".js") and f.is_file() and "_sources" not in f.parts:
            words.update(_WORD.findall(f.read_text(encoding="utf-8", errors="replace")))
    return words


def _needed(tokens) -> set[str]:
    """The classes and ids a compound selector requires (not those inside :not()/:is()/[...])."""
    out, prev = set(), None
    for tok in tokens:
        if tok.type == "hash":
            out.add(tok.value)
        elif tok.type == "ident" and prev is not None and prev.type == "literal" and prev.value == ".":
            out.add(tok.value)
        if tok.type not in ("whitespace", "comment"):
            prev = tok
    return out


def _selectors(prelude) -> list[list]:
    parts: list[list] = [[]]
    for tok in prelude:
        if tok.type == "literal" and tok.value == ",":
            parts.append([])
        else:
            parts[-1].append(tok)
    return parts


def _purge_rules(rules, words: set[str]) -> str:
    out = []
    for rule in rules:
        if rule.type == "qualified-rule":
            keep = [sel for sel in _selectors(rule.prelude)
                    if all(w in words or SAFELIST.match(w) for w in _needed(sel))]
            if keep:
                prelude = ",".join(tinycss2.serialize(sel).strip() for sel in keep)
                out.append(f"{prelude}{{{tinycss2.serialize(rule.content).strip()}}}")
        elif rule.type == "at-rule":
            if rule.lower_at_keyword in ("media", "supports", "layer", "container") and rule.content is not None:
                inner = _purge_rules(tinycss2.parse_rule_list(rule.content, skip_comments=True,
                                                             skip_whitespace=True), words)
                if inner:
                    out.append(f"@{rule.at_keyword}{tinycss2.serialize(rule.prelude).rstrip()}{{{inner}}}")
            else:  # @font-face, @keyframes, @charset...: kept (a font is fetched only when drawn)
                out.append(rule.serialize())
    return "".join(out)


def purge(css: str, words: set[str]) -> str:
    """The stylesheet without the rules no page can match (selectors needing an unused class/id)."""
    return _purge_rules(tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True), words)


def checksum(data: bytes) -> str:
    """The ?v= fingerprint of a file's content."""
    return f"{zlib.crc32(data):08x}"


def patch_theme(outdir: Path) -> str | None:
    """The theme's script with THEME_PATCH applied (once: Sphinx copies it afresh on each build);
    the patched file's checksum, or None for a site without it."""
    path = outdir / THEME_JS
    if not path.exists():  # a site built with another theme: nothing to switch off
        return None
    text = path.read_text(encoding="utf-8")
    old, new = THEME_PATCH
    if new not in text:
        if text.count(old) != 1:
            raise RuntimeError(f"{path}: the theme code THEME_PATCH switches off is not there once "
                               "(another pydata-sphinx-theme release?): check smi.js focusScrollable against it")
        # the source map describes the unpatched file
        text = re.sub(r"\n//# sourceMappingURL=\S+\s*$", "\n", text.replace(old, new))
        path.write_text(text, encoding="utf-8")
    return checksum(text.encode("utf-8"))


def rewrite_site(outdir: Path) -> None:
    """Every page's <head> as the module's docstring says; writes _static/smi-site.css."""
    static = outdir / "_static"
    theme_version = patch_theme(outdir)
    heads = {}
    for page in site_pages(outdir):
        text = page.read_text(encoding="utf-8")
        head = _HEAD.search(text)
        # a page Sphinx did not write again (an incremental build) has been rewritten already
        if head and _LINK.search(head.group(0)) and SITE_CSS not in head.group(0):
            heads[page] = text
    if not heads:
        return
    # one stylesheet for the site, from the stylesheets of the first page (every page links the
    # same ones, in the same order: checked)
    first = next(iter(heads))
    sheets = [_target(first, _HREF.search(m.group(0)).group(1)) for m in _LINK.finditer(_HEAD.search(heads[first]).group(0))]
    for page, text in heads.items():
        mine = [_target(page, _HREF.search(m.group(0)).group(1)) for m in _LINK.finditer(_HEAD.search(text).group(0))]
        if mine != sheets:
            raise RuntimeError(f"{page}: stylesheets differ from {first}'s: {mine} vs {sheets}")
    seen: set[Path] = set()
    combined = "\n".join(_css_text(s, static, seen) for s in sheets)
    css = purge(combined, used_words(outdir)).encode("utf-8")
    (static / SITE_CSS).write_bytes(css)
    version = checksum(css)
    options = (static / "documentation_options.js").read_text(encoding="utf-8").strip()

    for page, text in heads.items():
        head = _HEAD.search(text)
        first_link = _LINK.search(head.group(0)).group(0)
        indent = re.match(r"[ \t]*", first_link).group(0)
        href = rel(page, static / SITE_CSS, outdir)
        new = head.group(0).replace(first_link, f'{indent}<link rel="stylesheet" href="{href}?v={version}">\n', 1)
        new = _LINK.sub(lambda m: m.group(0) if SITE_CSS in m.group(0) else "", new)
        search_page = page.relative_to(outdir).as_posix() == "search.html"

        def script(m: re.Match) -> str:
            target = _target(page, m.group(3)).relative_to(outdir).as_posix()
            if target in SEARCH_ONLY and not search_page:
                return ""
            if target == DOC_OPTIONS:
                return f"{m.group(1)}<script>{options}</script>\n"
            attrs = m.group(2) + m.group(4)
            if re.search(r"\b(defer|async)\b|type=\"module\"", attrs):
                return m.group(0)
            return f'{m.group(1)}<script defer{m.group(2).rstrip()} src="{m.group(3)}"{m.group(4)}></script>\n'
        new = _SCRIPT.sub(script, new)
        # the theme preloads its two deferred scripts (bootstrap.js: 23 KiB gzipped): on a slow
        # link they would share it with the stylesheet and delay the first paint
        new = _PRELOAD.sub("", new)
        # the theme's script (at the end of <body>) gets its own fingerprint: a browser holding the
        # unpatched file under the theme's digest would reuse it
        body = text[head.end():]
        if theme_version:
            body = _THEME_SRC.sub(rf"\1?v={theme_version}", body)
        page.write_text(text[:head.start()] + new + body, encoding="utf-8")
