"""smi_charts.head: the site's one stylesheet keeps every rule a page can use (issue 14)."""
from __future__ import annotations

from pathlib import Path

from smi_charts import head


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
