"""smi: the integrative teaching model of the sales-marketing interface.

Linkages (Malshe 2011) -> SMI functioning -> capabilities (Hughes, Le Bon & Malshe 2012);
dysfunction dynamics and sensemaking (Malshe, Johnson & Viio 2017); attribution and
sensitivity. Pure Python on numpy/pandas: DataFrames of scenarios in, DataFrames out.

Directions and conditions come from the studies' propositions; each relation says whether it
comes from a study or is the book's assumption (``data/relations.csv``); every weight is a
stated assumption in ``data/parameters.csv`` with a suggested range and hard bounds
(``smi.model_spec``); ``smi.robustness`` shows how much an answer depends on them.
"""
from .data import DataValidationError, Theory, load
from .dynamics import simulate, summarize
from .explain import assumption_share, by_proposition, explain, outputs
from .model import capabilities, evaluate, linkages, preset, random_scenarios, scenario
from .robustness import evaluate_draws, robustness, simulate_draws, summarize_draws, weight_draws
from .sensitivity import sensitivity

__all__ = [
    "DataValidationError", "Theory", "load", "linkages", "capabilities", "evaluate", "scenario",
    "preset", "random_scenarios", "simulate", "summarize", "explain", "by_proposition", "outputs", "sensitivity",
    "assumption_share", "robustness", "weight_draws", "evaluate_draws", "simulate_draws", "summarize_draws",
]
