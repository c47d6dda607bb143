"""The labs' logic in-process (no server): what a visitor sees before and after the link is read.
The same labs in a real Voila server and browser: tests/browser/test_labs.py."""
from __future__ import annotations

import re

import pytest

import smi
from smi_charts import charts
import smi_labs.common as common
from smi_labs import capability_lab, dysfunction_lab, linkage_lab
from smi_labs.common import Lab, offline_charts

LABS = [linkage_lab, capability_lab, dysfunction_lab]


def shown(lab: Lab) -> dict[str, str]:
    """The numbers table as the page shows it: first column -> last column."""
    rows = re.findall(r"<tr><td>(.*?)</td>.*?<td>([^<]*)</td></tr>", lab.numbers.value)
    return dict(rows)


@pytest.mark.parametrize("factory", LABS, ids=lambda f: f.__name__)
def test_defaults_are_computed_before_the_link_is_read(factory, monkeypatch):
    """A preheated kernel runs everything before the visitor's query string: the lab's numbers,
    share link and export must be there already, so a plain link costs the visitor nothing."""
    seen = {}
    original = common.Lab.apply_query

    def spy(self, q):
        seen.update(numbers=self.numbers.value, share=self.share.value, export=self.export.value)
        return original(self, q)

    monkeypatch.setattr(common.Lab, "apply_query", spy)
    monkeypatch.setattr(common, "query_string", lambda: "")
    lab = factory()
    assert seen["numbers"] and seen["share"] and "smi-export" in seen["export"]
    assert lab.numbers.value == seen["numbers"]  # an empty link changed nothing
    assert "smi-lab-ready" in lab.ready.value


def test_plain_page_numbers_equal_the_model():
    lab = linkage_lab()
    expected = smi.linkages(smi.scenario()).iloc[0]
    numbers = shown(lab)
    labels = charts.output_labels(lab.theory)
    for out in lab.outputs:
        assert numbers[labels[out]] == f"{expected[out]:.3f}", out


def test_link_values_are_applied_and_unknown_ones_noticed():
    lab = linkage_lab()
    lab.apply_query("rapport=0.9&bogus=1")
    assert lab.values["rapport"] == pytest.approx(0.9)
    assert "Unknown parameter &#x27;bogus&#x27;" in lab.notice.value
    expected = smi.linkages(smi.scenario(rapport=0.9)).iloc[0]
    labels = charts.output_labels(lab.theory)
    assert shown(lab)[labels["social"]] == f"{expected.social:.3f}"


def test_a_link_with_only_unknown_parameters_keeps_the_defaults():
    lab = linkage_lab()
    before = lab.numbers.value
    lab.apply_query("bogus=1")
    assert "Unknown parameter &#x27;bogus&#x27;" in lab.notice.value
    assert lab.numbers.value == before
    assert all(lab.values[n] == lab.theory.defaults[n] for n in lab.inputs)


def test_cached_chart_bundle_is_what_altair_builds(tmp_path, monkeypatch):
    """The labs reuse one JupyterChart bundle instead of building it per kernel: the cached copy
    must equal what alt.JupyterChart.enable_offline() builds, and be reused on the next start."""
    import altair as alt

    for attr in ("_esm", "_is_offline"):  # restored after the test
        monkeypatch.setattr(alt.JupyterChart, attr, getattr(alt.JupyterChart, attr))
    alt.JupyterChart.enable_offline(False)
    path = offline_charts(tmp_path)  # nothing cached: altair builds it, and it is written
    built = alt.JupyterChart._esm
    assert alt.JupyterChart._is_offline and path.read_text(encoding="utf-8") == built
    assert "esm.sh" not in built and len(built) > 500_000  # vega inside, not imported from a CDN

    alt.JupyterChart.enable_offline(False)
    assert "esm.sh" in alt.JupyterChart._esm  # altair's online default
    path.write_text(built + "\n// from the cache", encoding="utf-8")
    assert offline_charts(tmp_path) == path  # cached: used as is, not rebuilt
    assert alt.JupyterChart._is_offline and alt.JupyterChart._esm == built + "\n// from the cache"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind
