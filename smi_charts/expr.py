"""Vega expressions generated from the compiled model, so explorables compute in the browser.

The static site has no kernel, so the model's closed-form parts (linkages and capabilities)
are emitted as an ordered list of ``(field, expression)`` pairs for Vega-Lite
``calculate`` transforms. Each expression reads the slider parameters by name (the input
names of ``data/inputs.csv``) and earlier fields as ``datum.<field>``. Numbers come from the
same compiled parameters as ``smi.model``; ``tests/test_explorables.py`` checks that the
browser-side values equal the Python model's.
"""
from __future__ import annotations

from typing import Mapping

from smi.model import CAPABILITY_OUTPUTS, LINKAGE_OUTPUTS, Compiled


def _num(x: float) -> str:
    return repr(float(x))


def _ref(name: str, variable: set[str], fixed: Mapping[str, float]) -> str:
    """A slider's parameter name, or the fixed value for an input without a slider."""
    return name if name in variable else _num(fixed[name])


def linkage_calculations(c: Compiled, variable: set[str], fixed: Mapping[str, float]) -> list[tuple[str, str]]:
    """Fields: the five linkages, then ``smi_connection``."""
    out = []
    for k, spec in c.linkages.items():
        if spec.drivers:
            terms = [_ref(d, variable, fixed) for d in spec.drivers]
            for g in spec.gates:
                ctx = _ref(g.context, variable, fixed) if g.context else "1"
                strict = f"({_num(g.low)} + {_num(g.high - g.low)} * {ctx})"
                terms.append(f"(1 - {strict} * (1 - {_ref(g.proviso, variable, fixed)}))")
            out.append((k, " * ".join(terms)))
        else:
            out.append((k, " + ".join(f"{_num(w)} * {_ref(n, variable, fixed)}" for n, w in spec.components)))
    out.append(("smi_connection", " + ".join(f"{_num(w)} * datum.{k}" for k, w in c.linkage_weights.items())))
    assert [f for f, _ in out] == LINKAGE_OUTPUTS
    return out


def capability_calculations(c: Compiled, variable: set[str], fixed: Mapping[str, float],
                            connection: str = "datum.smi_connection") -> list[tuple[str, str]]:
    """Fields: lever integration, SMI functioning, synergy and the capabilities (spill-over order).

    ``connection`` is an expression: ``datum.smi_connection`` after :func:`linkage_calculations`,
    or the ``smi_connection`` slider in a capabilities-only explorable.
    """
    out = [("lever_integration", " + ".join(f"{_num(w)} * {_ref(lv, variable, fixed)}" for lv, w in c.lever_weights.items())),
           ("smi_functioning", f"{_num(c.connection_share)} * ({connection}) + {_num(1 - c.connection_share)} * datum.lever_integration"),
           ("synergy", f"pow(datum.smi_functioning, {_num(c.synergy_exponent)})")]
    for cap in c.cap_order:
        focus = " + ".join(f"{_num(w)} * {_ref(lv, variable, fixed)}" for lv, w in c.emphasis[cap].items())
        own = f"datum.synergy * ({_num(c.capability_floor)} + {_num(1 - c.capability_floor)} * ({focus}))"
        if c.feeders[cap]:
            fed = " + ".join(f"datum.{src}" for src in c.feeders[cap])
            own = f"{_num(1 - c.spillover)} * {own} + {_num(c.spillover / len(c.feeders[cap]))} * ({fed})"
        out.append((cap, own))
    assert sorted(f for f, _ in out) == sorted(CAPABILITY_OUTPUTS)
    return out
