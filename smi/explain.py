"""Why the model predicts what it predicts: Shapley attributions, grouped by proposition.

Attribution is relative to a baseline scenario (default: every input at its default in
``data/inputs.csv`` — a middling firm with no dysfunction and no intervention) and always
sums exactly to ``output(scenario) - output(baseline)``.

* Linkages: each linkage depends on a handful of inputs (at most six), so its Shapley values
  are computed exactly over all coalitions of those inputs. The SMI connection is a weighted
  sum of the linkages, so by linearity its Shapley values are the same weighted sum.
* Functioning, synergy and capabilities: exact Shapley over nine players, the eight levers
  and the SMI connection; the connection's share is then passed down to the linkage inputs in
  proportion to their exact Shapley values for the connection. This follows the model's own
  causal graph (inputs -> connection -> functioning), the idea behind "Shapley flow"
  (Wang, Wiens & Lundberg 2021), and keeps efficiency exact. It is a two-level attribution,
  not the Shapley value of a game over all inputs at once.
* Dysfunction summaries (cumulative, final, peak dysfunction; functioning loss): exact Shapley
  over the dynamics inputs (starting levels, incremental-effects switch, and each measure with
  its start quarter as one player, reported on the measure's strength), with the firm's linkage
  and lever inputs held at the scenario's values: "for this firm, what did the starting
  dysfunctions and the measures do?".
"""
from __future__ import annotations

import math
from itertools import product
from typing import Callable

import numpy as np
import pandas as pd

from . import data as _data
from . import dynamics as _dyn
from . import model as _model
from .data import LEVERS, LINKAGES, Theory, split_tokens

Evaluator = Callable[[pd.DataFrame], np.ndarray]


def outputs(theory: Theory | None = None) -> pd.DataFrame:
    """Every output the model can explain: name, label, layer, which way is better."""
    theory = theory or _data.load()
    rows = [(k, theory.linkages.set_index("linkage").loc[k, "label"], "linkages", "higher") for k in LINKAGES]
    rows.append(("smi_connection", "SMI connection", "linkages", "higher"))
    rows += [("lever_integration", "Lever integration", "capabilities", "higher"),
             ("smi_functioning", "SMI functioning", "capabilities", "higher"),
             ("synergy", "Cross-functional synergy", "capabilities", "higher")]
    caps = theory.capabilities.set_index("capability")
    rows += [(c, caps.loc[c, "label"], "capabilities", "higher") for c in caps.index]
    rows += [("cumulative_dysfunction", "Cumulative dysfunction (mean over quarters, 0-3)", "dynamics", "lower"),
             ("final_dysfunction", "Final dysfunction (0-3)", "dynamics", "lower"),
             ("peak_dysfunction", "Peak dysfunction (0-3)", "dynamics", "lower"),
             ("functioning_loss", "Share of SMI functioning lost", "dynamics", "lower")]
    return pd.DataFrame(rows, columns=["output", "label", "layer", "better"])


# --------------------------------------------------------------------------- exact Shapley

def shapley(f: Evaluator, x: pd.DataFrame, base: pd.DataFrame, players: list[str | tuple[str, ...]]) -> np.ndarray:
    """Exact Shapley values of ``f`` for each row of ``x`` against the matching row of ``base``.

    A player is a column, or a tuple of columns that move together. Evaluates ``f`` on all
    ``2**m`` coalitions at once; returns an (n, m) array.
    """
    n, m = len(x), len(players)
    masks = np.array(list(product([0, 1], repeat=m)), dtype=bool)  # (2^m, m)
    k = len(masks)
    grid = base.loc[base.index.repeat(k)].reset_index(drop=True)
    xs = x.loc[x.index.repeat(k)].reset_index(drop=True)
    tiled = np.tile(masks, (n, 1))
    for j, p in enumerate(players):
        for col in ((p,) if isinstance(p, str) else p):
            grid[col] = np.where(tiled[:, j], xs[col].to_numpy(), grid[col].to_numpy())
    v = np.asarray(f(grid), dtype=float).reshape(n, k)
    code = masks @ (1 << np.arange(m)[::-1])  # coalition -> row index (product order)
    pos = np.empty(k, dtype=int)
    pos[code] = np.arange(k)
    size = masks.sum(axis=1)
    weight = np.array([math.factorial(s) * math.factorial(m - s - 1) / math.factorial(m) for s in range(m)])
    phi = np.zeros((n, m))
    for j in range(m):
        without = ~masks[:, j]
        with_j = code[without] | (1 << (m - 1 - j))
        gain = v[:, pos[with_j]] - v[:, np.flatnonzero(without)]
        phi[:, j] = gain @ weight[size[without]]
    return phi


def with_defaults(df: pd.DataFrame, theory: Theory) -> pd.DataFrame:
    """The scenarios with every input present (defaults filled in)."""
    full = pd.DataFrame({n: [v] * len(df) for n, v in theory.defaults.items()}, index=df.index)
    for col in df.columns.intersection(full.columns):
        full[col] = df[col].to_numpy()
    return full.reset_index(drop=True)


def _baseline(baseline: pd.DataFrame | dict | None, n: int, theory: Theory) -> pd.DataFrame:
    row = dict(theory.defaults)
    if isinstance(baseline, pd.DataFrame):
        row.update(baseline.iloc[0].to_dict())
    elif baseline:
        row.update(baseline)
    return pd.DataFrame([row] * n)


def _players(theory: Theory, linkage: str) -> list[str]:
    inp = theory.inputs
    return list(inp[(inp.layer == "linkages") & inp.linkage.map(lambda s: linkage in split_tokens(s))].name)


def _linkage_phi(x: pd.DataFrame, base: pd.DataFrame, theory: Theory) -> dict[str, pd.DataFrame]:
    """Exact Shapley of each linkage and of the SMI connection over the linkage inputs."""
    names = theory.input_names("linkages")
    out = {}
    conn = pd.DataFrame(0.0, index=x.index, columns=names)
    weights = _model.compiled(theory).linkage_weights
    for k in LINKAGES:
        players = _players(theory, k)
        phi = shapley(lambda g, k=k: _model.linkages(g, theory)[k].to_numpy(), x, base, players)
        frame = pd.DataFrame(0.0, index=x.index, columns=names)
        frame[players] = phi
        out[k] = frame
        conn += weights[k] * frame
    out["smi_connection"] = conn
    return out


def _capability_phi(x: pd.DataFrame, base: pd.DataFrame, theory: Theory, link_phi: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Nine-player exact Shapley (levers + connection), connection share passed to linkage inputs."""
    conn_x = _model.linkages(x, theory)["smi_connection"].to_numpy()
    conn_b = _model.linkages(base, theory)["smi_connection"].to_numpy()
    xx, bb = x[list(LEVERS)].copy(), base[list(LEVERS)].copy()
    xx["smi_connection"], bb["smi_connection"] = conn_x, conn_b
    players = [*LEVERS, "smi_connection"]
    cols = _model.CAPABILITY_OUTPUTS

    def f_for(col: str) -> Evaluator:
        return lambda g: _model.capabilities(g, theory)[col].to_numpy()

    delta = conn_x - conn_b
    share = np.divide(link_phi.to_numpy(), delta[:, None], out=np.zeros_like(link_phi.to_numpy()),
                      where=np.abs(delta)[:, None] > 1e-15)
    names = list(link_phi.columns) + list(LEVERS)
    out = {}
    for col in cols:
        phi = shapley(f_for(col), xx, bb, players)
        frame = pd.DataFrame(0.0, index=x.index, columns=names)
        frame[list(LEVERS)] = phi[:, :8]
        frame[list(link_phi.columns)] = share * phi[:, 8:9]
        out[col] = frame
    return out


def _dynamics_players(theory: Theory) -> list[str | tuple[str, ...]]:
    """The dynamics inputs as Shapley players. A measure's strength and its start quarter act only
    together (a start quarter means nothing at strength 0), so each pair is one player, reported
    on the strength's row; this keeps the exact computation at 2**9 coalitions, not 2**14."""
    names = theory.input_names("dynamics")
    starts = {n for n in names if theory.inputs.set_index("name").loc[n, "kind"] == "start_quarter"}
    return [(n, f"{n}_start") if f"{n}_start" in starts else n for n in names if n not in starts]


def _dynamics_phi(x: pd.DataFrame, base: pd.DataFrame, theory: Theory, wanted: list[str]) -> dict[str, pd.DataFrame]:
    dyn = theory.input_names("dynamics")
    players = _dynamics_players(theory)
    firm = [n for n in theory.input_names() if n not in dyn]
    base = base.copy()
    base[firm] = x[firm].to_numpy()  # same firm; only the dynamics inputs go to baseline
    out = {}
    for col in wanted:
        phi = shapley(lambda g, col=col: _dyn.summarize(g, theory=theory)[col].to_numpy(), x, base, players)
        frame = pd.DataFrame(0.0, index=x.index, columns=dyn)
        frame[[p if isinstance(p, str) else p[0] for p in players]] = phi
        out[col] = frame
    return out


def explain(df: pd.DataFrame, outputs_: list[str] | None = None, baseline: pd.DataFrame | dict | None = None,
            theory: Theory | None = None) -> pd.DataFrame:
    """Attribution of each output to each input, one row per (scenario, output, input).

    Columns: ``scenario`` (row position in ``df``), ``output``, ``input``, ``value``,
    ``baseline_value``, ``attribution``, ``output_value``, ``baseline_output``,
    ``propositions`` (the propositions the input serves). For every scenario and output the
    attributions sum to ``output_value - baseline_output``.
    """
    theory = theory or _data.load()
    known = outputs(theory)
    wanted = outputs_ or [o for o in known.output if o not in _dyn.SUMMARY_OUTPUTS]
    unknown = [o for o in wanted if o not in set(known.output)]
    if unknown:
        raise ValueError(f"unknown output {unknown[0]!r}; known: {', '.join(known.output)}")
    x = with_defaults(df, theory)
    base = _baseline(baseline, len(x), theory)
    phis: dict[str, pd.DataFrame] = {}
    static = [o for o in wanted if o not in _dyn.SUMMARY_OUTPUTS]
    if static:
        link = _linkage_phi(x, base, theory)
        phis.update({k: v for k, v in link.items() if k in static})
        if any(o in _model.CAPABILITY_OUTPUTS for o in static):
            caps = _capability_phi(x, base, theory, link["smi_connection"])
            phis.update({k: v for k, v in caps.items() if k in static})
        values = _model.evaluate(x, theory)
        base_values = _model.evaluate(base, theory)
    dyn = [o for o in wanted if o in _dyn.SUMMARY_OUTPUTS]
    if dyn:
        phis.update(_dynamics_phi(x, base, theory, dyn))
        dbase = base.copy()
        players = theory.input_names("dynamics")
        firm = [n for n in theory.input_names() if n not in players]
        dbase[firm] = x[firm].to_numpy()
        dvals, dbase_vals = _dyn.summarize(x, theory=theory), _dyn.summarize(dbase, theory=theory)
    props = dict(zip(theory.inputs.name, theory.inputs.propositions))
    route = route_basis(theory)
    frames = []
    for o in wanted:
        phi = phis[o]
        if o in _dyn.SUMMARY_OUTPUTS:
            ov, bv, bframe = dvals[o].to_numpy(), dbase_vals[o].to_numpy(), dbase
        else:
            ov, bv, bframe = values[o].to_numpy(), base_values[o].to_numpy(), base
        long = phi.reset_index(names="scenario").melt(id_vars="scenario", var_name="input", value_name="attribution")
        long["output"] = o
        long["value"] = [x.at[s, i] for s, i in zip(long.scenario, long.input)]
        long["baseline_value"] = [bframe.at[s, i] for s, i in zip(long.scenario, long.input)]
        long["output_value"] = ov[long.scenario.to_numpy()]
        long["baseline_output"] = bv[long.scenario.to_numpy()]
        long["propositions"] = long.input.map(props)
        long["basis"] = [route(i, o) for i in long.input]
        frames.append(long)
    cols = ["scenario", "output", "input", "value", "baseline_value", "attribution", "output_value",
            "baseline_output", "propositions", "basis"]
    return pd.concat(frames, ignore_index=True)[cols]


def route_basis(theory: Theory) -> Callable[[str, str], str]:
    """``basis(input, output)``: ``study`` when the input is named in a study and every relation
    on its route to the output is a study's (``data/relations.csv``); otherwise ``assumption``.

    Routes: a linkage input reaches its linkage through 2011 P1-P7 (study) but the SMI
    connection and everything after it through the book's summary and bridge (assumptions); a
    context input acts only through the book's grading (assumption); a lever reaches
    functioning, synergy and the capabilities through 2012 P1-P5 (study); every dysfunction
    summary passes through the book's timing assumptions (hardening, recovery).
    """
    spec = theory.inputs.set_index("name")

    def basis(name: str, output: str) -> str:
        if spec.loc[name, "basis"] != "study" or spec.loc[name, "kind"] == "context":
            return "assumption"
        layer = spec.loc[name, "layer"]
        if layer == "linkages":
            return "study" if output in LINKAGES else "assumption"
        if layer == "capabilities":
            return "study" if output in _model.CAPABILITY_OUTPUTS else "assumption"
        return "assumption"

    return basis


def by_proposition(expl: pd.DataFrame, theory: Theory | None = None) -> pd.DataFrame:
    """Sum attributions by proposition, keeping apart what came through the book's assumptions.

    An input serving several propositions splits its share equally among them (a stated
    convention), so the totals still sum to the output change. ``basis`` is ``study`` where the
    route from input to output is the studies' own, ``assumption`` where it crosses one of the
    book's assumptions (see :func:`route_basis`); the same proposition can appear once for each.
    """
    theory = theory or _data.load()
    if "basis" not in expl.columns:
        raise ValueError("by_proposition() needs the 'basis' column that explain() adds")
    rows = expl.assign(proposition=expl.propositions.map(split_tokens)).explode("proposition")
    rows["attribution"] = rows.attribution / expl.propositions.map(lambda s: len(split_tokens(s))).loc[rows.index]
    g = rows.groupby(["scenario", "output", "proposition", "basis"], as_index=False).agg(
        attribution=("attribution", "sum"), inputs=("input", lambda s: "|".join(s)))
    parents = theory.propositions[theory.propositions["item"] == ""]
    label = {f"{r.study}:{r.proposition}": r.statement for r in parents.itertuples()}
    g["statement"] = g.proposition.map(label).fillna("A section of the study (not a proposition)")
    return g.sort_values(["scenario", "output", "attribution"], key=lambda s: -s.abs() if s.name == "attribution" else s,
                         ignore_index=True)


def assumption_share(expl: pd.DataFrame) -> pd.DataFrame:
    """Per scenario and output: the share of the absolute attribution that came through the
    book's assumptions (0 = all through the studies' own relations)."""
    a = expl.assign(mag=expl.attribution.abs(), assumed=expl.attribution.abs() * (expl.basis == "assumption"))
    g = a.groupby(["scenario", "output"], as_index=False)[["mag", "assumed"]].sum()
    g["assumption_share"] = np.divide(g.assumed, g.mag, out=np.zeros(len(g)), where=g.mag.to_numpy() > 0)
    return g[["scenario", "output", "assumption_share"]]
