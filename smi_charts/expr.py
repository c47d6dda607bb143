"""Vega expressions generated from the model, so explorables compute in the browser.

The static site has no kernel, so the model's closed-form parts (linkages and capabilities)
are emitted as an ordered list of ``(field, expression)`` pairs for Vega-Lite ``calculate``
transforms. Each expression reads the slider parameters by name (the input names of
``data/inputs.csv``) and earlier fields as ``datum.<field>``.

Every weight of ``data/parameters.csv`` is read through one function, ``weight(name) ->
expression``: :func:`shipped` gives the shipped value as a constant (sub-expressions of
constants are folded here, so a chart without a band carries plain numbers), and
:class:`DrawFields` reads it from the data row, ``datum.<weight_field(name)>``, so the same
expressions evaluate every row of a table of weight draws (the robustness band). In that case
the weight arithmetic that does not depend on the inputs (normalizing weights to shares) is
emitted once per row as ``wn_*`` fields before the outputs. ``tests/test_explorables.py``
checks the browser-side values and bands against ``smi``.
"""
from __future__ import annotations

from typing import Callable, Mapping

from smi.data import CAPABILITIES, LEVERS, Theory, split_tokens
from smi.model import CAPABILITY_OUTPUTS, LINKAGE_OUTPUTS, Compiled

Weight = Callable[[str], str]  # parameter name (data/parameters.csv) -> Vega expression
Read = Callable[[str], str]    # variable input name -> Vega expression (default: the parameter itself)


def literal(x: float) -> str:
    """A number as a Vega expression literal (full float precision)."""
    return repr(float(x))


def _lit(e: str) -> float | None:
    """The number an expression stands for, when it is a plain literal."""
    try:
        return float(e)
    except ValueError:
        return None


def weight_field(name: str) -> str:
    """The data field holding weight ``name`` in a draw row (Vega-Lite fields cannot contain dots)."""
    return "w_" + name.replace(".", "__")


def shipped(theory: Theory) -> Weight:
    """Weights as the constants of ``data/parameters.csv``."""
    return lambda name: literal(theory.params[name])


class DrawFields:
    """Weights read from the current data row; remembers which weights the expressions used."""

    def __init__(self) -> None:
        self.used: list[str] = []

    def __call__(self, name: str) -> str:
        if name not in self.used:
            self.used.append(name)
        return f"datum.{weight_field(name)}"


class _Gen:
    """Builds the calculations: input-independent weight arithmetic first (``wn_*``), then outputs."""

    def __init__(self, weight: Weight, variable: set[str], fixed: Mapping[str, float], read: Read | None = None):
        self.weight, self.variable, self.fixed = weight, variable, fixed
        self.read = read or (lambda name: name)
        self.prelude: list[tuple[str, str]] = []

    def ref(self, name: str) -> str:
        """A slider's parameter (as ``read`` reads it), or the fixed value for an input without a slider."""
        return self.read(name) if name in self.variable else literal(self.fixed[name])

    def let(self, field: str, e: str) -> str:
        """A constant stays inline; a per-row weight expression becomes one prelude field."""
        if _lit(e) is not None:
            return e
        self.prelude.append((field, e))
        return f"datum.{field}"

    def shares(self, tag: str, raw: Mapping[str, str]) -> dict[str, str]:
        """Weights normalized to sum to 1, equal shares where all are zero (as ``smi.model._normalize``)."""
        vals = [_lit(e) for e in raw.values()]
        if all(v is not None for v in vals):
            total = sum(vals)
            return {k: literal(v / total if total > 0 else 1.0 / len(raw)) for k, v in zip(raw, vals)}
        total = self.let(f"wn_{tag}_total", " + ".join(f"({e})" for e in raw.values()))
        share: dict[str, str] = {}  # one field per distinct raw weight (emphasis: stressed or not)
        for k, e in raw.items():
            if e not in share:
                share[e] = self.let(f"wn_{tag}_{k}", f"({total} > 0 ? ({e}) / {total} : {literal(1.0 / len(raw))})")
        return {k: share[e] for k, e in raw.items()}

    def diff(self, a: str, b: str) -> str:
        la, lb = _lit(a), _lit(b)
        return literal(la - lb) if la is not None and lb is not None else f"({a} - {b})"

    def complement(self, a: str) -> str:
        la = _lit(a)
        return literal(1.0 - la) if la is not None else f"(1 - {a})"


def _linkages(g: _Gen, c: Compiled) -> list[tuple[str, str]]:
    w = g.weight
    out = []
    for k, spec in c.linkages.items():
        if spec.drivers:
            terms = [g.ref(d) for d in spec.drivers]
            for gate in spec.gates:
                high = w(f"strictness_high.{gate.proviso}")
                if gate.context:  # strictness graded from low to high by the context
                    low = w(f"strictness_low.{gate.proviso}")
                    strict = f"({low} + {g.diff(high, low)} * {g.ref(gate.context)})"
                else:  # no context: the proviso binds with strictness_high everywhere (as smi.model)
                    strict = high
                terms.append(f"(1 - {strict} * (1 - {g.ref(gate.proviso)}))")
            out.append((k, " * ".join(terms)))
        else:
            comps = g.shares(k, {n: w(f"weight.{n}") for n, _ in spec.components})
            out.append((k, " + ".join(f"{s} * {g.ref(n)}" for n, s in comps.items())))
    lw = g.shares("linkage", {k: w(f"weight.{k}") for k in c.linkage_weights})
    out.append(("smi_connection", " + ".join(f"{s} * datum.{k}" for k, s in lw.items())))
    return out


def _capabilities(g: _Gen, c: Compiled, connection: str) -> list[tuple[str, str]]:
    w = g.weight
    lever = g.shares("lever", {lv: w(f"lever_weight.{lv}") for lv in LEVERS})
    share = w("functioning.connection_share")
    out = [("lever_integration", " + ".join(f"{s} * {g.ref(lv)}" for lv, s in lever.items())),
           ("smi_functioning", f"{share} * ({connection}) + {g.complement(share)} * datum.lever_integration"),
           ("synergy", f"pow(datum.smi_functioning, {w('synergy.exponent')})")]
    caps = c.theory.capabilities.set_index("capability")
    emph, floor, spill = w("capability.emphasis"), w("capability.floor"), w("spillover.strength")
    for cap in c.cap_order:
        stressed = split_tokens(caps.loc[cap, "stressed_levers"])
        focus = g.shares(cap, {lv: (emph if lv in stressed else "1.0") for lv in LEVERS})
        mix = " + ".join(f"{s} * {g.ref(lv)}" for lv, s in focus.items())
        own = f"datum.synergy * ({floor} + {g.complement(floor)} * ({mix}))"
        if c.feeders[cap]:
            fed = " + ".join(f"datum.{src}" for src in c.feeders[cap])
            own = f"{g.complement(spill)} * {own} + {spill} * ({fed}) / {len(c.feeders[cap])}"
        out.append((cap, own))
    assert sorted(f for f, _ in out) == sorted(CAPABILITY_OUTPUTS)
    assert set(c.cap_order) == set(CAPABILITIES)
    return out


def linkage_calculations(c: Compiled, variable: set[str], fixed: Mapping[str, float],
                         weight: Weight | None = None, read: Read | None = None) -> list[tuple[str, str]]:
    """Fields: any ``wn_*`` weight shares, the five linkages, then ``smi_connection``.

    ``read`` says how an expression reads a variable input; by default it is the parameter of that
    name (a slider), but a table of probes may read some inputs from the row instead."""
    g = _Gen(weight or shipped(c.theory), variable, fixed, read)
    out = _linkages(g, c)
    assert [f for f, _ in out] == LINKAGE_OUTPUTS
    return g.prelude + out


def capability_calculations(c: Compiled, variable: set[str], fixed: Mapping[str, float],
                            connection: str = "datum.smi_connection",
                            weight: Weight | None = None, read: Read | None = None) -> list[tuple[str, str]]:
    """Fields: any ``wn_*`` weight shares, lever integration, SMI functioning, synergy and the
    capabilities (spill-over order).

    ``connection`` is an expression: ``datum.smi_connection`` after :func:`linkage_calculations`,
    or the ``smi_connection`` slider in a capabilities-only explorable. ``read``: as in
    :func:`linkage_calculations`.
    """
    g = _Gen(weight or shipped(c.theory), variable, fixed, read)
    out = _capabilities(g, c, connection)
    return g.prelude + out
