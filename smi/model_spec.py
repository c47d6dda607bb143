"""Which parameters the model reads, and the hard bounds no instructor's edit may cross.

Kept apart from the model so validation can insist that every weight the model uses is listed
in ``data/parameters.csv`` (and nothing unknown is) without importing the model itself.

Two kinds of limit:

* the *suggested range* of a weight (``min``/``max`` in ``parameters.csv``): editable, it is
  where the robustness draws come from;
* the *hard bounds* below, fixed in code: inside them every proposition's direction holds for
  any combination of weights (``tests/test_propositions.py`` draws weights anywhere inside them).
  A suggested range, or a value, outside its hard bounds is a load error.
"""
from __future__ import annotations

import re

import pandas as pd

from .data import DYSFUNCTIONS, LINKAGES

_FIXED = {
    "functioning.connection_share", "synergy.exponent", "capability.floor", "capability.emphasis",
    "spillover.strength", "sensemaking.existential_rate", "sensemaking.existential_decay",
    "response.existential_share", "feedback.strength", "recovery.rate", "resilience.strength",
    "incremental.increasing_exponent", "incremental.decreasing_exponent", "flow.cap",
    "damping.cap", "simulation.quarters",
    "intervention.function_fix.effect", "intervention.joint_calls.effect", "intervention.joint_calls.empathy",
    "intervention.job_rotation.effect", "intervention.job_rotation.empathy", "intervention.openness.empathy",
    "intervention.customized.empathy", "intervention.customized.unlearning",
}

# (pattern, low, high, why). The first matching pattern applies.
HARD_BOUNDS: list[tuple[re.Pattern[str], float, float, str]] = [(re.compile(p), lo, hi, why) for p, lo, hi, why in [
    (r"^strictness_(low|high)\.", 0.0, 1.0, "a gate keeps between none and all of a driver's effect"),
    (r"^(weight|lever_weight)\.", 0.0, 10.0, "weights are relative and never negative"),
    (r"^functioning\.connection_share$", 0.0, 1.0, "a share"),
    (r"^synergy\.exponent$", 0.25, 4.0, "a positive curvature keeps synergy rising with functioning"),
    (r"^capability\.floor$", 0.0, 1.0, "a share"),
    (r"^capability\.emphasis$", 1.0, 10.0, "a stressed lever never counts less than the others"),
    (r"^spillover\.strength$", 0.0, 0.9, "below 1 a capability keeps part of its own levers' effect"),
    (r"^coupling\.", 0.0, 0.5, "P7: a dysfunction may raise another, never lower it"),
    (r"^erosion\.", 0.0, 1.0, "a dysfunction can wear a linkage down to nothing, never below"),
    (r"^sensemaking\.existential_rate$", 0.0, 0.9, "a share per quarter"),
    (r"^sensemaking\.existential_decay$", 0.0, 0.5, "a share per quarter (the model caps rate + fading at 1)"),
    (r"^response\.existential_share$", 0.0, 1.0, "a share"),
    (r"^feedback\.strength$", 0.0, 0.3, "responses may worsen, never ease, what they feed"),
    (r"^recovery\.rate$", 0.0, 0.3, "a share per quarter"),
    (r"^resilience\.strength$", 0.0, 0.5, "linkages may help a dysfunction fade, never feed it"),
    (r"^incremental\.increasing_exponent$", 1.0, 4.0, "an increasing curve is convex"),
    (r"^incremental\.decreasing_exponent$", 0.1, 1.0, "a decreasing curve is concave"),
    (r"^flow\.cap$", 0.05, 0.5, "at most 0.5 keeps the dynamics monotone"),
    (r"^damping\.cap$", 0.0, 1.0, "a share"),
    (r"^intervention\.[a-z_]+\.effect$", 0.0, 0.5, "a measure removes dysfunction, never adds it"),
    (r"^intervention\.[a-z_]+\.empathy$", 0.0, 1.0, "a share"),
    (r"^intervention\.[a-z_]+\.unlearning$", 0.0, 0.5, "a share per quarter"),
    (r"^simulation\.quarters$", 1.0, 200.0, "a horizon in whole quarters"),
]]

# Pairs whose values must be ordered: (lower, higher, why).
def ordered_pairs(names: set[str]) -> list[tuple[str, str, str]]:
    return [(n, n.replace("strictness_low.", "strictness_high."),
             "a proviso cannot bind less where its context is stronger (P1-P4 as the book grades them)")
            for n in sorted(names) if n.startswith("strictness_low.") and n.replace("low", "high", 1) in names]


def hard_bounds(name: str) -> tuple[float, float, str]:
    for pat, lo, hi, why in HARD_BOUNDS:
        if pat.search(name):
            return lo, hi, why
    raise KeyError(name)


def required_parameters(inputs: pd.DataFrame) -> set[str]:
    names = set(_FIXED)
    for r in inputs.itertuples():
        if r.kind == "proviso":
            # a proviso without a context binds with one strictness (strictness_high), always
            names |= {f"strictness_low.{r.name}", f"strictness_high.{r.name}"} if r.context else {f"strictness_high.{r.name}"}
        elif r.kind == "component":
            names.add(f"weight.{r.name}")
        elif r.kind == "lever":
            names.add(f"lever_weight.{r.name}")
    names |= {f"weight.{k}" for k in LINKAGES}
    return names


def optional_parameter_patterns() -> list[re.Pattern[str]]:
    """Sparse matrices: a missing entry means zero."""
    d = "|".join(DYSFUNCTIONS)
    return [re.compile(rf"^coupling\.({d})\.({d})$"),
            re.compile(rf"^erosion\.({d})\.({'|'.join(LINKAGES)})$")]
