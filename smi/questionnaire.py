"""The health check's questionnaire as model inputs: answers -> inputs, the profile, the class debrief.

A :class:`Questionnaire` (read and validated from ``data/healthcheck.yaml`` by
:mod:`smi_charts.questionnaire_io`, which also owns the export and short-code formats) holds
the questions, each built from one construct of the three studies, and how each answer maps
onto inputs of ``data/inputs.csv``. This module is pure: answers and a questionnaire in,
pandas out; it never reads a file.

Mapping: an answer ``a`` on the 5-point scale becomes ``(a - 1) / 4`` (``1 - (a - 1) / 4``
where the question maps to the input with ``-``), and an input asked by several questions is
the mean of those values. Inputs the questionnaire does not ask about (interventions, their
start quarters, the incremental-effects curve) keep their defaults. Answers are never filled
in: a missing, invalid or unknown answer raises ``ValueError`` naming every offending question id.

The book's health-check page computes the same profile in the browser from data this module
provides; ``tests/browser/test_healthcheck.py`` checks the two agree.

Dysfunction risk is *estimated*: the dynamics run quarter by quarter and depend on the starting
dysfunctions and on the firm's linkages (a well-linked firm mends faster), too many combinations
to precompute for a static page. :func:`risk_grid` simulates every starting level the answers
can produce for a firm whose five linkages all stand at one level, at ``CONNECTION_LEVELS``
levels; :func:`dysfunction_risk` interpolates linearly in the firm's SMI connection. Python and
the browser use the same grid and the same interpolation, and the page says it is an estimate.
"""
from __future__ import annotations

import functools
import hashlib
import itertools
import math
import numbers
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from . import data as _data
from . import dynamics as _dyn
from . import model as _model
from .data import DYSFUNCTIONS, LEVERS, LINKAGES, Theory, shown, split_tokens
from .explain import outputs as _outputs
from .sensitivity import sensitivity as _sensitivity

POINTS = 5                   # every question has a 5-point scale
ASKABLE_KINDS = ("driver", "proviso", "component", "context", "lever", "start")
WEAKEST_PER_LAYER = 2        # weakest links shown: this many linkages and this many levers
WORK_ON_FIRST = 3            # inputs shown under "work on first"
FIRST_OUTPUT = "smi_functioning"  # what "work on first" tries to raise (Hughes et al. 2012)
ALERT_LEVEL = 0.5            # a starting dysfunction at or above this is flagged first
ROUND = 9                    # rankings compare values rounded to this many decimals (ties -> name)

_CITE = {"malshe2011": "Malshe 2011", "hughes2012": "Hughes et al. 2012", "malshe2017": "Malshe et al. 2017"}

# --------------------------------------------------------------------------- the questionnaire

@dataclass(frozen=True)
class Question:
    id: str
    number: int                      # 1-based position in the file
    section: str
    text: str
    construct: tuple[str, ...]       # e.g. ("malshe2011:P7c", "hughes2012:P1-P5")
    labels: tuple[str, ...]          # five answer labels, lowest first
    maps_to: tuple[tuple[str, str], ...]  # (input, "+" or "-")


@dataclass(frozen=True, eq=False)
class Questionnaire:
    title: str
    sections: dict[str, str]         # id -> title, in page order
    questions: tuple[Question, ...]
    path: Path
    theory: Theory = field(repr=False)

    @functools.cached_property
    def ids(self) -> list[str]:
        return [q.id for q in self.questions]

    @functools.cached_property
    def by_id(self) -> dict[str, Question]:
        return {q.id: q for q in self.questions}

    @functools.cached_property
    def weights(self) -> dict[str, list[tuple[str, str]]]:
        """input -> [(question id, direction)], inputs in data/inputs.csv order."""
        out: dict[str, list[tuple[str, str]]] = {}
        for name in self.theory.input_names():
            pairs = [(q.id, sign) for q in self.questions for inp, sign in q.maps_to if inp == name]
            if pairs:
                out[name] = pairs
        return out

    @functools.cached_property
    def fingerprint(self) -> str:
        """Identifies the ordered list of question ids (short codes carry it)."""
        return hashlib.sha256("\n".join(self.ids).encode()).hexdigest()[:8]

    def questions_for(self, name: str) -> list[str]:
        return [qid for qid, _ in self.weights.get(name, [])]


def required_inputs(theory: Theory) -> list[str]:
    """Inputs the questionnaire must ask about: every linkage-layer input, lever and starting dysfunction."""
    spec = theory.inputs
    return list(spec[spec.kind.isin(ASKABLE_KINDS)].name)


# --------------------------------------------------------------------------- answers -> inputs

def _answer(v: Any) -> int | None:
    """A valid answer as an int 1-5 (a whole-number float counts, as in JSON), else None."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        return None
    if isinstance(v, numbers.Integral):  # float() of a 400-digit integer would overflow
        return int(v) if 1 <= v <= POINTS else None
    f = float(v)
    if math.isfinite(f) and f.is_integer() and 1 <= f <= POINTS:
        return int(f)
    return None


def check_answers(answers: Any, questionnaire: Questionnaire) -> dict[str, int]:
    """The answers as ``{question id: 1..5}`` in questionnaire order; anything else raises
    ``ValueError`` naming every missing, invalid or unknown question id."""
    q = questionnaire
    if not isinstance(answers, Mapping):
        raise ValueError(f"health check answers must map each question id to an answer 1-{POINTS} "
                         f"(got {type(answers).__name__})")
    missing = [qid for qid in q.ids if qid not in answers]
    invalid = [f"{qid} (value {shown(answers[qid])})" for qid in q.ids if qid in answers and _answer(answers[qid]) is None]
    unknown = [shown(k) for k in answers if k not in q.by_id]
    problems = []
    if missing:
        problems.append(f"no answer for question{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    if invalid:
        problems.append(f"answer must be a whole number 1-{POINTS} for {', '.join(invalid)}")
    if unknown:
        problems.append(f"unknown question id{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
    if problems:
        raise ValueError("health check answers: " + "; ".join(problems))
    return {qid: _answer(answers[qid]) for qid in q.ids}  # type: ignore[misc]


def rescale(answer: int, direction: str = "+") -> float:
    """An answer 1..5 as a value in [0, 1]; reversed for a ``-`` mapping."""
    v = (answer - 1) / (POINTS - 1)
    return 1.0 - v if direction == "-" else v


def mapped_inputs(answers: Mapping[str, Any], questionnaire: Questionnaire) -> dict[str, float]:
    """The inputs the questions set, each the mean of its questions' rescaled answers."""
    q = questionnaire
    a = check_answers(answers, q)
    return {name: sum(rescale(a[qid], sign) for qid, sign in pairs) / len(pairs) for name, pairs in q.weights.items()}


def answers_to_inputs(answers: Mapping[str, Any], questionnaire: Questionnaire) -> pd.DataFrame:
    """A one-row scenario: the questionnaire's inputs from the answers, every other input at its
    default (no intervention, the default incremental-effects curve)."""
    q = questionnaire
    row = dict(q.theory.defaults)
    row.update(mapped_inputs(answers, q))
    return pd.DataFrame([row], columns=q.theory.input_names())


# --------------------------------------------------------------------------- what the studies say

def cite(refs: list[str]) -> str:
    """'malshe2011:P1|malshe2011:P2' style references as reader text: 'Malshe 2011, P1, P2'."""
    by_study: dict[str, list[str]] = {}
    for r in refs:
        study, _, prop = r.partition(":")
        by_study.setdefault(study, []).append(prop)
    parts = []
    for study, ps in by_study.items():
        nums = [int(p[1:]) for p in ps if re.fullmatch(r"P\d", p)]
        if len(nums) == len(ps) and len(nums) > 2 and nums == list(range(nums[0], nums[0] + len(nums))):
            text = f"P{nums[0]}–P{nums[-1]}"
        else:
            text = ", ".join("managerial implications" if p == "implications" else p.replace("-", "–") for p in ps)
        parts.append(f"{_CITE.get(study, study)}, {text}")
    return "; ".join(parts)


def linkage_members(theory: Theory) -> dict[str, list[str]]:
    """Each linkage's own inputs (driver, provisos or components; not the context)."""
    inp = theory.inputs
    rows = inp[(inp.layer == "linkages") & inp.kind.isin(("driver", "proviso", "component"))]
    return {k: [r.name for r in rows.itertuples() if k in split_tokens(r.linkage)] for k in LINKAGES}


def linkage_refs(theory: Theory) -> dict[str, list[str]]:
    lk = theory.linkages.set_index("linkage")
    return {k: [f"malshe2011:{p}" for p in split_tokens(lk.loc[k, "propositions"])] for k in LINKAGES}


def input_refs(theory: Theory) -> dict[str, list[str]]:
    return {r.name: split_tokens(r.propositions) for r in theory.inputs.itertuples()}


def actionable_inputs(theory: Theory) -> list[str]:
    """Inputs "work on first" may suggest: what managers can move (not the context, not a dysfunction)."""
    inp = theory.inputs
    return list(inp[inp.layer.isin(("linkages", "capabilities")) & ~inp.kind.isin(("context", "start", "switch"))].name)


# --------------------------------------------------------------------------- the profile

@dataclass
class HealthProfile:
    """What the health check says about one firm (every number from the model)."""

    answers: dict[str, int]
    inputs: pd.DataFrame        # the one-row scenario
    mapped: dict[str, float]    # the inputs the questions set
    linkages: pd.Series         # five linkages and the SMI connection
    levers: pd.Series           # eight levers and lever integration
    capabilities: pd.Series     # SMI functioning, synergy, five capabilities
    dysfunction: pd.Series      # estimated cumulative, final, peak dysfunction and functioning loss (dysfunction_risk)
    weakest: pd.DataFrame       # the weakest linkages and levers, with the propositions behind them
    work_on_first: pd.DataFrame  # inputs whose move alone raises SMI functioning most (smi.sensitivity)
    alerts: pd.DataFrame        # starting dysfunctions at or above ALERT_LEVEL, strongest first

    def numbers(self) -> dict[str, float]:
        """Every number the page shows, by output name."""
        return {**self.linkages.to_dict(), **self.levers.to_dict(), **self.capabilities.to_dict(),
                **self.dysfunction.to_dict()}


CONNECTION_LEVELS = 11  # 0, 0.1, ..., 1: the SMI connection levels of the risk grid
RISK_FIELDS = ("cumulative_dysfunction", "final_dysfunction", "peak_dysfunction", "connection_kept")
MAX_GRID = 50_000  # simulations in the risk grid before the build refuses


@dataclass(frozen=True)
class RiskGrid:
    starts: list[str]          # the starting-dysfunction inputs, in grid order
    steps: list[int]           # each takes the values k / steps
    connection: np.ndarray     # (L,) connection levels
    values: np.ndarray         # (cells, L, fields): RISK_FIELDS per starting cell and connection level


@functools.lru_cache(maxsize=4)
def _risk_grid(q: Questionnaire) -> RiskGrid:
    theory = q.theory
    starts = [f"start_{d}" for d in DYSFUNCTIONS]
    steps = [(POINTS - 1) * len(q.weights[s]) for s in starts]
    cells = list(itertools.product(*[[k / n for k in range(n + 1)] for n in steps]))
    levels = np.linspace(0.0, 1.0, CONNECTION_LEVELS)
    if len(cells) * len(levels) > MAX_GRID:
        raise ValueError(f"{q.path.name}: the starting dysfunctions take {len(cells)} combinations of values "
                         f"(limit {MAX_GRID // len(levels)}); ask fewer questions per dysfunction")
    scen = pd.DataFrame([dict(theory.defaults)] * (len(cells) * len(levels)))
    for j, name in enumerate(starts):
        scen[name] = np.repeat([c[j] for c in cells], len(levels))
    conn = np.tile(levels, len(cells))
    quarters = int(theory.param("simulation.quarters"))
    spec, c = _dyn.dyn_spec(theory), _model.compiled(theory)
    x = _dyn.scenario_arrays(scen, theory)
    link0 = {k: conn for k in LINKAGES}  # every linkage at the connection level
    st = _dyn.simulate_arrays(x, quarters, spec, link0, c.linkage_weights)
    total = st["D"].sum(axis=2)  # (T+1, n)
    Dk = st["D"] ** _dyn.exponents(x["incremental_effects"], spec.p)[None, :, None]
    _, eroded = _dyn.connection_arrays(link0, Dk, spec, c.linkage_weights)
    kept = np.where(conn > 0, eroded[1:].mean(axis=0) / np.where(conn > 0, conn, 1.0), 1.0)
    values = np.stack([total[1:].mean(axis=0), total[-1], total.max(axis=0), kept], axis=1)
    return RiskGrid(starts, steps, levels, values.reshape(len(cells), len(levels), len(RISK_FIELDS)))


def risk_grid(q: Questionnaire) -> RiskGrid:
    """The dysfunction-risk grid the health check estimates from (see the module notes)."""
    return _risk_grid(q)


def dysfunction_risk(scen: pd.DataFrame, q: Questionnaire) -> pd.Series:
    """Estimated cumulative, final and peak dysfunction and functioning loss for a one-row
    scenario of answers: the grid cell of its starting levels, interpolated linearly in its SMI
    connection. Functioning loss follows from the connection kept: functioning mixes the
    connection (share ``functioning.connection_share``) with lever integration."""
    g = risk_grid(q)
    idx = 0
    for name, n in zip(g.starts, g.steps):
        idx = idx * (n + 1) + int(round(float(scen.at[0, name]) * n))
    ev = _model.evaluate(scen, q.theory).iloc[0]
    conn = float(ev["smi_connection"])
    row = np.array([np.interp(conn, g.connection, g.values[idx, :, f]) for f in range(len(RISK_FIELDS))])
    share = q.theory.param("functioning.connection_share")
    f0 = float(ev["smi_functioning"])
    loss = share * conn * (1.0 - row[3]) / f0 if f0 > 0 else 0.0
    return pd.Series({"cumulative_dysfunction": row[0], "final_dysfunction": row[1],
                      "peak_dysfunction": row[2], "functioning_loss": loss})


def _rank(values: dict[str, float], ascending: bool) -> list[str]:
    sign = 1 if ascending else -1
    return sorted(values, key=lambda k: (sign * round(values[k], ROUND), k))


def profile(answers: Mapping[str, Any], questionnaire: Questionnaire) -> HealthProfile:
    """Linkages, levers, predicted capabilities, dysfunction risk, weakest links and what to
    work on first for the firm the answers describe."""
    q = questionnaire
    theory = q.theory
    a = check_answers(answers, q)
    mapped = mapped_inputs(a, q)
    scen = answers_to_inputs(a, q)
    ev = _model.evaluate(scen, theory).iloc[0]
    labels = dict(zip(_outputs(theory).output, _outputs(theory).label))
    in_label = dict(zip(theory.inputs.name, theory.inputs.label))
    linkages = ev[[*LINKAGES, "smi_connection"]].astype(float)
    levers = pd.concat([scen.iloc[0][list(LEVERS)].astype(float), ev[["lever_integration"]].astype(float)])
    caps = ev[["smi_functioning", "synergy", *theory.capabilities.capability]].astype(float)
    dys = dysfunction_risk(scen, q).astype(float)

    members, lrefs, irefs = linkage_members(theory), linkage_refs(theory), input_refs(theory)
    rows = []
    for k in _rank({k: float(linkages[k]) for k in LINKAGES}, ascending=True)[:WEAKEST_PER_LAYER]:
        held = _rank({m: float(scen.at[0, m]) for m in members[k]}, ascending=True)[0]
        rows.append({"layer": "linkage", "name": k, "label": labels[k], "value": float(linkages[k]),
                     "held_back_by": held, "held_back_label": in_label[held], "held_back_value": float(scen.at[0, held]),
                     "propositions": lrefs[k] + [r for r in irefs[held] if r not in lrefs[k]],
                     "cite": cite(lrefs[k]), "questions": q.questions_for(held)})
    for lv in _rank({lv: float(levers[lv]) for lv in LEVERS}, ascending=True)[:WEAKEST_PER_LAYER]:
        rows.append({"layer": "lever", "name": lv, "label": in_label[lv], "value": float(levers[lv]),
                     "held_back_by": lv, "held_back_label": in_label[lv], "held_back_value": float(levers[lv]),
                     "propositions": irefs[lv], "cite": cite(irefs[lv]), "questions": q.questions_for(lv)})
    weakest = pd.DataFrame(rows)

    sens = _sensitivity(scen, FIRST_OUTPUT, theory=theory)
    sens = sens[sens.input.isin(actionable_inputs(theory))]
    gains = {r.input: float(r.gain) for r in sens.itertuples() if round(float(r.gain), ROUND) > 0}
    first = []
    by_input = sens.set_index("input")
    for name in _rank(gains, ascending=False)[:WORK_ON_FIRST]:
        r = by_input.loc[name]
        first.append({"input": name, "label": in_label[name], "value": float(r.value), "gain": float(r.gain),
                      "best_move": r.best_move, "propositions": irefs[name], "cite": cite(irefs[name]),
                      "questions": q.questions_for(name)})
    work = pd.DataFrame(first, columns=["input", "label", "value", "gain", "best_move", "propositions", "cite", "questions"])

    starts = {d: float(scen.at[0, f"start_{d}"]) for d in DYSFUNCTIONS}
    alerts = [{"dysfunction": d, "input": f"start_{d}", "label": in_label[f"start_{d}"], "level": starts[d],
               "propositions": irefs[f"start_{d}"], "cite": cite(irefs[f"start_{d}"]),
               "questions": q.questions_for(f"start_{d}")}
              for d in _rank(starts, ascending=False) if starts[d] >= ALERT_LEVEL]
    alerts_df = pd.DataFrame(alerts, columns=["dysfunction", "input", "label", "level", "propositions", "cite", "questions"])
    return HealthProfile(a, scen, mapped, linkages, levers, caps, dys, weakest, work, alerts_df)


# --------------------------------------------------------------------------- class debrief

CLASS_GROUPS = {
    "linkages": "Linkages and SMI functioning",
    "levers": "Synergistic levers (class average and each firm)",
    "triggers": "Triggers: dysfunctions already present (class average and each firm)",
}


def class_measures(theory: Theory | None = None) -> list[dict[str, str]]:
    """What the class debrief shows per firm: group, measure (output or input name), label."""
    theory = theory or _data.load()
    labels = dict(zip(_outputs(theory).output, _outputs(theory).label))
    in_label = dict(zip(theory.inputs.name, theory.inputs.label))
    rows = [{"group": "linkages", "measure": m, "label": labels[m]} for m in [*LINKAGES, "smi_connection", "smi_functioning"]]
    rows += [{"group": "levers", "measure": lv, "label": in_label[lv]} for lv in LEVERS]
    rows += [{"group": "triggers", "measure": f"start_{d}", "label": in_label[f"start_{d}"]} for d in DYSFUNCTIONS]
    return rows


def class_table(firms: list[tuple[str, Mapping[str, Any]]], questionnaire: Questionnaire) -> pd.DataFrame:
    """One row per firm and measure (long format): firm, group, measure, label, value.

    Firm names must differ: two firms under one name would be merged by anything that groups by
    firm (a chart, a pivot) while counted twice by anything that counts rows."""
    q = questionnaire
    measures = class_measures(q.theory)
    cols = ["firm", "group", "measure", "label", "value"]
    if not firms:
        return pd.DataFrame(columns=cols)
    seen: set[str] = set()
    for name, _ in firms:
        if name in seen:
            raise ValueError(f"two firms are named {shown(name)}; give each firm its own name")
        seen.add(name)
    scen = pd.concat([answers_to_inputs(a, q) for _, a in firms], ignore_index=True)
    ev = _model.evaluate(scen, q.theory)
    rows = []
    for i, (name, _) in enumerate(firms):
        for m in measures:
            v = ev.at[i, m["measure"]] if m["measure"] in ev.columns else scen.at[i, m["measure"]]
            rows.append({"firm": name, **m, "value": float(v)})
    return pd.DataFrame(rows, columns=cols)


def class_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per measure: number of firms, mean, minimum, median and maximum (measures in page order)."""
    order = list(dict.fromkeys(table.measure))
    g = table.groupby("measure", sort=False)
    out = pd.DataFrame({"group": g.group.first(), "label": g.label.first(), "firms": g.value.size(),
                        "mean": g.value.mean(), "min": g.value.min(), "median": g.value.median(), "max": g.value.max()})
    return out.loc[order].reset_index()

