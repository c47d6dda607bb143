"""Linkages (Malshe 2011) and capabilities (Hughes, Le Bon & Malshe 2012), vectorized.

Where each relation comes from is in ``data/relations.csv`` (basis ``study`` or ``assumption``);
every number is a weight in ``data/parameters.csv``, all of them the book's assumptions.

Linkages (2011). A linkage with a driver (language, structure, process) is the driver times one
*gate* per proviso (P1-P5: the driver helps *provided* the proviso holds). A gate is
``1 - s * (1 - proviso)``: 1 with the proviso met, ``1 - s`` with it absent. The book grades
the boundary conditions (an assumption): the strictness ``s`` moves from ``strictness_low`` to
``strictness_high`` with the proviso's context. Linkages without a driver (social,
philosophical) are weighted means of their components (P6, P7). The SMI connection is the
book's one-number summary: the weighted mean of the five linkages.

Capabilities (2012, P1-P5: levers -> SMI functioning -> synergy -> capability). SMI functioning
is the book's bridge between the studies, a weighted mean of the connection and lever
integration (``functioning.connection_share``); synergy is ``functioning ** exponent``. Each
capability's own value is synergy times a factor that rises with the levers its section
stresses; then spill-overs (2012 Contributions) pull a fed capability toward the mean of its
feeders: ``(1 - s) * own + s * mean(feeders)``, so a strong feeder lifts it and a weak one drags
it. No capability exceeds synergy: a modelling choice of the book, not the paper's claim.

Every weight may be a scalar or an array with one value per scenario row (robustness draws).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import pandas as pd

from . import data as _data
from .data import CAPABILITIES, LEVERS, LINKAGES, Theory, split_tokens, capability_order

LINKAGE_OUTPUTS = [*LINKAGES, "smi_connection"]
CAPABILITY_OUTPUTS = ["lever_integration", "smi_functioning", "synergy", *CAPABILITIES]

Arrays = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class Gate:
    proviso: str
    context: str | None
    low: float
    high: float


@dataclass(frozen=True)
class LinkageSpec:
    drivers: tuple[str, ...]
    gates: tuple[Gate, ...]
    components: tuple[tuple[str, float], ...]  # (input, normalized weight)


@dataclass(frozen=True)
class Compiled:
    """The parameters arranged for fast evaluation."""

    theory: Theory
    linkages: dict[str, LinkageSpec]
    linkage_weights: dict[str, float]
    lever_weights: dict[str, float]
    connection_share: float
    synergy_exponent: float
    capability_floor: float
    emphasis: dict[str, dict[str, float]]  # capability -> lever -> normalized weight
    cap_order: list[str]
    feeders: dict[str, list[str]]  # capability -> capabilities that feed it
    spillover: float
    linkage_inputs: list[str] = field(default_factory=list)


def _normalize(w: dict[str, float]) -> dict[str, float]:
    """Weights summing to 1 (equal shares where all are zero); scalars or arrays alike."""
    total = sum(w.values())
    safe = np.where(total > 0, total, 1.0)
    return {k: np.where(total > 0, v / safe, 1.0 / len(w)) * 1.0 for k, v in w.items()}


@dataclass(frozen=True)
class Structure:
    """What the tables say about the model's shape (no weights): cached per pair of tables, so a
    theory with other weights (a robustness draw, a property test) compiles in microseconds."""

    drivers: dict[str, tuple[str, ...]]
    provisos: dict[str, tuple[tuple[str, str | None], ...]]  # linkage -> (proviso, context)
    components: dict[str, tuple[str, ...]]
    stressed: dict[str, frozenset[str]]
    cap_order: list[str]
    feeders: dict[str, list[str]]
    linkage_inputs: list[str]


_STRUCTURES: dict[tuple[int, int], tuple[pd.DataFrame, pd.DataFrame, Structure]] = {}


def structure(theory: Theory) -> Structure:
    key = (id(theory.inputs), id(theory.capabilities))
    hit = _STRUCTURES.get(key)
    if hit and hit[0] is theory.inputs and hit[1] is theory.capabilities:
        return hit[2]
    inp = theory.inputs
    drivers, provisos, components = {}, {}, {}
    for k in LINKAGES:
        rows = inp[inp.linkage.map(lambda s, k=k: k in split_tokens(s)) & (inp.layer == "linkages")]
        drivers[k] = tuple(rows[rows.kind == "driver"].name)
        provisos[k] = tuple((r.name, r.context or None) for r in rows[rows.kind == "proviso"].itertuples())
        components[k] = tuple(rows[rows.kind == "component"].name)
    caps = theory.capabilities.set_index("capability")
    graph = {c: split_tokens(caps.loc[c, "spills_over_to"]) for c in CAPABILITIES}
    out = Structure(drivers, provisos, components,
                    {c: frozenset(split_tokens(caps.loc[c, "stressed_levers"])) for c in CAPABILITIES},
                    capability_order(graph), {c: [src for src in CAPABILITIES if c in graph[src]] for c in CAPABILITIES},
                    theory.input_names("linkages"))
    _STRUCTURES[key] = (theory.inputs, theory.capabilities, out)  # the tables are kept, so ids stay unique
    return out


def compile_theory(theory: Theory, params: Mapping[str, float | np.ndarray] | None = None) -> Compiled:
    """Arrange the weights for fast evaluation. ``params`` overrides ``theory.params``; its values
    may be arrays (one weight per scenario row), as :mod:`smi.robustness` uses them."""
    p = {**theory.params, **(params or {})}
    st = structure(theory)
    specs = {}
    for k in LINKAGES:
        # a proviso with no context binds with strictness_high everywhere (low is never read)
        gates = tuple(Gate(name, ctx, p[f"strictness_low.{name}"] if ctx else p[f"strictness_high.{name}"],
                           p[f"strictness_high.{name}"]) for name, ctx in st.provisos[k])
        comps = _normalize({n: p[f"weight.{n}"] for n in st.components[k]}) if not st.drivers[k] else {}
        specs[k] = LinkageSpec(st.drivers[k], gates, tuple(comps.items()))
    emph = p["capability.emphasis"]
    emphasis = {c: _normalize({lv: (emph if lv in st.stressed[c] else 1.0) for lv in LEVERS}) for c in CAPABILITIES}
    return Compiled(
        theory=theory,
        linkages=specs,
        linkage_weights=_normalize({k: p[f"weight.{k}"] for k in LINKAGES}),
        lever_weights=_normalize({lv: p[f"lever_weight.{lv}"] for lv in LEVERS}),
        connection_share=p["functioning.connection_share"],
        synergy_exponent=p["synergy.exponent"],
        capability_floor=p["capability.floor"],
        emphasis=emphasis,
        cap_order=st.cap_order,
        feeders=st.feeders,
        spillover=p["spillover.strength"],
        linkage_inputs=st.linkage_inputs,
    )


@functools.lru_cache(maxsize=8)
def _compiled_for(theory: Theory) -> Compiled:
    return compile_theory(theory)


def compiled(theory: Theory | None = None) -> Compiled:
    theory = theory or _data.load()
    return _compiled_for(theory)


# --------------------------------------------------------------------------- array core

def gate(proviso: np.ndarray, context: np.ndarray | float, low: float, high: float) -> np.ndarray:
    """How much of a driver's effect survives a proviso met to degree ``proviso``."""
    strictness = low + (high - low) * context
    return 1.0 - strictness * (1.0 - proviso)


def linkage_arrays(x: Arrays, c: Compiled) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for k, spec in c.linkages.items():
        if spec.drivers:
            v = np.ones_like(x[spec.drivers[0]], dtype=float)
            for d in spec.drivers:
                v = v * x[d]
            for g in spec.gates:
                v = v * gate(x[g.proviso], x[g.context] if g.context else 1.0, g.low, g.high)
        else:
            v = sum(w * x[n] for n, w in spec.components)
        out[k] = v
    out["smi_connection"] = sum(w * out[k] for k, w in c.linkage_weights.items())
    return out


def capability_arrays(connection: np.ndarray, levers: Arrays, c: Compiled) -> dict[str, np.ndarray]:
    integration = sum(w * levers[lv] for lv, w in c.lever_weights.items())
    # the book's bridge: functioning mixes the 2011 connection and the 2012 levers (no ceiling)
    functioning = c.connection_share * connection + (1.0 - c.connection_share) * integration
    synergy = functioning ** c.synergy_exponent
    out = {"lever_integration": integration, "smi_functioning": functioning, "synergy": synergy}
    for cap in c.cap_order:
        focus = sum(w * levers[lv] for lv, w in c.emphasis[cap].items())
        own = synergy * (c.capability_floor + (1.0 - c.capability_floor) * focus)
        if c.feeders[cap]:
            # spill-overs pull a fed capability toward its feeders, up as well as down
            fed = sum(out[src] for src in c.feeders[cap]) / len(c.feeders[cap])
            own = (1.0 - c.spillover) * own + c.spillover * fed
        out[cap] = own
    return {k: out[k] for k in CAPABILITY_OUTPUTS}


def evaluate_arrays(x: Arrays, c: Compiled) -> dict[str, np.ndarray]:
    link = linkage_arrays(x, c)
    return {**link, **capability_arrays(link["smi_connection"], x, c)}


# --------------------------------------------------------------------------- pandas API

def _plain(v):
    """numpy scalars print as np.float64(...); show readers the plain value."""
    return v.item() if hasattr(v, "item") else v


_SPECS: dict[int, tuple[pd.DataFrame, dict[str, dict]]] = {}


def _input_spec(inputs: pd.DataFrame) -> dict[str, dict]:
    """Each input's row as a dict, cached per table (shared by theories that differ in weights)."""
    hit = _SPECS.get(id(inputs))
    if hit and hit[0] is inputs:
        return hit[1]
    spec = {r["name"]: r for r in inputs.to_dict("records")}
    _SPECS[id(inputs)] = (inputs, spec)
    return spec


def input_arrays(df: pd.DataFrame, names: list[str], theory: Theory) -> dict[str, np.ndarray]:
    """Numeric input columns as arrays; a missing column takes its default, a bad value raises."""
    spec = _input_spec(theory.inputs)
    n = len(df)
    out = {}
    for name in names:
        if name in df.columns:
            a = pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=float)
            lo, hi = spec[name]["min"], spec[name]["max"]
            bad = ~((a >= lo) & (a <= hi))  # catches NaN too
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise ValueError(f"input {name!r}, row {df.index[i]!r}: must be a number in [{lo:g}, {hi:g}] "
                                 f"(value {_plain(df[name].iloc[i])!r})")
            if spec[name]["kind"] == "start_quarter" and not np.all(a == np.round(a)):
                i = int(np.flatnonzero(a != np.round(a))[0])
                raise ValueError(f"input {name!r}, row {df.index[i]!r}: a start quarter must be a whole number "
                                 f"(value {_plain(df[name].iloc[i])!r})")
            out[name] = a
        else:
            out[name] = np.full(n, float(spec[name]["default"]))
    return out


def linkages(df: pd.DataFrame, theory: Theory | None = None) -> pd.DataFrame:
    """Five linkage strengths and the overall SMI connection (Malshe 2011), one row per scenario."""
    c = compiled(theory)
    x = input_arrays(df, c.linkage_inputs, c.theory)
    return pd.DataFrame(linkage_arrays(x, c), index=df.index)


def capabilities(df: pd.DataFrame, theory: Theory | None = None) -> pd.DataFrame:
    """From ``smi_connection`` and the eight levers to functioning, synergy and the five capabilities."""
    c = compiled(theory)
    if "smi_connection" not in df.columns:
        raise ValueError("capabilities() needs an 'smi_connection' column (use evaluate() to derive it from linkages)")
    conn = pd.to_numeric(df["smi_connection"], errors="coerce").to_numpy(dtype=float)
    bad = ~((conn >= 0) & (conn <= 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"input 'smi_connection', row {df.index[i]!r}: must be a number in [0, 1] (value {_plain(df['smi_connection'].iloc[i])!r})")
    levers = input_arrays(df, list(LEVERS), c.theory)
    return pd.DataFrame(capability_arrays(conn, levers, c), index=df.index)


def evaluate(df: pd.DataFrame, theory: Theory | None = None) -> pd.DataFrame:
    """Linkages and capabilities for every scenario (row) of ``df``."""
    c = compiled(theory)
    x = input_arrays(df, c.linkage_inputs + list(LEVERS), c.theory)
    return pd.DataFrame(evaluate_arrays(x, c), index=df.index)


def scenario(theory: Theory | None = None, **values: float | str) -> pd.DataFrame:
    """A one-row scenario: every input at its default, overridden by ``values``."""
    theory = theory or _data.load()
    row = dict(theory.defaults)
    unknown = [k for k in values if k not in row]
    if unknown:
        raise ValueError(f"unknown input {unknown[0]!r}")
    row.update(values)
    return pd.DataFrame([row])


def random_scenarios(n: int, seed: int = 0, theory: Theory | None = None) -> pd.DataFrame:
    """``n`` scenarios with every input drawn uniformly within its range (for tests, benchmarks
    and "random firm" buttons)."""
    theory = theory or _data.load()
    rng = np.random.default_rng(seed)
    cols = {}
    for r in theory.inputs.itertuples():
        if r.kind == "switch":
            cols[r.name] = rng.choice(split_tokens(r.choices), n)
        elif r.kind == "start_quarter":
            cols[r.name] = rng.integers(int(r.min), int(r.max) + 1, n)
        else:
            cols[r.name] = rng.uniform(r.min, r.max, n)
    return pd.DataFrame(cols)


def preset(key: str, theory: Theory | None = None) -> pd.DataFrame:
    """A case preset from ``data/presets.yaml`` as a one-row scenario."""
    theory = theory or _data.load()
    p = theory.presets.set_index("key")
    if key not in p.index:
        raise KeyError(f"unknown preset {key!r}; known: {', '.join(p.index)}")
    return p.loc[[key], theory.input_names()].reset_index(drop=True)
