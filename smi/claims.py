"""Executable claims: every statement the book makes about what the model does, checked.

``data/claims.yaml`` holds named *scenarios* (every input at its default, optionally a preset,
another scenario as a base, then input overrides) and *claims*. A claim is the sentence a reader
sees, the pages that use it, and one or more expected relations between model outputs:

* ``compare``: ``left op right``, where each side is an output of a scenario (at a quarter of
  the simulation, if ``quarter`` is given), or the change of that output from scenario ``minus``
  to ``scenario``; ``right`` may be a number. With ``outputs`` the relation must hold for each.
* ``lowest`` / ``highest``: which of several outputs of one scenario (``scenario`` +
  ``outputs``), or which of several scenarios for one output (``scenarios`` + ``output``), is
  the extreme one.

A claim is evaluated at the shipped weights and under each of :func:`smi.weight_draws` (K=200,
fixed seed), all scenarios and draws at once through :func:`smi.evaluate_draws` and
:func:`smi.simulate_draws`. ``robust: true`` says the book presents the claim as holding for
every admissible weight draw; ``robust: false`` says it holds at the shipped weights only in
some draws, and its text must say that it depends on the assumed weights.

Pure: no display, no file writes. :func:`load_claims` raises :class:`ClaimsError` naming the
file, the claim or scenario, the field and the value.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from . import data as _data
from . import dynamics as _dyn
from . import model as _model
from .data import DYSFUNCTIONS, DataValidationError, Theory
from .robustness import K_DEFAULT, evaluate_draws, simulate_draws, weight_draws

CLAIMS_FILE = "claims.yaml"
TOL = 1e-9  # "==" compares floats computed along different (scalar/array) paths

STATIC_OUTPUTS = tuple(_model.LINKAGE_OUTPUTS + _model.CAPABILITY_OUTPUTS)
SUMMARY_OUTPUTS = tuple(_dyn.SUMMARY_OUTPUTS)
# quantities the simulation reports per quarter (``quarter`` required)
SERIES_OUTPUTS = (*DYSFUNCTIONS, "total_dysfunction", *STATIC_OUTPUTS)
# a non-robust claim must tell the reader that it rests on the assumptions
DEPENDS = re.compile(r"assum|weights", re.IGNORECASE)


class ClaimsError(DataValidationError):
    """``claims.yaml`` is malformed; the message names file, claim or scenario, field and value."""


class ClaimCheckError(AssertionError):
    """A claim does not hold as the book states it; the message names the claim and the numbers."""


# --------------------------------------------------------------------------- schema

class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Scenario(_M):
    preset: str | None = None
    base: str | None = None
    set: dict[str, float | int | str] = Field(default_factory=dict)
    note: str = ""


class Ref(_M):
    """One side of a comparison: ``output`` of ``scenario`` (minus the same of ``minus``)."""
    scenario: str
    output: str | None = None  # may be omitted when the relation lists ``outputs``
    quarter: int | None = Field(default=None, ge=0)
    minus: str | None = None


class Compare(_M):
    kind: Literal["compare"]
    left: Ref
    op: Literal[">", "<", ">=", "<=", "=="]
    right: Ref | float
    outputs: list[str] | None = None  # check the relation once per output (for sides without one)

    @model_validator(mode="after")
    def _outputs(self) -> "Compare":
        refs = [r for r in (self.left, self.right) if isinstance(r, Ref)]
        if self.outputs is not None:
            if not self.outputs:
                raise ValueError("'outputs' must list at least one output")
            if all(r.output for r in refs):
                raise ValueError("'outputs' is used only by a side without its own 'output'")
        elif any(not r.output for r in refs):
            raise ValueError("each side needs an 'output' (or list them in 'outputs')")
        return self


class Extreme(_M):
    kind: Literal["lowest", "highest"]
    scenario: str | None = None
    outputs: list[str] | None = None
    scenarios: list[str] | None = None
    output: str | None = None
    quarter: int | None = Field(default=None, ge=0)
    minus: str | None = None  # compare changes from this scenario instead of levels
    expect: str

    @model_validator(mode="after")
    def _form(self) -> "Extreme":
        by_output = self.scenario is not None and self.outputs is not None
        by_scenario = self.scenarios is not None and self.output is not None
        if by_output == by_scenario:
            raise ValueError("give either 'scenario' and 'outputs', or 'scenarios' and 'output'")
        among = self.outputs if by_output else self.scenarios
        if len(among) < 2:
            raise ValueError("compare at least two candidates")
        if self.expect not in among:
            raise ValueError(f"'expect' must be one of {among}")
        return self


Relation = Annotated[Union[Compare, Extreme], Field(discriminator="kind")]


class Claim(_M):
    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    pages: list[str] = Field(min_length=1)  # book pages, as paths under book/ without ".md"
    # a preset's teaching point: the text is the preset's ``teaching_point`` (one copy, in presets.yaml)
    preset: str | None = None
    text: str = ""
    robust: bool
    expect: list[Relation] = Field(min_length=1)
    note: str = ""

    @field_validator("pages")
    @classmethod
    def _pages(cls, v: list[str]) -> list[str]:
        bad = [p for p in v if not re.match(r"^[a-z0-9_]+(/[a-z0-9_]+)*$", p)]
        if bad:
            raise ValueError(f"a page is a path under book/ without '.md', e.g. 'malshe2017' (value {bad[0]!r})")
        return v

    @model_validator(mode="after")
    def _hedged(self) -> "Claim":
        if self.preset is None and not self.text:
            raise ValueError("a claim needs its 'text' (or a 'preset' whose teaching point it checks)")
        if self.preset is not None and self.text:
            raise ValueError("a preset's claim takes its text from the preset's teaching_point; remove 'text'")
        return self


@dataclass(frozen=True, eq=False)
class Claims:
    scenarios: dict[str, dict[str, Any]]  # name -> full input row
    claims: tuple[Claim, ...]
    path: Path

    def get(self, claim_id: str) -> Claim:
        for c in self.claims:
            if c.id == claim_id:
                return c
        raise KeyError(f"unknown claim {claim_id!r} in {self.path.name}")


# --------------------------------------------------------------------------- loading

def _where(err: ValidationError) -> tuple[str, str, Any]:
    first = err.errors()[0]
    loc = [str(p) for p in first["loc"] if p not in ("compare", "lowest", "highest")]
    return ".".join(loc) or "(entry)", first["msg"], first.get("input")


def _resolve(name: str, raw: dict[str, Scenario], theory: Theory, fname: str, trail: tuple[str, ...] = ()) -> dict:
    if name in trail:
        raise ClaimsError(f"{fname}: scenario {name!r}, field 'base': circular ({' -> '.join(trail + (name,))})")
    s = raw[name]
    if s.base is not None:
        if s.base not in raw:
            raise ClaimsError(f"{fname}: scenario {name!r}, field 'base': unknown scenario (value {s.base!r})")
        row = dict(_resolve(s.base, raw, theory, fname, trail + (name,)))
    else:
        row = dict(theory.defaults)
    if s.preset is not None:
        presets = theory.presets.set_index("key")
        if s.preset not in presets.index:
            raise ClaimsError(f"{fname}: scenario {name!r}, field 'preset': unknown preset (value {s.preset!r})")
        row.update(presets.loc[s.preset, theory.input_names()].to_dict())
    spec = theory.inputs.set_index("name")
    for k, v in s.set.items():
        where = f"{fname}: scenario {name!r}, field 'set.{k}'"
        if k not in spec.index:
            raise ClaimsError(f"{where}: unknown input (value {v!r})")
        r = spec.loc[k]
        if r.kind == "switch":
            if v not in r.choices.split("|"):
                raise ClaimsError(f"{where}: not one of {r.choices.split('|')} (value {v!r})")
        elif isinstance(v, (bool, str)) or not r["min"] <= v <= r["max"]:
            raise ClaimsError(f"{where}: must be a number in [{r['min']:g}, {r['max']:g}] (value {v!r})")
        elif r.kind == "start_quarter" and not float(v).is_integer():
            raise ClaimsError(f"{where}: a start quarter must be a whole number (value {v!r})")
        row[k] = v
    return row


def _check_refs(c: Claim, scenarios: set[str], quarters: int, fname: str) -> None:
    def fail(field: str, msg: str, value: Any) -> None:
        raise ClaimsError(f"{fname}: claim {c.id!r}, field {field!r}: {msg} (value {value!r})")

    def scen(field: str, name: str | None) -> None:
        if name is not None and name not in scenarios:
            fail(field, "unknown scenario", name)

    def out(field: str, name: str | None, quarter: int | None) -> None:
        if name is None:
            return
        if quarter is None and name not in STATIC_OUTPUTS + SUMMARY_OUTPUTS:
            hint = " (a simulated series needs 'quarter')" if name in SERIES_OUTPUTS else ""
            fail(field, f"unknown output{hint}", name)
        if quarter is not None:
            if name not in SERIES_OUTPUTS:
                fail(field, "not a simulated series (no 'quarter' for it)", name)
            if quarter > quarters:
                fail(field.rsplit(".", 1)[0] + ".quarter", f"beyond the simulated {quarters} quarters", quarter)

    for i, rel in enumerate(c.expect):
        f = f"expect.{i}"
        if isinstance(rel, Compare):
            for side in ("left", "right"):
                r = getattr(rel, side)
                if isinstance(r, Ref):
                    scen(f"{f}.{side}.scenario", r.scenario)
                    scen(f"{f}.{side}.minus", r.minus)
                    for o in ([r.output] if r.output else rel.outputs):
                        out(f"{f}.{side}.output" if r.output else f"{f}.outputs", o, r.quarter)
        else:
            scen(f"{f}.scenario", rel.scenario)
            scen(f"{f}.minus", rel.minus)
            for j, s in enumerate(rel.scenarios or []):
                scen(f"{f}.scenarios.{j}", s)
            for o in rel.outputs or [rel.output]:
                out(f"{f}.outputs" if rel.outputs else f"{f}.output", o, rel.quarter)


def load_claims(path: str | Path | None = None, theory: Theory | None = None) -> Claims:
    """Read and validate ``claims.yaml`` (default: the data folder's); the first error raises."""
    theory = theory or _data.load()
    path = Path(path) if path else _data.data_dir() / CLAIMS_FILE
    fname = path.name
    if not path.exists():
        raise ClaimsError(f"{fname}: file not found at {path}")
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_data.UniqueKeyLoader)
    except yaml.YAMLError as err:
        raise ClaimsError(f"{fname}: not valid YAML ({err})") from None
    if not isinstance(doc, dict) or set(doc) != {"scenarios", "claims"}:
        got = sorted(doc) if isinstance(doc, dict) else type(doc).__name__
        raise ClaimsError(f"{fname}: must be a mapping with exactly the keys 'scenarios' and 'claims' (found {got})")
    if not isinstance(doc["scenarios"], dict) or not doc["scenarios"]:
        raise ClaimsError(f"{fname}: 'scenarios' must be a non-empty mapping of name to scenario")
    if not isinstance(doc["claims"], list) or not doc["claims"]:
        raise ClaimsError(f"{fname}: 'claims' must be a non-empty list")
    raw = {}
    for name, s in doc["scenarios"].items():
        try:
            raw[name] = Scenario.model_validate(s if s is not None else {})
        except ValidationError as err:
            field, msg, value = _where(err)
            raise ClaimsError(f"{fname}: scenario {name!r}, field {field!r}: {msg} (value {value!r})") from None
    scenarios = {name: _resolve(name, raw, theory, fname) for name in raw}
    quarters = int(theory.param("simulation.quarters"))
    claims, seen = [], set()
    for i, c in enumerate(doc["claims"], start=1):
        cid = c.get("id", f"#{i}") if isinstance(c, dict) else f"#{i}"
        try:
            claim = Claim.model_validate(c)
        except ValidationError as err:
            field, msg, value = _where(err)
            raise ClaimsError(f"{fname}: claim {cid!r}, field {field!r}: {msg} (value {value!r})") from None
        if claim.id in seen:
            raise ClaimsError(f"{fname}: claim {claim.id!r}, field 'id': appears twice (value {claim.id!r})")
        seen.add(claim.id)
        if claim.preset is not None:
            presets = theory.presets.set_index("key")
            if claim.preset not in presets.index:
                raise ClaimsError(f"{fname}: claim {claim.id!r}, field 'preset': unknown preset (value {claim.preset!r})")
            claim = claim.model_copy(update={"text": presets.loc[claim.preset, "teaching_point"]})
        if not claim.robust and not DEPENDS.search(claim.text):
            field = "preset" if claim.preset else "text"
            raise ClaimsError(f"{fname}: claim {claim.id!r}, field {field!r}: a claim that is not robust must say "
                              f"that it depends on the assumed weights (mention 'assumed' or 'weights') "
                              f"(value {claim.text!r})")
        _check_refs(claim, set(scenarios), quarters, fname)
        claims.append(claim)
    return Claims(scenarios, tuple(claims), path)


# --------------------------------------------------------------------------- evaluation

def _draws_with_shipped(theory: Theory, k: int) -> pd.DataFrame:
    """Row 0: the shipped weights; rows 1..k: the robustness draws."""
    draws = weight_draws(theory, k=k)
    shipped = pd.DataFrame([{c: theory.param(c) for c in draws.columns}])
    return pd.concat([shipped, draws], ignore_index=True)


class _Values:
    """Every output the claims read, for every scenario and draw (draw 0 = shipped weights).

    Only the scenarios a claim reads are computed: static outputs through one
    :func:`smi.evaluate_draws` call, simulated ones through one :func:`smi.simulate_draws` call.
    """

    def __init__(self, claims: Claims, theory: Theory, draws: pd.DataFrame):
        static, dyn = [], []
        for c in claims.claims:
            for rel in c.expect:
                for scen, out, quarter in _reads(rel):
                    kind = static if quarter is None and out in STATIC_OUTPUTS else dyn
                    if scen not in kind:
                        kind.append(scen)
        self.static_at = {n: i for i, n in enumerate(static)}
        self.dyn_at = {n: i for i, n in enumerate(dyn)}
        self.static = self.series = self.summary = None
        frame = lambda names: pd.DataFrame([claims.scenarios[n] for n in names])[theory.input_names()]
        if static:
            ev = evaluate_draws(frame(static), draws, theory)
            self.static = {o: ev[o].to_numpy().reshape(len(static), len(draws)) for o in STATIC_OUTPUTS}
        if dyn:
            quarters = int(theory.param("simulation.quarters"))
            a = dict(simulate_draws(frame(dyn), quarters, draws, theory))
            a["total_dysfunction"] = sum(a[d] for d in DYSFUNCTIONS)
            self.series = a
            flat = {k: v.reshape(quarters + 1, -1) for k, v in a.items()}
            self.summary = {k: v.reshape(len(dyn), len(draws)) for k, v in _dyn.summarize_core(flat).items()}

    def get(self, scenario: str, output: str, quarter: int | None) -> np.ndarray:
        if quarter is not None:
            return self.series[output][quarter, self.dyn_at[scenario]]
        if output in SUMMARY_OUTPUTS:
            return self.summary[output][self.dyn_at[scenario]]
        return self.static[output][self.static_at[scenario]]


def _reads(rel) -> list[tuple[str, str, int | None]]:
    """Every (scenario, output, quarter) a relation reads."""
    out = []
    if isinstance(rel, Compare):
        for r in (rel.left, rel.right):
            if isinstance(r, Ref):
                for o in ([r.output] if r.output else rel.outputs):
                    out += [(s, o, r.quarter) for s in (r.scenario, r.minus) if s]
        return out
    scenarios = [rel.scenario] if rel.outputs else rel.scenarios
    for o in rel.outputs or [rel.output]:
        out += [(s, o, rel.quarter) for s in scenarios + ([rel.minus] if rel.minus else [])]
    return out


def _side(v: _Values, r: Ref | float, output: str | None) -> np.ndarray:
    if not isinstance(r, Ref):
        return np.asarray(float(r))
    o = r.output or output
    x = v.get(r.scenario, o, r.quarter)
    return x - v.get(r.minus, o, r.quarter) if r.minus else x


def _label(r: Ref | float, output: str | None) -> str:
    if not isinstance(r, Ref):
        return f"{r:g}"
    o = r.output or output
    q = f" at quarter {r.quarter}" if r.quarter is not None else ""
    return f"change in {o}{q} from {r.minus!r} to {r.scenario!r}" if r.minus else f"{o}{q} of {r.scenario!r}"


def _relation(v: _Values, rel) -> tuple[np.ndarray, list[str]]:
    """Whether ``rel`` holds in each draw, and a description of it at the shipped weights."""
    if isinstance(rel, Compare):
        ok, desc = None, []
        for o in ([None] if rel.outputs is None else rel.outputs):
            a, b = _side(v, rel.left, o), _side(v, rel.right, o)
            held = {">": a > b, "<": a < b, ">=": a >= b - TOL, "<=": a <= b + TOL,
                    "==": np.abs(a - b) <= TOL}[rel.op]
            held = np.broadcast_to(held, np.broadcast_shapes(np.shape(a), np.shape(b)))
            ok = held if ok is None else ok & held
            desc.append(f"{_label(rel.left, o)} = {np.ravel(a)[0]:.4f} {rel.op} "
                        f"{_label(rel.right, o)} = {np.ravel(b)[0]:.4f}")
        return ok, desc
    def val(scenario: str, output: str) -> np.ndarray:
        x = v.get(scenario, output, rel.quarter)
        return x - v.get(rel.minus, output, rel.quarter) if rel.minus else x

    change = f" (change from {rel.minus!r})" if rel.minus else ""
    if rel.outputs:
        names = rel.outputs
        vals = np.stack([val(rel.scenario, o) for o in names])
        what = f"{rel.kind} of {', '.join(names)} in {rel.scenario!r}{change}"
    else:
        names = rel.scenarios
        vals = np.stack([val(s, rel.output) for s in names])
        what = f"{rel.kind} {rel.output} among scenarios {', '.join(names)}{change}"
    pick = vals.argmin(axis=0) if rel.kind == "lowest" else vals.argmax(axis=0)
    shown = ", ".join(f"{n} {x:.4f}" for n, x in zip(names, vals[:, 0]))
    return pick == names.index(rel.expect), [f"{what} expected {rel.expect!r} ({shown})"]


@dataclass(frozen=True)
class Result:
    id: str
    robust: bool
    holds: bool  # at the shipped weights
    held: int  # in how many of the draws
    draws: int
    detail: tuple[str, ...]  # each relation at the shipped weights

    @property
    def share(self) -> float:
        return self.held / self.draws

    @property
    def badge(self) -> str:
        if not self.holds:
            return "does not hold at the shipped weights"
        if self.held == self.draws:
            return f"holds at the shipped weights and in all {self.draws} weight draws"
        return (f"holds at the shipped weights and in {self.held} of {self.draws} draws: "
                "depends on the assumed weights")


def evaluate(claims: Claims | None = None, theory: Theory | None = None, k: int = K_DEFAULT) -> dict[str, Result]:
    """Every claim at the shipped weights and under ``k`` weight draws, keyed by claim id."""
    theory = theory or _data.load()
    claims = claims or load_claims(theory=theory)
    draws = _draws_with_shipped(theory, k)
    v = _Values(claims, theory, draws)
    out = {}
    for c in claims.claims:
        ok, detail = np.ones(len(draws), dtype=bool), []
        for rel in c.expect:
            held, desc = _relation(v, rel)
            ok &= held
            detail += desc
        out[c.id] = Result(c.id, c.robust, bool(ok[0]), int(ok[1:].sum()), k, tuple(detail))
    return out


@functools.lru_cache(maxsize=4)
def _cached(path: str, mtime: float, theory: Theory) -> tuple[Claims, dict[str, Result]]:
    claims = load_claims(path, theory)
    return claims, evaluate(claims, theory)


def results(theory: Theory | None = None, path: str | Path | None = None) -> tuple[Claims, dict[str, Result]]:
    """The claims file and its evaluation, computed once per file version (for the book)."""
    theory = theory or _data.load()
    p = Path(path) if path else _data.data_dir() / CLAIMS_FILE
    return _cached(str(p), p.stat().st_mtime if p.exists() else 0.0, theory)


def problems(claims: Claims, res: dict[str, Result]) -> list[str]:
    """Every way a claim fails to hold as the book states it (empty when all is well)."""
    out = []
    for c in claims.claims:
        r = res[c.id]
        where = f"{claims.path.name}: claim {c.id!r} (pages {', '.join(c.pages)})"
        shipped = "; ".join(r.detail)
        if not r.holds:
            out.append(f"{where} does not hold at the shipped weights: {shipped}")
        elif c.robust and r.held < r.draws:
            out.append(f"{where} is marked robust but holds in only {r.held} of {r.draws} weight draws "
                       f"(mark it robust: false and say in its text that it depends on the assumed weights)")
        elif not c.robust and r.held == r.draws:
            out.append(f"{where} holds in all {r.draws} weight draws: mark it robust: true")
    return out


def check(claims: Claims | None = None, theory: Theory | None = None) -> dict[str, Result]:
    """Evaluate every claim; raise :class:`ClaimCheckError` listing each one that fails."""
    theory = theory or _data.load()
    claims = claims or load_claims(theory=theory)
    res = evaluate(claims, theory)
    bad = problems(claims, res)
    if bad:
        raise ClaimCheckError("\n".join(bad))
    return res
