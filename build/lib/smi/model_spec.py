"""Which parameters the model reads, derived from the structure in ``data/inputs.csv``.

Kept separate so validation can insist that every weight the model uses is listed in
``data/parameters.csv`` (and nothing unknown is), without importing the model itself.
"""
from __future__ import annotations

import re

import pandas as pd

from .data import DYSFUNCTIONS, INTERVENTIONS, LINKAGES

_FIXED = {
    "functioning.lever_floor", "synergy.exponent", "capability.floor", "capability.emphasis",
    "spillover.strength", "sensemaking.existential_rate", "sensemaking.existential_decay",
    "response.existential_share", "feedback.strength", "recovery.rate",
    "incremental.increasing_exponent", "incremental.decreasing_exponent", "flow.cap",
    "damping.cap", "simulation.quarters",
}


def required_parameters(inputs: pd.DataFrame) -> set[str]:
    names = set(_FIXED)
    for r in inputs.itertuples():
        if r.kind == "proviso":
            names |= {f"strictness_low.{r.name}", f"strictness_high.{r.name}"}
        elif r.kind == "component":
            names.add(f"weight.{r.name}")
        elif r.kind == "lever":
            names.add(f"lever_weight.{r.name}")
    names |= {f"weight.{k}" for k in LINKAGES}
    names |= {f"intervention.{m}.effect" for m in INTERVENTIONS}
    return names


def optional_parameter_patterns() -> list[re.Pattern[str]]:
    """Sparse matrices: a missing entry means zero."""
    d = "|".join(DYSFUNCTIONS)
    return [re.compile(rf"^coupling\.({d})\.({d})$"),
            re.compile(rf"^erosion\.({d})\.({'|'.join(LINKAGES)})$")]
