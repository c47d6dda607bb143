"""Framework diagrams: drawn from data/, complete, described in text, rendered to SVG by Sphinx."""
from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from smi import data as smi_data
from smi_charts import diagrams as dg

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    """A private copy of data/ that SMI_DATA_DIR points at."""
    d = tmp_path / "data"
    shutil.copytree(DATA, d)
    monkeypatch.setenv("SMI_DATA_DIR", str(d))
    yield d
    smi_data.clear_cache()


def _relabel(path: Path, key: str, value: str, column: str, new: str) -> None:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert (df[key] == value).sum() == 1
    df.loc[df[key] == value, column] = new
    df.to_csv(path, index=False)
    smi_data.clear_cache()  # load() caches per folder


@pytest.mark.parametrize("study, file, key, value, column", [
    ("malshe2011", "linkages.csv", "linkage", "social", "label"),
    ("malshe2011", "inputs.csv", "name", "team_visibility", "label"),
    ("hughes2012", "levers.csv", "lever", "culture", "label"),
    ("hughes2012", "capabilities.csv", "capability", "crm", "label"),
    ("malshe2017", "sensemaking.csv", "construct", "rudderless", "label"),
])
def test_dot_and_text_follow_the_data(data_copy, study, file, key, value, column):
    before = dg.diagram(study)
    _relabel(data_copy / file, key, value, column, "Zebra label")
    after = dg.diagram(study)  # SMI_DATA_DIR points at the copy: a fresh, validated load
    assert "Zebra label" not in before.dot and "Zebra label" in after.dot
    assert "Zebra label" in after.text_alternative()
    assert file in dg.SOURCES[study]


def test_spillovers_follow_the_data(data_copy):
    assert "cap_planning -> cap_npd" not in dg.hughes2012().dot
    _relabel(data_copy / "capabilities.csv", "capability", "planning", "spills_over_to", "npd")
    after = dg.hughes2012()
    assert "cap_planning -> cap_npd" in after.dot
    assert "Marketing planning and implementation may carry over to: New product development" in after.text_alternative()


def _text(d: dg.Diagram) -> str:
    # labels are wrapped and HTML-escaped in the DOT source; compare on plain words
    dot = re.sub(r"</?(?:BR|FONT)[^>]*>", " ", d.dot).replace("&quot;", '"').replace("&#x27;", "'").replace("&amp;", "&")
    return re.sub(r"\s+", " ", dot)


def _has(text: str, label: str) -> bool:
    return re.sub(r"\s+", " ", label) in text


def test_every_linkage_input_and_proposition_appears():
    t = smi_data.load()
    d = dg.malshe2011(t)
    dot, alt = _text(d), d.text_alternative()
    for r in t.linkages.itertuples():
        assert _has(dot, r.label) and r.label in alt
    for r in t.inputs[(t.inputs.layer == "linkages") & (t.inputs.kind != "context")].itertuples():
        assert _has(dot, r.label) and r.label in alt, r.name
    for p in range(1, 8):
        assert f"P{p}" in dot and f"P{p}" in alt
    # the book's context gradings are assumptions: not drawn
    for r in t.inputs[t.inputs.kind == "context"].itertuples():
        assert r.basis == "assumption" and not _has(dot, r.label)


def test_every_lever_capability_and_other_function_appears():
    t = smi_data.load()
    d = dg.hughes2012(t)
    dot, alt = _text(d), d.text_alternative()
    for r in t.levers.itertuples():
        assert _has(dot, r.label) and r.label in alt
    for r in t.capabilities.itertuples():
        assert _has(dot, r.label) and r.label in alt and r.proposition in dot
    for f in dg.OTHER_FUNCTIONS_2012:
        assert _has(dot, f) and f in alt
    edges = sum(len(smi_data.split_tokens(c)) for c in t.capabilities.spills_over_to)
    assert d.dot.count('label="may"') == edges > 0


def test_every_construct_appears_per_side_in_order():
    t = smi_data.load()
    d = dg.malshe2017(t)
    dot, alt = _text(d), d.text_alternative()
    for r in t.sensemaking.itertuples():
        assert _has(dot, r.label) and r.label in alt, r.construct
        ref = r.proposition + r.item
        assert f"({ref}" in dot
    for (dys, side), rows in t.sensemaking.groupby(["dysfunction", "side"]):
        stages = [f"{dys}_{side}_{s}" for s in dg.STAGE_HEAD]
        for a, b in zip(stages, stages[1:]):
            assert f"{a} -> {b};" in d.dot
    # P7: only the hedged paths the study reports, between dysfunctions the data define
    names = set(t.sensemaking.dysfunction)
    for a, b in dg.P7_PATHS_2017:
        assert {a, b} <= names and f'dys_{a} -> dys_{b} [style=dashed, label="may"]' in d.dot
    assert len(re.findall(r"dys_\w+ -> dys_\w+ \[style=dashed", d.dot)) == len(dg.P7_PATHS_2017)
    assert "may lead to" in alt and "may feed" in alt


def test_text_alternative_html_lists_every_section():
    for s in dg.STUDIES:
        d = dg.diagram(s)
        out = dg.text_alternative_html(d)
        assert out.startswith('<details class="smi-diagram-text">')
        for heading, lines in d.sections:
            assert f"<strong>{heading}" in html.unescape(out)
            assert out.count("<li>") >= len(lines)


def test_every_dot_renders():
    dot = shutil.which("dot")
    assert dot, "graphviz `dot` missing: the Makefile installs it (apt-get install graphviz)"
    import subprocess

    for s in dg.STUDIES:
        svg = subprocess.run([dot, "-Tsvg"], input=dg.diagram(s).dot, capture_output=True, text=True, check=True).stdout
        assert "<svg" in svg and "Warning" not in svg


def test_unknown_study_is_refused():
    with pytest.raises(ValueError, match="unknown study"):
        dg.diagram("malshe2099")


@pytest.mark.parametrize("builder", ["html", "singlehtml"])  # singlehtml: the print edition's route
def test_directive_writes_a_scaling_svg_image(tmp_path, builder):
    """A minimal Sphinx build with the book's extension, its root page in a folder as the book's
    is: the page shows an <img> of an SVG that exists, sized from the drawing, with the summary
    as alt text and the text alternative."""
    from sphinx.application import Sphinx
    from sphinx.util.docutils import docutils_namespace

    src = tmp_path / "src"
    (src / "book").mkdir(parents=True)
    (src / "conf.py").write_text('extensions = ["sphinx.ext.graphviz", "smi_charts.sphinx_ext"]\n'
                                 'graphviz_output_format = "svg"\nroot_doc = "book/index"\n')
    (src / "book" / "index.rst").write_text("Diagrams\n========\n\n" + "".join(f".. smi-diagram:: {s}\n\n" for s in dg.STUDIES))
    out = tmp_path / "out"
    with docutils_namespace():  # each build registers its nodes and directives afresh, as sphinx-build does
        app = Sphinx(str(src), str(src), str(out), str(tmp_path / "doctrees"), builder, status=None, warning=None,
                     freshenv=True, warningiserror=True)
        app.build()
    page_path = out / "book" / "index.html"
    page = page_path.read_text(encoding="utf-8")
    assert "<object" not in page
    imgs = re.findall(r'<img src="([^"]+\.svg)" alt="([^"]+)" class="[^"]*smi-diagram-svg[^"]*" width="(\d+)" height="(\d+)"', page)
    assert len(imgs) == 3
    for (src_, alt, w, h), s in zip(imgs, dg.STUDIES):
        svg = (page_path.parent / src_).read_text(encoding="utf-8")  # resolves from the page
        assert "<svg" in svg and int(w) > 100 and int(h) > 100
        assert alt.startswith("Diagram of")
        assert "http" not in re.sub(r'xmlns(:xlink)?="[^"]+"|<!DOCTYPE[^>]+>', "", svg)  # nothing from another host
    assert page.count('<details class="smi-diagram-text">') == 3
    assert (out / "_static" / "diagrams.css").exists()
