"""Dysfunction dynamics (Malshe, Johnson & Viio 2017), quarter by quarter, vectorized over runs.

Where each relation comes from: ``data/relations.csv``. The studies give directions, never a
timing or a size, so every rate below is the book's assumption (``data/parameters.csv``).

State: the three dysfunctions ``D`` (communication paucity, lack of collaboration, overt
conflict) and, for each dysfunction and side, an *existential meaning* ``E``. Each quarter,
for dysfunction ``d`` and side ``s``:

* situational meaning ``S = f(D_d) * (1 - empathy)`` (P1-P6): the immediate reading of the
  dysfunction, damped by measures that reach individual sensemaking (§4.2: openness, joint
  calls, job rotation and, most, the customized individual approach);
* existential meaning ``E <- E + rate * S * (1 - E) - (decay + unlearning) * E`` (the timing is an
  assumption; the customized approach adds ``unlearning``);
* response ``R = (1 - share) * S + share * E``: active ignorance, usurping, lone-wolfism, ...

and each dysfunction ``j`` moves by::

    inflow_j  = sum_i coupling[i, j] * mean_s S[i, s]        (P7: may raise one another)
              + feedback * sum(R of responses that feed j)   (§4.2: responses may exacerbate)
    outflow_j = recovery + resilience * connection(t)        (the book's link to Malshe 2011)
              + sum of function-level effects on j           (§4.1 measures, sizes assumed)
    D_j <- D_j + inflow_j * (1 - D_j) - outflow_j * D_j

``connection(t)`` is the firm's SMI connection with its linkages eroded by the dysfunctions
(``erosion.*``), so a well-linked firm mends a mild dysfunction while a poorly linked one lets
it grow, and a severe dysfunction can wear down the very linkages that would mend it.
``f(x) = x ** k``: ``k > 1`` increasing, ``k < 1`` decreasing incremental effects (§4.3).
Inflow and outflow are capped at ``flow.cap <= 0.5``; every coupling is positive and erosion
only lowers the outflow as dysfunction rises, so the system is monotone: more pressure never
yields less dysfunction, and an earlier measure never does worse than the same one later.

Every weight may be a scalar or an array with one value per run (robustness draws).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from . import data as _data
from . import model as _model
from .data import DYSFUNCTIONS, INTERVENTIONS, LEVERS, LINKAGES, SIDES, Theory, split_tokens

DYS_INDEX = {d: i for i, d in enumerate(DYSFUNCTIONS)}
INCREMENTAL = ("increasing", "linear", "decreasing")


@dataclass(frozen=True)
class Measure:
    name: str
    effect: np.ndarray  # (m,) extra share of each targeted dysfunction removed per quarter
    targets: np.ndarray  # (3,) 1 where the direct effect acts
    empathy: np.ndarray  # (m,) share of sensemaking damped
    mask: np.ndarray  # (3, 2) 1 where the damping acts
    unlearning: np.ndarray  # (m,) extra fading of existential meanings


@dataclass(frozen=True)
class DynSpec:
    coupling: np.ndarray  # (m, 3, 3) from -> to, zero diagonal
    feeds: np.ndarray  # (3 dysfunctions, 2 sides, 3 targets): 1 where that response feeds the target
    erosion: np.ndarray  # (m, 3 dysfunctions, 5 linkages)
    constructs: dict[tuple[str, str, str], tuple[str, str]]  # (dys, side, stage) -> (construct, polarity)
    measures: tuple[Measure, ...]
    p: dict[str, np.ndarray]  # every scalar weight as an (m,) array


def _rows(p: Mapping[str, float | np.ndarray]) -> int:
    sizes = {np.size(v) for v in p.values()} - {1}
    if len(sizes) > 1:
        raise ValueError(f"weight arrays of different lengths: {sorted(sizes)}")
    return sizes.pop() if sizes else 1


def compile_dynamics(theory: Theory, params: Mapping[str, float | np.ndarray] | None = None) -> DynSpec:
    p = {**theory.params, **(params or {})}
    m = _rows(p)
    arr = {k: np.broadcast_to(np.asarray(v, dtype=float).reshape(-1), (m,)) for k, v in p.items()}
    coupling = np.zeros((m, 3, 3))
    erosion = np.zeros((m, 3, len(LINKAGES)))
    for name, value in arr.items():
        parts = name.split(".")
        if parts[0] == "coupling":
            coupling[:, DYS_INDEX[parts[1]], DYS_INDEX[parts[2]]] = value
        elif parts[0] == "erosion":
            erosion[:, DYS_INDEX[parts[1]], LINKAGES.index(parts[2])] = value
    feeds = np.zeros((3, 2, 3))
    constructs = {}
    for r in theory.sensemaking.itertuples():
        constructs[(r.dysfunction, r.side, r.stage)] = (r.construct, r.polarity)
        for t in split_tokens(r.feeds):
            feeds[DYS_INDEX[r.dysfunction], SIDES.index(r.side), DYS_INDEX[t]] = 1.0
    iv = theory.interventions.set_index("intervention")
    zero = np.zeros(m)
    measures = []
    for name in INTERVENTIONS:
        toks = split_tokens(iv.loc[name, "acts_on"])
        targets = np.array([1.0 if ("all" in toks or d in toks) else 0.0 for d in DYSFUNCTIONS])
        mask = np.array([[1.0 if ("all" in toks or d in toks or f"{d}:{s}" in toks) else 0.0 for s in SIDES]
                         for d in DYSFUNCTIONS])
        measures.append(Measure(name, arr.get(f"intervention.{name}.effect", zero), targets,
                                arr.get(f"intervention.{name}.empathy", zero), mask,
                                arr.get(f"intervention.{name}.unlearning", zero)))
    return DynSpec(coupling, feeds, erosion, constructs, tuple(measures), arr)


@functools.lru_cache(maxsize=8)
def _dyn_for(theory: Theory) -> DynSpec:
    return compile_dynamics(theory)


def dyn_spec(theory: Theory | None = None) -> DynSpec:
    theory = theory or _data.load()
    return _dyn_for(theory)


def exponents(incremental: np.ndarray, p: Mapping[str, np.ndarray]) -> np.ndarray:
    """Per-run exponent of the incremental-effects curve."""
    n = len(incremental)
    k = np.ones(n)
    inc = np.broadcast_to(p["incremental.increasing_exponent"], (n,))
    dec = np.broadcast_to(p["incremental.decreasing_exponent"], (n,))
    k = np.where(incremental == "increasing", inc, k)
    return np.where(incremental == "decreasing", dec, k)


def eroded(L0: np.ndarray, Dk: np.ndarray, erosion: np.ndarray) -> np.ndarray:
    """The five linkages (..., n, 5) eroded by dysfunction levels ``Dk`` (..., n, 3): each keeps
    the share ``prod_d (1 - Dk_d * erosion_dj)`` of its undisturbed value ``L0`` (n, 5)."""
    return L0 * np.prod(1.0 - Dk[..., :, None] * erosion, axis=-2)


def connection_arrays(link0: Mapping[str, np.ndarray], Dk: np.ndarray, spec: DynSpec,
                      weights: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Linkages eroded by dysfunction levels ``Dk`` (..., n, 3) and the SMI connection they make."""
    n = Dk.shape[-2]
    L0 = np.stack([np.broadcast_to(link0[k], (n,)) for k in LINKAGES], axis=1)
    W = np.stack([np.broadcast_to(weights[k], (n,)) for k in LINKAGES], axis=1)
    links = eroded(L0, Dk, np.broadcast_to(spec.erosion, (n, 3, len(LINKAGES))))
    return {k: links[..., j] for j, k in enumerate(LINKAGES)}, (links * W).sum(axis=-1)


def simulate_arrays(x: dict[str, np.ndarray], quarters: int, spec: DynSpec,
                    link0: Mapping[str, np.ndarray], weights: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Core loop. Returns arrays shaped (quarters + 1, runs) keyed by state name."""
    p = spec.p
    n = len(x["start_communication_paucity"])

    def col(name: str) -> np.ndarray:  # a weight as an (n, 1) column
        return np.broadcast_to(p[name], (n,))[:, None]

    D = np.stack([x[f"start_{d}"] for d in DYSFUNCTIONS], axis=1).astype(float)  # (n, 3)
    E = np.zeros((n, 3, 2))
    k = exponents(np.asarray(x["incremental_effects"]), p)[:, None]
    rate, decay, share = col("sensemaking.existential_rate")[:, :, None], col("sensemaking.existential_decay")[:, :, None], \
        col("response.existential_share")[:, :, None]
    fb, cap, recovery, resilience = col("feedback.strength"), col("flow.cap"), col("recovery.rate"), col("resilience.strength")
    damp_cap = col("damping.cap")[:, :, None]
    coupling = np.broadcast_to(spec.coupling, (n, 3, 3))
    D_hist = np.empty((quarters + 1, n, 3))
    S_hist = np.empty((quarters + 1, n, 3, 2))
    E_hist = np.empty((quarters + 1, n, 3, 2))
    R_hist = np.empty((quarters + 1, n, 3, 2))
    # every measure's schedule at once, outside the loop: (T+1, n) strength once started
    t_axis = np.arange(quarters + 1)[:, None]
    damp_all = np.zeros((quarters + 1, n, 3, 2))
    unlearn_all = np.zeros((quarters + 1, n, 1, 1))
    direct_all = np.zeros((quarters + 1, n, 3))
    for m in spec.measures:
        on = (t_axis >= x[f"{m.name}_start"][None, :]) * x[m.name][None, :]
        damp_all += (on * np.broadcast_to(m.empathy, (n,)))[:, :, None, None] * m.mask
        unlearn_all += (on * np.broadcast_to(m.unlearning, (n,)))[:, :, None, None]
        direct_all += (on * np.broadcast_to(m.effect, (n,)))[:, :, None] * m.targets
    damp_all = np.minimum(damp_all, damp_cap[None])
    # the undisturbed linkages and their weights as (n, 5) arrays, for the connection each quarter
    L0 = np.stack([np.broadcast_to(link0[k], (n,)) for k in LINKAGES], axis=1)
    W = np.stack([np.broadcast_to(weights[k], (n,)) for k in LINKAGES], axis=1)
    erosion = np.broadcast_to(spec.erosion, (n, 3, len(LINKAGES)))
    for t in range(quarters + 1):
        Dk = D ** k  # the incremental-effects curve shapes every effect of a dysfunction
        S = Dk[:, :, None] * (1.0 - damp_all[t])
        R = (1.0 - share) * S + share * E
        D_hist[t], S_hist[t], E_hist[t], R_hist[t] = D, S, E, R
        if t == quarters:
            break
        # dysfunctions spread through how people read them (2017 §3.4): coupling acts on the
        # situational meaning, so damping sensemaking also slows the circular progression
        inflow = np.einsum("nd,ndt->nt", S.mean(axis=2), coupling) + fb * np.einsum("nds,dst->nt", R, spec.feeds)
        conn = (eroded(L0, Dk, erosion) * W).sum(axis=-1)
        outflow = recovery + resilience * conn[:, None] + direct_all[t]
        inflow = np.minimum(np.maximum(inflow, 0.0), cap)
        outflow = np.minimum(np.maximum(outflow, 0.0), cap)
        D = D + inflow * (1.0 - D) - outflow * D
        fade = np.minimum(decay + unlearn_all[t], 1.0 - rate)  # keeps E in [0, 1] and monotone
        E = E + rate * S * (1.0 - E) - fade * E
    return {"D": D_hist, "S": S_hist, "E": E_hist, "R": R_hist}


def scenario_arrays(df: pd.DataFrame, theory: Theory) -> dict[str, np.ndarray]:
    """Every input of the scenarios as an array (defaults for missing columns); a bad value raises."""
    names = [n for n in theory.input_names() if n != "incremental_effects"]
    x = _model.input_arrays(df, names, theory)
    if "incremental_effects" in df.columns:
        inc = df["incremental_effects"].astype(str).to_numpy()
        bad = ~np.isin(inc, INCREMENTAL)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(f"input 'incremental_effects', row {df.index[i]!r}: must be one of "
                             f"{', '.join(INCREMENTAL)} (value {inc[i]!r})")
    else:
        inc = np.full(len(df), theory.defaults["incremental_effects"])
    x["incremental_effects"] = inc
    return x


def simulate(df: pd.DataFrame, quarters: int | None = None, theory: Theory | None = None) -> pd.DataFrame:
    """Run every scenario (row of ``df``) forward; one output row per run and quarter.

    Columns: ``run`` (the index of ``df``), ``quarter``, the three dysfunctions, every
    sensemaking construct (24 minus the 6 triggers, whose salience is the dysfunction itself;
    constructs whose polarity is ``falls`` are reported as ``1 - intensity``), the five
    linkages, the SMI connection, SMI functioning, synergy, the five capabilities and
    ``functioning_potential`` (the firm's SMI functioning with no dysfunction).
    """
    theory = theory or _data.load()
    quarters = int(theory.param("simulation.quarters") if quarters is None else quarters)
    if quarters < 1:
        raise ValueError(f"quarters must be at least 1 (value {quarters!r})")
    a = simulate_core(df, quarters, theory)
    T1, n = quarters + 1, len(df)
    cols = {"run": np.tile(df.index.to_numpy(), T1), "quarter": np.repeat(np.arange(T1), n)}
    for name, arr in a.items():
        cols[name] = arr.reshape(-1)
    return pd.DataFrame(cols)


def simulate_core(df: pd.DataFrame, quarters: int, theory: Theory,
                  params: Mapping[str, float | np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Named (quarters + 1, runs) arrays of every simulated quantity. ``params`` overrides weights
    (arrays: one value per run, as the robustness draws use them)."""
    if params:
        spec, c = compile_dynamics(theory, params), _model.compile_theory(theory, params)
    else:
        spec, c = dyn_spec(theory), _model.compiled(theory)
    x = scenario_arrays(df, theory)
    link0 = _model.linkage_arrays(x, c)
    st = simulate_arrays(x, quarters, spec, link0, c.linkage_weights)
    out: dict[str, np.ndarray] = {}
    for i, d in enumerate(DYSFUNCTIONS):
        out[d] = st["D"][:, :, i]
    stage_arr = {"situational_meaning": st["S"], "existential_meaning": st["E"], "response": st["R"]}
    for (d, s, stage), (construct, polarity) in spec.constructs.items():
        if stage == "trigger":
            continue
        v = stage_arr[stage][:, :, DYS_INDEX[d], SIDES.index(s)]
        out[construct] = 1.0 - v if polarity == "falls" else v
    # the firm's SMI functioning with no dysfunction at all: the reference for functioning loss
    potential = _model.capability_arrays(link0["smi_connection"], x, c)["smi_functioning"]
    Dk = st["D"] ** exponents(x["incremental_effects"], spec.p)[None, :, None]
    eroded, conn = connection_arrays(link0, Dk, spec, c.linkage_weights)
    out.update(eroded)
    out["smi_connection"] = conn
    levers = {lv: x[lv][None, :] for lv in LEVERS}
    out.update(_model.capability_arrays(out["smi_connection"], levers, c))
    out["functioning_potential"] = np.broadcast_to(potential, (len(df),))[None, :]
    shape = out["smi_connection"].shape
    return {k: np.broadcast_to(v, shape) for k, v in out.items()}


SUMMARY_OUTPUTS = ("cumulative_dysfunction", "final_dysfunction", "peak_dysfunction", "functioning_loss")


def summarize_core(a: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    total = sum(a[d] for d in DYSFUNCTIONS)  # (T+1, n)
    f, f0 = a["smi_functioning"], a["functioning_potential"][0]
    return {
        # mean over quarters 1..T of the summed dysfunctions (0-3): the area under the curve
        "cumulative_dysfunction": total[1:].mean(axis=0),
        "final_dysfunction": total[-1],
        "peak_dysfunction": total.max(axis=0),
        # average share of the firm's undisturbed SMI functioning lost over quarters 1..T
        "functioning_loss": np.where(f0 > 0, 1.0 - f[1:].mean(axis=0) / np.where(f0 > 0, f0, 1.0), 0.0),
    }


def summarize(df: pd.DataFrame, quarters: int | None = None, theory: Theory | None = None) -> pd.DataFrame:
    """One row per run: cumulative, final and peak dysfunction (each 0-3) and functioning loss."""
    theory = theory or _data.load()
    quarters = int(theory.param("simulation.quarters") if quarters is None else quarters)
    return pd.DataFrame(summarize_core(simulate_core(df, quarters, theory)), index=df.index)
