"""The static explorables compute in the browser what the Python model computes.

The Vega-Lite spec each explorable ships is evaluated by vl-convert (the same Vega engine the
browser runs) with its slider parameters set to several scenarios; the numbers it draws as
text must equal smi's.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import vl_convert as vlc

import smi
from smi_charts import charts

THEORY = smi.load()


def drawn_numbers(spec: dict) -> list[float]:
    """Values the chart draws as text labels (the bars' numbers), in drawing order."""
    sg = vlc.vegalite_to_scenegraph(spec, vl_version="6.4")
    found: list[float] = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("marktype") == "text" and node.get("role") == "mark":
                found.extend(float(it["text"]) for it in node.get("items", []))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(sg)
    return found


def with_params(spec: dict, values: dict[str, float]) -> dict:
    for p in spec.get("params", []):
        if p["name"] in values:
            p["value"] = values[p["name"]]
    return spec


CASES = [
    ("linkages", THEORY.input_names("linkages")),
    ("capabilities", [*THEORY.input_names("capabilities"), "smi_connection"]),
    ("chain", [*THEORY.input_names("linkages"), *THEORY.input_names("capabilities")]),
    ("linkages", ["key_terms", "vertical_communication", "hierarchy_depth"]),  # others fixed from a preset
]


@pytest.mark.parametrize("kind,inputs", CASES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_browser_numbers_equal_the_model(kind, inputs, seed):
    start = charts.default_values("diluted_key_terms")
    exp = charts.explorable(kind, inputs, start, "parity")
    moved = dict(start)
    scen = smi.random_scenarios(1, seed=seed).iloc[0]
    for name in inputs:
        moved[name] = float(np.random.default_rng(seed).uniform()) if name == "smi_connection" else float(scen[name])
    drawn = drawn_numbers(with_params(exp.chart.to_dict(), moved))
    expected = charts.explorable_values(kind, moved)[exp.outputs].to_numpy()
    assert len(drawn) == len(exp.outputs)
    np.testing.assert_allclose(drawn, expected.round(3), atol=0.0011)


def test_moving_a_slider_changes_the_drawn_numbers():
    start = charts.default_values("diluted_key_terms")
    exp = charts.explorable("linkages", ["vertical_communication"], start, "t")
    before = drawn_numbers(exp.chart.to_dict())
    after = drawn_numbers(with_params(exp.chart.to_dict(), {"vertical_communication": 0.95}))
    assert after[0] > before[0]  # language rises with vertical communication in a deep firm (P1a)
    assert after[1:5] == before[1:5]  # other linkages do not use it


def test_dysfunction_grid_is_the_model():
    grid = charts.dysfunction_grid()
    row = grid[(grid.start == "lack_of_collaboration") & (grid.curve == "increasing")
               & (grid.intervention == "both") & (grid.from_quarter == 8)].iloc[0]
    scen = smi.scenario(start_lack_of_collaboration=charts.START_LEVEL, incremental_effects="increasing",
                        function_fix=1.0, openness=0.5, joint_calls=0.5, job_rotation=0.5,
                        function_fix_start=8, openness_start=8, joint_calls_start=8, job_rotation_start=8)
    sim = smi.simulate(scen, quarters=40)
    for s in charts.SERIES:
        np.testing.assert_allclose(row[s], sim[s].to_numpy().round(4))


def test_dysfunction_chart_draws_the_selected_run():
    grid = charts.dysfunction_grid()
    spec = charts.dysfunction_chart(grid, "t").to_dict()
    spec = with_params(spec, {"start_dysfunction": "overt_conflict", "intervention": "none"})
    sg = vlc.vegalite_to_scenegraph(spec, vl_version="6.4")

    lines = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("marktype") == "line":
                lines.append(node["items"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(sg)
    # one line per series, each with all 41 quarters; the chosen dysfunction starts at 0.5
    assert len(lines) == 4 and all(len(items) == 41 for items in lines)
    first = {it[0]["description"].split("Series: ")[1].split(";")[0]: it[0]["description"] for it in lines}
    assert "Level: 0.500" in first["Overt conflict"]
    assert "Level: 0.000" in first["Communication paucity"]
