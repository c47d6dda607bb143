"""The SMI health check: a questionnaire about one's own firm, mapped onto the model's inputs.

``data/healthcheck.yaml`` holds the questions (each built from one construct of the three
studies) and how each answer maps onto inputs of ``data/inputs.csv``. The file is validated
when it is read: a mistake raises :class:`smi.DataValidationError` naming the file, the
question id, the field and the value. It is not part of :func:`smi.load`, so the model itself
never depends on it.

Mapping (pure Python, pandas): an answer ``a`` on the 5-point scale becomes ``(a - 1) / 4``
(``1 - (a - 1) / 4`` where the question maps to the input with ``-``), and an input asked by
several questions is the mean of those values. Inputs the questionnaire does not ask about
(interventions, their start quarters, the incremental-effects curve) keep their defaults.
Answers are never filled in: a missing, invalid or unknown answer raises ``ValueError``
naming every offending question id.

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

import base64
import binascii
import functools
import hashlib
import json
import math
import numbers
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import itertools

import numpy as np
import pandas as pd
import yaml

from . import data as _data
from . import dynamics as _dyn
from . import model as _model
from .data import DYSFUNCTIONS, LEVERS, LINKAGES, DataValidationError, Theory, _split, _UniqueKeyLoader, clip, shown
from .explain import outputs as _outputs
from .sensitivity import sensitivity as _sensitivity

FILE = "healthcheck.yaml"
FORMAT = "smi-healthcheck"   # the "format" field of an exported file
VERSION = 2                  # its "version": bumped whenever the question ids change (exports are keyed by id)
CODE_PREFIX = "hc1"          # short codes: hc1.<fingerprint>.<base64url of the answer digits>
POINTS = 5                   # every question has a 5-point scale
# one item per idea: splitting double-barrelled items and a culture item took version 2 to 33 questions
MIN_QUESTIONS, MAX_QUESTIONS = 18, 36
ASKABLE_KINDS = ("driver", "proviso", "component", "context", "lever", "start")
WEAKEST_PER_LAYER = 2        # weakest links shown: this many linkages and this many levers
WORK_ON_FIRST = 3            # inputs shown under "work on first"
FIRST_OUTPUT = "smi_functioning"  # what "work on first" tries to raise (Hughes et al. 2012)
ALERT_LEVEL = 0.5            # a starting dysfunction at or above this is flagged first
ROUND = 9                    # rankings compare values rounded to this many decimals (ties -> name)

_ID = re.compile(r"^[a-z][a-z0-9-]*$")
_MAP = re.compile(r"^([a-z][a-z0-9_]*)\s+([+-])$")
_CONSTRUCT = re.compile(r"^(malshe2011|hughes2012|malshe2017):P([1-7])([a-c]?)(?:-P([1-7]))?$")
_QUESTION_FIELDS = ("id", "section", "text", "construct", "scale", "maps_to")
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


def _err(path: Path, where: str, fld: str, msg: str, value: Any) -> DataValidationError:
    return DataValidationError(f"{path.name}: {where}, field {fld!r}: {msg} (value {shown(value)})")


def _check_construct(token: str, props: set[tuple[str, str, str]]) -> str | None:
    m = _CONSTRUCT.match(token)
    if not m:
        return "expected a study and proposition such as 'malshe2011:P1', 'malshe2011:P1a' or 'hughes2012:P1-P5'"
    study, first, item, last = m.groups()
    if last and item:
        return "a range cannot name a sub-item"
    for n in ([first] if not last else [first, last]):
        if (study, f"P{n}", "") not in props:
            return f"{study} has no proposition P{n}"
    if item and (study, f"P{first}", item) not in props:
        return f"{study} P{first} has no sub-item {item!r}"
    if last and int(last) <= int(first):
        return "a range must run upward (e.g. P1-P5)"
    return None


def _labels(value: Any, scales: dict[str, tuple[str, ...]]) -> tuple[str, ...] | str:
    """The five labels of a scale (a name from ``scales`` or an inline list), or an error message."""
    if isinstance(value, str):
        return scales.get(value, f"unknown scale name (known: {', '.join(scales) or 'none'})")
    if not isinstance(value, list) or len(value) != POINTS:
        return f"must be a scale name or a list of {POINTS} labels, lowest first"
    if not all(isinstance(v, str) and v.strip() for v in value):
        return "every label must be non-empty text"
    if len({v.strip() for v in value}) != POINTS:
        return "labels must differ from one another"
    return tuple(v.strip() for v in value)


def _parse(path: Path, theory: Theory) -> Questionnaire:
    if not path.exists():
        raise DataValidationError(f"{path.name}: file not found at {path}")
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise DataValidationError(f"{path.name}: {where}not valid YAML ({err})") from None
    if not isinstance(doc, dict):
        raise DataValidationError(f"{path.name}: must be a mapping with 'title', 'scales', 'sections' and 'questions'")
    unknown = [k for k in doc if k not in ("title", "scales", "sections", "questions")]
    if unknown:
        raise DataValidationError(f"{path.name}: unexpected top-level key {unknown[0]!r}")
    title = doc.get("title")
    if not isinstance(title, str) or not title.strip():
        raise DataValidationError(f"{path.name}: field 'title': must be non-empty text (value {title!r})")

    raw_scales = doc.get("scales") or {}
    if not isinstance(raw_scales, dict):
        raise DataValidationError(f"{path.name}: field 'scales': must map a scale name to {POINTS} labels (value {raw_scales!r})")
    scales: dict[str, tuple[str, ...]] = {}
    for name, labels in raw_scales.items():
        got = _labels(labels, {})
        if isinstance(got, str):
            raise _err(path, f"scale {name!r}", "labels", got, labels)
        scales[str(name)] = got

    raw_sections = doc.get("sections")
    if not isinstance(raw_sections, list) or not raw_sections:
        raise DataValidationError(f"{path.name}: field 'sections': must be a non-empty list of id/title pairs (value {raw_sections!r})")
    sections: dict[str, str] = {}
    for i, s in enumerate(raw_sections, start=1):
        sid = s.get("id") if isinstance(s, dict) else None
        where = f"section {sid if sid else f'#{i}'!r}"
        if not isinstance(s, dict) or set(s) != {"id", "title"}:
            raise DataValidationError(f"{path.name}: {where}: must have exactly the fields 'id' and 'title' (value {s!r})")
        if not isinstance(sid, str) or not _ID.match(sid):
            raise _err(path, where, "id", "must be lowercase letters, digits and dashes", sid)
        if sid in sections:
            raise _err(path, where, "id", "appears twice", sid)
        if not isinstance(s["title"], str) or not s["title"].strip():
            raise _err(path, where, "title", "must be non-empty text", s["title"])
        sections[sid] = s["title"].strip()

    raw = doc.get("questions")
    if not isinstance(raw, list):
        raise DataValidationError(f"{path.name}: field 'questions': must be a list (value {raw!r})")
    if not MIN_QUESTIONS <= len(raw) <= MAX_QUESTIONS:
        raise DataValidationError(f"{path.name}: field 'questions': needs {MIN_QUESTIONS}-{MAX_QUESTIONS} questions (found {len(raw)})")
    spec = theory.inputs.set_index("name")
    props = {(r.study, r.proposition, r["item"]) for _, r in theory.propositions.iterrows()}
    questions: list[Question] = []
    seen: set[str] = set()
    for i, q in enumerate(raw, start=1):
        qid = q.get("id") if isinstance(q, dict) else None
        where = f"question {qid if isinstance(qid, str) and qid else f'#{i}'!r}"
        if not isinstance(q, dict):
            raise DataValidationError(f"{path.name}: {where}: must be a mapping (value {q!r})")
        extra = [k for k in q if k not in _QUESTION_FIELDS]
        if extra:
            raise _err(path, where, extra[0], "unexpected field", q[extra[0]])
        for f in _QUESTION_FIELDS:
            if f not in q:
                raise _err(path, where, f, "missing", None)
        if not isinstance(qid, str) or not _ID.match(qid):
            raise _err(path, where, "id", "must be lowercase letters, digits and dashes, starting with a letter", qid)
        if qid in seen:
            raise _err(path, where, "id", "appears twice", qid)
        seen.add(qid)
        if q["section"] not in sections:
            raise _err(path, where, "section", f"unknown section (known: {', '.join(sections)})", q["section"])
        if not isinstance(q["text"], str) or not q["text"].strip():
            raise _err(path, where, "text", "must be non-empty text", q["text"])
        construct = q["construct"]
        tokens = _split(construct) if isinstance(construct, str) else []
        if not tokens:
            raise _err(path, where, "construct", "must name at least one study and proposition, e.g. 'malshe2011:P1'", construct)
        for t in tokens:
            problem = _check_construct(t, props)
            if problem:
                raise _err(path, where, "construct", problem, t)
        labels = _labels(q["scale"], scales)
        if isinstance(labels, str):
            raise _err(path, where, "scale", labels, q["scale"])
        maps = q["maps_to"]
        if not isinstance(maps, list) or not maps:
            raise _err(path, where, "maps_to", "must be a non-empty list such as [\"key_terms +\"]", maps)
        pairs: list[tuple[str, str]] = []
        for m in maps:
            hit = _MAP.match(m.strip()) if isinstance(m, str) else None
            if not hit:
                raise _err(path, where, "maps_to", "each entry is an input name, a space and + or -", m)
            name, sign = hit.groups()
            if name not in spec.index:
                raise _err(path, where, "maps_to", f"unknown input {name!r}", m)
            if spec.loc[name, "kind"] not in ASKABLE_KINDS:
                raise _err(path, where, "maps_to", f"{name!r} is a {spec.loc[name, 'kind']}, not an input a question can set", m)
            if name in [p for p, _ in pairs]:
                raise _err(path, where, "maps_to", f"input {name!r} appears twice", m)
            pairs.append((name, sign))
        questions.append(Question(qid, i, q["section"], " ".join(q["text"].split()), tuple(tokens), labels, tuple(pairs)))
    asked = {name for q in questions for name, _ in q.maps_to}
    missing = [n for n in required_inputs(theory) if n not in asked]
    if missing:
        raise DataValidationError(
            f"{path.name}: no question maps to input {missing[0]!r} (every linkage input, lever and "
            f"starting dysfunction needs at least one; missing: {', '.join(missing)})")
    return Questionnaire(title.strip(), sections, tuple(questions), path, theory)


@functools.lru_cache(maxsize=16)
def _cached(path: str, mtime_ns: int, theory: Theory) -> Questionnaire:
    return _parse(Path(path), theory)


def load(path: str | Path | None = None, theory: Theory | None = None) -> Questionnaire:
    """Read and validate the questionnaire (default: ``data/healthcheck.yaml``)."""
    theory = theory or _data.load()
    p = Path(path) if path else _data.data_dir() / FILE
    mtime = p.stat().st_mtime_ns if p.exists() else -1
    return _cached(str(p.resolve()), mtime, theory)


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


def check_answers(answers: Any, questionnaire: Questionnaire | None = None) -> dict[str, int]:
    """The answers as ``{question id: 1..5}`` in questionnaire order; anything else raises
    ``ValueError`` naming every missing, invalid or unknown question id."""
    q = questionnaire or load()
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


def mapped_inputs(answers: Mapping[str, Any], questionnaire: Questionnaire | None = None) -> dict[str, float]:
    """The inputs the questions set, each the mean of its questions' rescaled answers."""
    q = questionnaire or load()
    a = check_answers(answers, q)
    return {name: sum(rescale(a[qid], sign) for qid, sign in pairs) / len(pairs) for name, pairs in q.weights.items()}


def answers_to_inputs(answers: Mapping[str, Any], questionnaire: Questionnaire | None = None) -> pd.DataFrame:
    """A one-row scenario: the questionnaire's inputs from the answers, every other input at its
    default (no intervention, the default incremental-effects curve)."""
    q = questionnaire or load()
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
    return {k: [r.name for r in rows.itertuples() if k in _split(r.linkage)] for k in LINKAGES}


def linkage_refs(theory: Theory) -> dict[str, list[str]]:
    lk = theory.linkages.set_index("linkage")
    return {k: [f"malshe2011:{p}" for p in _split(lk.loc[k, "propositions"])] for k in LINKAGES}


def input_refs(theory: Theory) -> dict[str, list[str]]:
    return {r.name: _split(r.propositions) for r in theory.inputs.itertuples()}


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
def _risk_grid(q: "Questionnaire") -> RiskGrid:
    theory = q.theory
    starts = [f"start_{d}" for d in DYSFUNCTIONS]
    steps = [(POINTS - 1) * len(q.weights[s]) for s in starts]
    cells = list(itertools.product(*[[k / n for k in range(n + 1)] for n in steps]))
    levels = np.linspace(0.0, 1.0, CONNECTION_LEVELS)
    if len(cells) * len(levels) > MAX_GRID:
        raise ValueError(f"{FILE}: the starting dysfunctions take {len(cells)} combinations of values "
                         f"(limit {MAX_GRID // len(levels)}); ask fewer questions per dysfunction")
    scen = pd.DataFrame([dict(theory.defaults)] * (len(cells) * len(levels)))
    for j, name in enumerate(starts):
        scen[name] = np.repeat([c[j] for c in cells], len(levels))
    conn = np.tile(levels, len(cells))
    quarters = int(theory.param("simulation.quarters"))
    spec, c = _dyn.dyn_spec(theory), _model.compiled(theory)
    x = _dyn._inputs(scen, theory)
    link0 = {k: conn for k in LINKAGES}  # every linkage at the connection level
    st = _dyn.simulate_arrays(x, quarters, spec, link0, c.linkage_weights)
    total = st["D"].sum(axis=2)  # (T+1, n)
    Dk = st["D"] ** _dyn.exponents(x["incremental_effects"], spec.p)[None, :, None]
    _, eroded = _dyn.connection_arrays(link0, Dk, spec, c.linkage_weights)
    kept = np.where(conn > 0, eroded[1:].mean(axis=0) / np.where(conn > 0, conn, 1.0), 1.0)
    values = np.stack([total[1:].mean(axis=0), total[-1], total.max(axis=0), kept], axis=1)
    return RiskGrid(starts, steps, levels, values.reshape(len(cells), len(levels), len(RISK_FIELDS)))


def risk_grid(q: "Questionnaire | None" = None) -> RiskGrid:
    """The dysfunction-risk grid the health check estimates from (see the module notes)."""
    return _risk_grid(q or load())


def dysfunction_risk(scen: pd.DataFrame, q: "Questionnaire | None" = None) -> pd.Series:
    """Estimated cumulative, final and peak dysfunction and functioning loss for a one-row
    scenario of answers: the grid cell of its starting levels, interpolated linearly in its SMI
    connection. Functioning loss follows from the connection kept: functioning mixes the
    connection (share ``functioning.connection_share``) with lever integration."""
    q = q or load()
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


def profile(answers: Mapping[str, Any], questionnaire: Questionnaire | None = None) -> HealthProfile:
    """Linkages, levers, predicted capabilities, dysfunction risk, weakest links and what to
    work on first for the firm the answers describe."""
    q = questionnaire or load()
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


# --------------------------------------------------------------------------- exports and codes

def export(answers: Mapping[str, Any], questionnaire: Questionnaire | None = None) -> dict:
    """The JSON document the page downloads: format, version, answers and the inputs they set."""
    q = questionnaire or load()
    a = check_answers(answers, q)
    return {"format": FORMAT, "version": VERSION, "answers": a, "inputs": mapped_inputs(a, q)}


def encode_code(answers: Mapping[str, Any], questionnaire: Questionnaire | None = None) -> str:
    """A short, copyable code: ``hc1.<fingerprint>.<base64url of one digit per question>``."""
    q = questionnaire or load()
    a = check_answers(answers, q)
    digits = "".join(str(a[qid]) for qid in q.ids)
    return f"{CODE_PREFIX}.{q.fingerprint}.{base64.urlsafe_b64encode(digits.encode()).decode().rstrip('=')}"


def decode_code(code: str, questionnaire: Questionnaire | None = None) -> dict[str, int]:
    """The answers a short code carries; a malformed code raises ``ValueError`` saying why."""
    q = questionnaire or load()
    if not isinstance(code, str):
        raise ValueError(f"a code must be text (got {type(code).__name__})")
    parts = code.strip().split(".")
    if len(parts) != 3 or parts[0] != CODE_PREFIX:
        raise ValueError(f"not a health-check code (expected {CODE_PREFIX}.<fingerprint>.<answers>)")
    if parts[1] != q.fingerprint:
        raise ValueError(f"made with a different version of the questionnaire (fingerprint {shown(parts[1])}, "
                         f"this book's is {q.fingerprint!r})")
    body = parts[2]
    try:
        std = body.replace("-", "+").replace("_", "/")
        digits = base64.b64decode(std + "=" * (-len(std) % 4), validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("its answers are not valid base64") from None
    if len(digits) != len(q.ids) or not re.fullmatch(f"[1-{POINTS}]*", digits):
        raise ValueError(f"it must carry {len(q.ids)} answers, each 1-{POINTS} (found {shown(digits)})")
    return {qid: int(d) for qid, d in zip(q.ids, digits)}


def _close(stated: int | float, value: float) -> bool:
    """``stated`` within 1e-6 of ``value``; a huge integer is simply not (float() would overflow)."""
    if isinstance(stated, int) and abs(stated) > 2 ** 53:
        return False
    return abs(float(stated) - value) <= 1e-6


def read_export(doc: Any, questionnaire: Questionnaire | None = None) -> dict[str, int]:
    """Validate an exported document (parsed JSON, or its text); return its answers.

    A malformed document raises ``ValueError`` saying what is wrong; callers add the file name.
    The stated inputs must be the ones the answers give under this questionnaire.
    """
    q = questionnaire or load()
    if isinstance(doc, (str, bytes)):
        try:
            doc = json.loads(doc)
        except RecursionError:
            raise ValueError("not a health-check export (its JSON is nested too deeply to read)") from None
        except ValueError as err:  # JSONDecodeError, bad UTF-8, or a number past Python's 4300-digit limit
            raise ValueError(f"not valid JSON ({clip(str(err))})") from None
    if not isinstance(doc, dict):
        raise ValueError("not a health-check export (expected a JSON object)")
    if doc.get("format") != FORMAT:
        raise ValueError(f"not a health-check export (field 'format': value {shown(doc.get('format'))}, expected {FORMAT!r})")
    if doc.get("version") != VERSION:
        raise ValueError(f"unsupported version {shown(doc.get('version'))} (this book reads version {VERSION})")
    answers = check_answers(doc.get("answers"), q)
    stated = doc.get("inputs")
    if not isinstance(stated, dict):
        raise ValueError("field 'inputs' must be an object of input values")
    for name, v in mapped_inputs(answers, q).items():
        s = stated.get(name)
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not _close(s, v):
            raise ValueError(f"its inputs do not follow from its answers under this questionnaire "
                             f"(field 'inputs.{name}': stated {shown(s)}, answers give {v:.6g})")
    return answers


def read_file(path: str | Path, questionnaire: Questionnaire | None = None,
              name: str | None = None) -> list[tuple[str, dict[str, int]]]:
    """Answers from one file: an exported ``.json`` document, or a ``.txt`` with one code per
    line. Returns ``[(name, answers)]``, the name being ``name`` (default: the file's stem), with
    `` #1``, `` #2``... for a file of several codes; a malformed file raises ``ValueError`` naming it."""
    q = questionnaire or load()
    p = Path(path)
    base = p.stem if name is None else name
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"{p.name}: cannot be read as text ({err})") from None
    if p.suffix.lower() == ".txt":
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        if not lines:
            raise ValueError(f"{p.name}: holds no codes")
        out = []
        for i, ln in enumerate(lines, start=1):
            try:
                out.append((f"{base} #{i}" if len(lines) > 1 else base, decode_code(ln, q)))
            except ValueError as err:
                raise ValueError(f"{p.name}: line {i}: {err}") from None
        return out
    try:
        return [(base, read_export(text, q))]
    except ValueError as err:
        raise ValueError(f"{p.name}: {err}") from None


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


def class_table(firms: list[tuple[str, Mapping[str, Any]]], questionnaire: Questionnaire | None = None) -> pd.DataFrame:
    """One row per firm and measure (long format): firm, group, measure, label, value.

    Firm names must differ: two firms under one name would be merged by anything that groups by
    firm (a chart, a pivot) while counted twice by anything that counts rows."""
    q = questionnaire or load()
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
