"""Shared test setup: hypothesis profiles and scenario strategies."""
from __future__ import annotations

import os

import pandas as pd
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

import smi
from tests.support import chromium, chromium_missing

# CI runs are reproducible (derandomized); local runs explore new examples each time.
settings.register_profile("ci", max_examples=150, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")

THEORY = smi.load()
UNIT = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


def numeric_inputs(layer: str | None = None) -> list[str]:
    return [n for n in THEORY.input_names(layer) if n != "incremental_effects"]


@st.composite
def scenarios(draw, layer: str | None = None) -> dict:
    """A full scenario: every input drawn within its range from data/inputs.csv."""
    spec = THEORY.inputs.set_index("name")
    row = dict(THEORY.defaults)
    for name in THEORY.input_names(layer):
        s = spec.loc[name]
        if s.kind == "switch":
            row[name] = draw(st.sampled_from(s.choices.split("|")))
        elif s.kind == "start_quarter":
            row[name] = draw(st.integers(int(s["min"]), int(s["max"])))
        else:
            row[name] = draw(st.floats(float(s["min"]), float(s["max"]), allow_nan=False))
    return row


@st.composite
def weights(draw) -> smi.Theory:
    """A theory with every weight drawn anywhere inside its HARD bounds (smi.model_spec), not only
    the suggested ranges: the admissible space in which every proposition's direction must hold.
    Ordered pairs (strictness_low <= strictness_high) are sorted."""
    from smi.model_spec import hard_bounds, ordered_pairs

    values = {}
    for name in THEORY.params:
        if name == "simulation.quarters":
            continue
        lo, hi, _ = hard_bounds(name)
        values[name] = draw(st.floats(lo, hi, allow_nan=False))
    for a, b, _ in ordered_pairs(set(values)):
        values[a], values[b] = min(values[a], values[b]), max(values[a], values[b])
    return THEORY.with_params(**values)


def frame(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


@pytest.fixture(scope="session")
def theory():
    return THEORY


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium for the browser, print and hub groups (a missing browser fails)."""
    if missing := chromium_missing():
        pytest.fail(missing)
    with chromium() as b:
        yield b
