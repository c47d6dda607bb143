"""Dysfunction dynamics (Malshe, Johnson & Viio 2017), quarter by quarter, vectorized over runs.

State: the three dysfunctions ``D`` (communication paucity, lack of collaboration, overt
conflict) and, for each dysfunction and side, an *existential meaning* ``E`` that builds up
over time. Each quarter, for dysfunction ``d`` and side ``s`` (P1-P6):

* situational meaning ``S = f(D_d) * (1 - damping)``: the immediate reading of the dysfunction,
  damped by measures that reach individual sensemaking (openness, joint calls, job rotation);
* existential meaning ``E <- E + rate * S * (1 - E) - decay * E``: the reading hardens;
* response ``R = (1 - share) * S + share * E``: active ignorance, usurping, lone-wolfism, ...

and each dysfunction ``j`` moves by (P7, bidirectional circularity)::

    inflow_j  = sum_i coupling[i, j] * mean_s S[i, s] + feedback * sum(R of responses that feed j)
    outflow_j = recovery + function_fix_strength * effect      (once the fix has started)
    D_j <- D_j + inflow_j * (1 - D_j) - outflow_j * D_j

with ``f(x) = x ** k``: ``k > 1`` increasing, ``k < 1`` decreasing incremental effects (2017
§4.3). Inflow and outflow are capped at ``flow.cap <= 0.5``; with every coupling positive this
keeps the system monotone, so more pressure never yields less dysfunction and an earlier
intervention never does worse than the same one started later.

The dysfunctions erode the linkages (``erosion.*`` parameters): each linkage is multiplied by
``prod_d (1 - erosion[d, k] * D_d)``, which lowers the SMI connection, SMI functioning and the
capabilities quarter by quarter.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import data as _data
from . import model as _model
from .data import DYSFUNCTIONS, LEVERS, LINKAGES, SIDES, Theory, _split

DYS_INDEX = {d: i for i, d in enumerate(DYSFUNCTIONS)}
INCREMENTAL = ("increasing", "linear", "decreasing")


@dataclass(frozen=True)
class DynSpec:
    coupling: np.ndarray  # (3, 3) from -> to, zero diagonal
    feeds: np.ndarray  # (3 dysfunctions, 2 sides, 3 targets): 1 where that response feeds the target
    erosion: np.ndarray  # (3 dysfunctions, 5 linkages)
    constructs: dict[tuple[str, str, str], tuple[str, str]]  # (dys, side, stage) -> (construct, polarity)
    fix_targets: np.ndarray  # (3,) 1 where the function-level fix acts
    measures: tuple[tuple[str, float, np.ndarray], ...]  # (input name, effect, (3, 2) mask)
    p: dict[str, float]


def compile_dynamics(theory: Theory) -> DynSpec:
    p = theory.params
    coupling = np.zeros((3, 3))
    erosion = np.zeros((3, len(LINKAGES)))
    for name, value in p.items():
        parts = name.split(".")
        if parts[0] == "coupling":
            if parts[1] == parts[2]:
                raise _data.DataValidationError(
                    f"parameters.csv: row {name!r}, field 'name': a dysfunction cannot be coupled to itself (value {name!r})")
            coupling[DYS_INDEX[parts[1]], DYS_INDEX[parts[2]]] = value
        elif parts[0] == "erosion":
            erosion[DYS_INDEX[parts[1]], LINKAGES.index(parts[2])] = value
    feeds = np.zeros((3, 2, 3))
    constructs = {}
    for r in theory.sensemaking.itertuples():
        constructs[(r.dysfunction, r.side, r.stage)] = (r.construct, r.polarity)
        for t in _split(r.feeds):
            feeds[DYS_INDEX[r.dysfunction], SIDES.index(r.side), DYS_INDEX[t]] = 1.0
    iv = theory.interventions.set_index("intervention")
    fix_targets = np.array([1.0 if d in _split(iv.loc["function_fix", "acts_on"]) else 0.0 for d in DYSFUNCTIONS])
    measures = []
    for m, row in iv.iterrows():
        if row.kind != "sensemaking":
            continue
        toks = _split(row.acts_on)
        mask = np.array([[1.0 if ("all" in toks or f"{d}:{s}" in toks) else 0.0 for s in SIDES] for d in DYSFUNCTIONS])
        measures.append((m, p[f"intervention.{m}.effect"], mask))
    return DynSpec(coupling, feeds, erosion, constructs, fix_targets, tuple(measures), p)


@functools.lru_cache(maxsize=8)
def _dyn_for(theory: Theory) -> DynSpec:
    return compile_dynamics(theory)


def dyn_spec(theory: Theory | None = None) -> DynSpec:
    theory = theory or _data.load()
    return _dyn_for(theory)


def exponents(incremental: np.ndarray, p: dict[str, float]) -> np.ndarray:
    """Per-run exponent of the incremental-effects curve."""
    k = np.ones(len(incremental))
    k[incremental == "increasing"] = p["incremental.increasing_exponent"]
    k[incremental == "decreasing"] = p["incremental.decreasing_exponent"]
    return k


def simulate_arrays(x: dict[str, np.ndarray], quarters: int, spec: DynSpec) -> dict[str, np.ndarray]:
    """Core loop. Returns arrays shaped (quarters + 1, runs) keyed by state name."""
    p = spec.p
    n = len(x["start_communication_paucity"])
    D = np.stack([x[f"start_{d}"] for d in DYSFUNCTIONS], axis=1).astype(float)  # (n, 3)
    E = np.zeros((n, 3, 2))
    k = exponents(np.asarray(x["incremental_effects"]), p)[:, None]
    rate, decay = p["sensemaking.existential_rate"], p["sensemaking.existential_decay"]
    share, fb, cap = p["response.existential_share"], p["feedback.strength"], p["flow.cap"]
    fix_effect = p["intervention.function_fix.effect"] * x["function_fix"]
    D_hist = np.empty((quarters + 1, n, 3))
    S_hist = np.empty((quarters + 1, n, 3, 2))
    E_hist = np.empty((quarters + 1, n, 3, 2))
    R_hist = np.empty((quarters + 1, n, 3, 2))
    for t in range(quarters + 1):
        damp = np.zeros((n, 3, 2))
        for name, effect, mask in spec.measures:
            on = (t >= x[f"{name}_start"]) * x[name] * effect  # (n,)
            damp += on[:, None, None] * mask[None]
        damp = np.minimum(damp, p["damping.cap"])
        Dk = D ** k  # the incremental-effects curve shapes every effect of a dysfunction
        S = Dk[:, :, None] * (1.0 - damp)
        R = (1.0 - share) * S + share * E
        D_hist[t], S_hist[t], E_hist[t], R_hist[t] = D, S, E, R
        if t == quarters:
            break
        # dysfunctions spread through how people read them (2017 §3.4): coupling acts on the
        # situational meaning, so damping sensemaking also slows the circular progression
        inflow = S.mean(axis=2) @ spec.coupling + fb * np.einsum("nds,dst->nt", R, spec.feeds)
        fix_on = (t >= x["function_fix_start"]) * fix_effect
        outflow = p["recovery.rate"] + fix_on[:, None] * spec.fix_targets[None]
        inflow = np.clip(inflow, 0.0, cap)
        outflow = np.clip(outflow, 0.0, cap)
        D = D + inflow * (1.0 - D) - outflow * D
        E = E + rate * S * (1.0 - E) - decay * E
    return {"D": D_hist, "S": S_hist, "E": E_hist, "R": R_hist}


def _erode(linkages0: dict[str, np.ndarray], D: np.ndarray, spec: DynSpec, incremental_k: np.ndarray) -> dict[str, np.ndarray]:
    """Linkages at each quarter: (T+1, n) per linkage."""
    Dk = D ** incremental_k[None, :, None]  # (T+1, n, 3)
    out = {}
    for j, name in enumerate(LINKAGES):
        factor = np.prod(1.0 - Dk * spec.erosion[None, None, :, j], axis=2)
        out[name] = linkages0[name][None, :] * factor
    return out


def _inputs(df: pd.DataFrame, theory: Theory) -> dict[str, np.ndarray]:
    names = [n for n in theory.input_names() if n != "incremental_effects"]
    x = _model._columns(df, names, theory)
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


def simulate_core(df: pd.DataFrame, quarters: int, theory: Theory) -> dict[str, np.ndarray]:
    """Named (quarters + 1, runs) arrays of every simulated quantity."""
    spec = dyn_spec(theory)
    c = _model.compiled(theory)
    x = _inputs(df, theory)
    st = simulate_arrays(x, quarters, spec)
    out: dict[str, np.ndarray] = {}
    for i, d in enumerate(DYSFUNCTIONS):
        out[d] = st["D"][:, :, i]
    stage_arr = {"situational_meaning": st["S"], "existential_meaning": st["E"], "response": st["R"]}
    for (d, s, stage), (construct, polarity) in spec.constructs.items():
        if stage == "trigger":
            continue
        v = stage_arr[stage][:, :, DYS_INDEX[d], SIDES.index(s)]
        out[construct] = 1.0 - v if polarity == "falls" else v
    link0 = _model.linkage_arrays(x, c)
    # the firm's SMI functioning with no dysfunction at all: the reference for functioning loss
    potential = _model.capability_arrays(link0["smi_connection"], x, c)["smi_functioning"]
    eroded = _erode(link0, st["D"], spec, exponents(x["incremental_effects"], spec.p))
    out.update(eroded)
    out["smi_connection"] = sum(w * eroded[k] for k, w in c.linkage_weights.items())
    levers = {lv: x[lv][None, :] for lv in LEVERS}
    out.update(_model.capability_arrays(out["smi_connection"], levers, c))
    out["functioning_potential"] = potential[None, :]
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
