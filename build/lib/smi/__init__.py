"""smi: the integrative teaching model of the sales-marketing interface.

Linkages (Malshe 2011) -> SMI functioning -> capabilities (Hughes, Le Bon & Malshe 2012);
dysfunction dynamics and sensemaking (Malshe, Johnson & Viio 2017); attribution and
sensitivity. Pure Python on numpy/pandas: DataFrames of scenarios in, DataFrames out.

Directions and conditions come from the studies' propositions; every weight is a stated
assumption in ``data/parameters.csv``.
"""
from .data import DataValidationError, Theory, load
from .dynamics import simulate, summarize
from .explain import by_proposition, explain, outputs
from .model import capabilities, evaluate, linkages, preset, random_scenarios, scenario
from .sensitivity import sensitivity

__all__ = [
    "DataValidationError", "Theory", "load", "linkages", "capabilities", "evaluate", "scenario",
    "preset", "random_scenarios", "simulate", "summarize", "explain", "by_proposition", "outputs", "sensitivity",
]
