"""smi_charts.head and smi_charts.specs: the build-end rewrites that make a first visit light (issue 14)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from smi_charts import head, specs


def test_purge_drops_rules_whose_class_or_id_no_page_names():
    css = (".used{a:1}.unused{b:2}.used .unused{c:3}.used,.unused{d:4}#here{e:5}#gone{f:6}"
           "p{g:7}:root{--x:1}html[data-theme=dark] .used{h:8}.used:not(.unused){i:9}")
    out = head.purge(css, {"used", "here"})
    assert out == (".used{a:1}.used{d:4}#here{e:5}p{g:7}:root{--x:1}html[data-theme=dark] .used{h:8}"
                   ".used:not(.unused){i:9}")


def test_purge_goes_into_media_queries_and_keeps_fonts_and_keyframes():
    css = ("@media (min-width:960px){.used{a:1}.unused{b:2}}@media print{.unused{c:3}}"
           "@font-face{font-family:X;src:url(x.woff2)}@keyframes spin{to{transform:rotate(1turn)}}")
    out = head.purge(css, {"used"})
    assert out == ("@media (min-width:960px){.used{a:1}}"
                   "@font-face{font-family:X;src:url(x.woff2)}@keyframes spin{to{transform:rotate(1turn)}}")


def test_purge_keeps_the_classes_scripts_build_by_concatenation():
    assert head.purge(".bs-tooltip-top{a:1}.show{b:2}", set()) == ".bs-tooltip-top{a:1}.show{b:2}"


def test_stylesheets_are_combined_with_imports_inlined_and_urls_from_static(tmp_path: Path):
    static = tmp_path / "_static"
    (static / "styles").mkdir(parents=True)
    (static / "basic.css").write_text("body{m:0}")
    (static / "styles" / "theme.css").write_text('@import "../basic.css";\n.a{background:url(../img/x.png)}'
                                                 '.b{background:url("data:image/svg+xml,x")}')
    out = head._css_text((static / "styles" / "theme.css").resolve(), static.resolve(), set())
    assert out == 'body{m:0}\n.a{background:url("img/x.png")}.b{background:url("data:image/svg+xml,x")}'


THEME_CODE = ('x();function I(){const e=()=>{document.querySelectorAll(["pre",".a"]).forEach(e=>{e.tabIndex=0})}}'
              '\n//# sourceMappingURL=pydata-sphinx-theme.js.map')


def _theme(tmp_path: Path, text: str) -> Path:
    path = tmp_path / head.THEME_JS
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return path


def test_the_theme_focus_pass_is_switched_off_once_and_fingerprinted(tmp_path: Path):
    path = _theme(tmp_path, THEME_CODE)
    version = head.patch_theme(tmp_path)
    patched = path.read_text()
    assert patched.startswith('x();function I(){return;const e=()=>{document.querySelectorAll(["pre",')
    assert "sourceMappingURL" not in patched  # the map describes the unpatched file
    # a second build (Sphinx copied nothing new) leaves it as it is, with the same fingerprint
    assert head.patch_theme(tmp_path) == version and path.read_text() == patched
    # the fingerprint is the patched file's, not the theme's
    assert version != head.checksum(THEME_CODE.encode())


def test_a_site_without_the_theme_script_is_left_alone(tmp_path: Path):
    (tmp_path / "_static").mkdir()
    assert head.patch_theme(tmp_path) is None
    assert not (tmp_path / head.THEME_JS).exists()


def test_a_theme_without_the_code_stops_the_build(tmp_path: Path):
    _theme(tmp_path, "function I(){const e=()=>{document.querySelectorAll(['pre'])}}")
    with pytest.raises(RuntimeError, match="pydata-sphinx-theme.*focusScrollable"):
        head.patch_theme(tmp_path)


# --- smi_charts.specs: each explorable's spec in a script of its own


def _page(root: Path, rel: str, body: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<html><body>{body}</body></html>")
    return path


FIG = '<script type="application/json" id="smi-{k}-spec">{spec}</script><script type="application/json" id="smi-{k}-live">{{}}</script>'


def test_specs_leave_the_page_and_read_back_the_same(tmp_path: Path):
    a = {"mark": "line", "title": "a </script> b".replace("</", "<\\/"), "data": {"values": [{"x": 1}]}}
    b = {"mark": "bar", "params": [{"name": "p", "value": 0.5}]}
    deep = _page(tmp_path, "book/reference/x.html", FIG.format(k="one", spec=json.dumps(a)) + FIG.format(k="two", spec=json.dumps(b)))
    top = _page(tmp_path, "book/y.html", FIG.format(k="three", spec=json.dumps(b)))
    before = {p: specs.page_specs(p) for p in (deep, top)}
    assert specs.externalize(tmp_path) == 3
    text = deep.read_text()
    assert "line" not in text and "bar" not in text  # the specs left the page, its live data stayed
    assert 'id="smi-one-spec" data-src="../../_static/specs/smi-one.js?v=' in text
    assert 'data-src="../_static/specs/smi-three.js?v=' in top.read_text()
    assert {p: specs.page_specs(p) for p in (deep, top)} == before
    assert list(specs.page_specs(deep)) == ["smi-one", "smi-two"]  # in page order
    # each script registers its spec under the figure's id, as smi.js reads it
    script = (tmp_path / specs.SPEC_DIR / "smi-two.js").read_text()
    assert script.startswith('(window.smiSpecs = window.smiSpecs || {})["smi-two"] = {"mark": "bar"')
    # a second pass (an incremental build) finds nothing more to move and changes nothing
    assert specs.externalize(tmp_path) == 0 and deep.read_text() == text


def test_a_spec_that_is_not_json_or_an_id_used_twice_stops_the_build(tmp_path: Path):
    _page(tmp_path, "book/x.html", FIG.format(k="bad", spec="{'mark': 1}"))
    with pytest.raises(ValueError, match=r"x\.html: the spec of smi-bad is not JSON"):
        specs.externalize(tmp_path)
    (tmp_path / "book/x.html").unlink()
    _page(tmp_path, "book/a.html", FIG.format(k="same", spec='{"mark": "line"}'))
    _page(tmp_path, "book/b.html", FIG.format(k="same", spec='{"mark": "bar"}'))
    with pytest.raises(RuntimeError, match="two different charts have the id smi-same"):
        specs.externalize(tmp_path)
