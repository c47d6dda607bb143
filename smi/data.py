"""Load and validate the tables in ``data/``.

Every file is checked when it is read. A malformed or out-of-range value raises
:class:`DataValidationError` naming the file, the row (by its key) and field, and the value,
so an instructor who edits a weight sees exactly what to fix. Nothing is half-loaded: a
bundle is returned only when every file and every cross-file reference checks out.
"""
from __future__ import annotations

import csv
import functools
import graphlib
import math
import os
import re
import reprlib
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

STUDIES = ("malshe2011", "hughes2012", "malshe2017")
N_PROPOSITIONS = {"malshe2011": 7, "hughes2012": 5, "malshe2017": 7}
LINKAGES = ("language", "structure", "process", "social", "philosophical")
LEVERS = ("vision", "alignment", "processes", "information", "knowledge", "decision", "resources", "culture")
CAPABILITIES = ("market_sensing", "npd", "supply_chain", "crm", "planning")
DYSFUNCTIONS = ("communication_paucity", "lack_of_collaboration", "overt_conflict")
SIDES = ("sales", "marketing")
STAGES = ("trigger", "situational_meaning", "existential_meaning", "response")
INTERVENTIONS = ("function_fix", "joint_calls", "job_rotation", "openness", "customized")
BASES = ("study", "assumption")

# a study reference: a proposition, a section (s4.2), the implications, Contributions or a table
_PROP_TOKEN = re.compile(r"^(malshe2011|hughes2012|malshe2017):(P[1-7]|implications|contributions|s\d(\.\d)?|table\d)$")


class DataValidationError(ValueError):
    """A data file failed validation; the message names file, row, field and value."""


def data_dir() -> Path:
    """The project's ``data/`` folder (``SMI_DATA_DIR`` overrides, e.g. for tests)."""
    env = os.environ.get("SMI_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "data"


SHOWN_CHARS = 60  # a value longer than this is cut short in messages


def shown(value: Any, limit: int = SHOWN_CHARS) -> str:
    """``repr(value)`` for a message, cut short when huge (a 400-digit number, a pasted essay, a
    deeply nested list) so the message stays readable; says how long the original was."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        try:
            text = str(value)
        except ValueError:  # beyond Python's 4300-digit limit for int -> str
            return f"<a whole number of about {int(value.bit_length() * 0.30103)} digits>"
        digits = len(text.lstrip("-"))
        return text if len(text) <= limit else f"{text[:limit // 2]}… ({digits} digits)"
    if isinstance(value, str):
        return repr(value) if len(value) <= limit else f"{value[:limit // 2]!r}… ({len(value)} characters)"
    try:
        text = _REPR.repr(value)
    except (RecursionError, ValueError):
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else f"{text[:limit]}…"


def clip(text: str, limit: int = 200) -> str:
    """``text`` cut to ``limit`` characters (for an error message quoted inside another)."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxlong, _REPR.maxother = 3, SHOWN_CHARS, SHOWN_CHARS, SHOWN_CHARS


def split_tokens(value: str) -> list[str]:
    """The items of a ``|``-separated field ("a | b" -> ["a", "b"]); blank -> []."""
    return [v.strip() for v in value.split("|") if v.strip()] if value else []


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _nonempty(v: str) -> str:
    if not v:
        raise ValueError("must not be empty")
    return v


# --------------------------------------------------------------------------- row schemas

class InputRow(_Row):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    layer: Literal["linkages", "capabilities", "dynamics"]
    kind: Literal["driver", "proviso", "component", "context", "lever", "start", "switch", "intervention", "start_quarter"]
    linkage: str = ""
    context: str = ""
    min: float | None = Field(default=None, allow_inf_nan=False)  # "1e400" reads as inf: refused
    max: float | None = Field(default=None, allow_inf_nan=False)
    default: str
    choices: str = ""
    # study: the input is named in a study (``propositions`` says where); assumption: the book's
    # own construct (``propositions`` says which study claim it serves)
    basis: Literal["study", "assumption"]
    propositions: str
    help: str

    _ne = field_validator("label", "help", "propositions")(_nonempty)

    @field_validator("min", "max", mode="before")
    @classmethod
    def _blank_none(cls, v: Any) -> Any:
        return None if v == "" else v

    @field_validator("linkage")
    @classmethod
    def _linkages(cls, v: str) -> str:
        bad = [x for x in split_tokens(v) if x not in LINKAGES]
        if bad:
            raise ValueError(f"unknown linkage {bad[0]!r} (expected one of {', '.join(LINKAGES)})")
        return v

    @field_validator("propositions")
    @classmethod
    def _props(cls, v: str) -> str:
        bad = [x for x in split_tokens(v) if not _PROP_TOKEN.match(x)]
        if bad:
            raise ValueError(f"bad proposition reference {bad[0]!r} (expected e.g. 'malshe2011:P3')")
        return v


class ParameterRow(_Row):
    """A weight. ``min``/``max`` are the editable suggested range (the robustness draws use it);
    the hard bounds in :data:`smi.model_spec.HARD_BOUNDS` are fixed in code."""
    name: str = Field(pattern=r"^[a-z_]+(\.[a-z_]+)+$")
    # nan, inf and 1e400 (which reads as inf) are refused here, before any check does arithmetic
    value: float = Field(allow_inf_nan=False)
    min: float = Field(allow_inf_nan=False)
    max: float = Field(allow_inf_nan=False)
    basis: Literal["assumption"]  # no study estimates a coefficient: every weight is the book's
    serves: str  # the study claim the assumption serves
    rationale: str

    _ne = field_validator("rationale")(_nonempty)

    @field_validator("serves")
    @classmethod
    def _prop(cls, v: str) -> str:
        if not _PROP_TOKEN.match(v):
            raise ValueError(f"bad study reference {v!r} (expected e.g. 'hughes2012:P1' or 'malshe2017:s4.2')")
        return v


class RelationRow(_Row):
    """A relation of the model and where it comes from."""
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    from_: str = Field(alias="from")
    to: str
    basis: Literal["study", "assumption"]
    source: str = ""  # study: where the relation is stated
    serves: str = ""  # assumption: the study claim it serves
    statement: str

    _ne = field_validator("from_", "to", "statement")(_nonempty)

    @field_validator("source", "serves")
    @classmethod
    def _refs(cls, v: str) -> str:
        bad = [x for x in split_tokens(v) if not _PROP_TOKEN.match(x)]
        if bad:
            raise ValueError(f"bad study reference {bad[0]!r} (expected e.g. 'malshe2011:P3')")
        return v


class PropositionRow(_Row):
    study: Literal["malshe2011", "hughes2012", "malshe2017"]
    proposition: str = Field(pattern=r"^P[1-7]$")
    item: Literal["", "a", "b", "c"]
    statement: str
    antecedent: str
    outcome: str
    conditions: str = ""
    direction: Literal["positive", "negative", "circular"]
    source_section: str

    _ne = field_validator("statement", "antecedent", "outcome", "source_section")(_nonempty)


class LinkageRow(_Row):
    linkage: Literal["language", "structure", "process", "social", "philosophical"]
    label: str
    definition: str
    drivers: str
    boundary_conditions: str = ""
    propositions: str = Field(pattern=r"^P[1-7](\|P[1-7])*$")
    new_in_2011: bool
    source_section: str

    _ne = field_validator("label", "definition", "source_section")(_nonempty)


class LeverRow(_Row):
    lever: Literal[LEVERS]  # type: ignore[valid-type]
    label: str
    definition: str
    source_section: str

    _ne = field_validator("label", "definition", "source_section")(_nonempty)


class CapabilityRow(_Row):
    capability: Literal[CAPABILITIES]  # type: ignore[valid-type]
    label: str
    definition: str
    proposition: str = Field(pattern=r"^P[1-5]$")
    stressed_levers: str
    spills_over_to: str = ""
    evidence: str
    source_section: str

    _ne = field_validator("label", "definition", "evidence", "source_section")(_nonempty)

    @field_validator("stressed_levers")
    @classmethod
    def _levers(cls, v: str) -> str:
        items = split_tokens(v)
        if not items:
            raise ValueError("must name at least one lever")
        bad = [x for x in items if x not in LEVERS]
        if bad:
            raise ValueError(f"unknown lever {bad[0]!r} (expected one of {', '.join(LEVERS)})")
        return v

    @field_validator("spills_over_to")
    @classmethod
    def _caps(cls, v: str) -> str:
        bad = [x for x in split_tokens(v) if x not in CAPABILITIES]
        if bad:
            raise ValueError(f"unknown capability {bad[0]!r} (expected one of {', '.join(CAPABILITIES)})")
        return v


class SensemakingRow(_Row):
    dysfunction: Literal[DYSFUNCTIONS]  # type: ignore[valid-type]
    side: Literal[SIDES]  # type: ignore[valid-type]
    stage: Literal[STAGES]  # type: ignore[valid-type]
    # aliased: a field named "construct" would shadow pydantic's BaseModel.construct
    construct_: str = Field(alias="construct", pattern=r"^[a-z][a-z_]*$")
    label: str
    description: str
    polarity: Literal["rises", "falls"]
    proposition: str = Field(pattern=r"^P[1-6]$")
    item: Literal["", "a", "b", "c"] = ""
    feeds: str = ""
    source_section: str

    _ne = field_validator("label", "description", "source_section")(_nonempty)

    @field_validator("feeds")
    @classmethod
    def _feeds(cls, v: str) -> str:
        bad = [x for x in split_tokens(v) if x not in DYSFUNCTIONS]
        if bad:
            raise ValueError(f"unknown dysfunction {bad[0]!r} (expected one of {', '.join(DYSFUNCTIONS)})")
        return v


class InterventionRow(_Row):
    intervention: Literal[INTERVENTIONS]  # type: ignore[valid-type]
    label: str
    kind: Literal["function", "sensemaking", "both"]  # what it acts on in the model
    level: Literal["function", "culture", "individual"]  # how the 2017 study classes it (§4.1, §4.2)
    acts_on: str
    description: str
    source_section: str

    _ne = field_validator("label", "description", "source_section", "acts_on")(_nonempty)


class StudyFactRow(_Row):
    study: Literal["malshe2011", "hughes2012", "malshe2017"]
    fact: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    value: str
    unit: str = ""
    note: str = ""
    source_section: str

    _ne = field_validator("value", "source_section")(_nonempty)


class DyadRow(_Row):
    """Malshe, Johnson & Viio (2017) Table 1: one same-level sales-marketing dyad per row."""
    dyad: int = Field(ge=1, le=21)
    level: Literal["Bottom", "Middle", "Top"]
    industry: str
    sbu_size_employees: int = Field(gt=0)
    sales_informant: str = Field(pattern=r"^[0-9]+SLS$")
    sales_age: int = Field(ge=18, le=80)
    sales_gender: Literal["M", "F"]
    sales_title: str
    marketing_informant: str = Field(pattern=r"^[0-9]+MKTG$")
    marketing_age: int = Field(ge=18, le=80)
    marketing_gender: Literal["M", "F"]
    marketing_title: str
    shared_company_marker: str = Field(default="", pattern=r"^\**$")
    same_company_as_dyad: int | None = None

    _ne = field_validator("industry", "sales_title", "marketing_title")(_nonempty)

    @field_validator("same_company_as_dyad", mode="before")
    @classmethod
    def _blank_none(cls, v: Any) -> Any:
        return None if v == "" else v


class SampleRow(_Row):
    """Hughes, Le Bon & Malshe (2012) Table 1, as characteristic / category / value."""
    characteristic: str
    category: str = ""
    value: str
    unit: str = ""

    _ne = field_validator("characteristic", "value")(_nonempty)


class LiteratureRow(_Row):
    """Malshe (2011) Table I: prior work on strengthening sales-marketing connections."""
    authors: str
    year: int = Field(ge=1900, le=2011)
    type: Literal["Empirical", "Conceptual"]
    focus: str
    how_connections_strengthened: str

    _ne = field_validator("authors", "focus", "how_connections_strengthened")(_nonempty)


class CodeRow(_Row):
    """Malshe (2011) Appendix Table AI: in vivo codes -> first-order categories -> themes."""
    theme: str
    category: str
    in_vivo_code: str
    code_group: str = ""

    _ne = field_validator("theme", "category", "in_vivo_code")(_nonempty)


class PresetEntry(_Row):
    """One preset of ``presets.yaml``: a full scenario of model inputs, traced to a source vignette.
    The input values are checked against ``inputs.csv`` after the entry itself (``_check_preset_inputs``)."""
    key: str
    title: str
    study: Literal[STUDIES]  # type: ignore[valid-type]
    source_section: str
    vignette: str
    teaching_point: str
    inputs: dict[str, Any]

    _ne = field_validator("key", "title", "source_section", "vignette", "teaching_point")(_nonempty)


# --------------------------------------------------------------------------- readers

def _fail(path: Path, where: str, err: ValidationError, raw: dict[str, Any], noun: str = "column") -> DataValidationError:
    first = err.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "(row)"
    value = raw.get(first["loc"][0]) if first["loc"] else None
    if first["type"] == "extra_forbidden":
        return DataValidationError(f"{path.name}: {where}: unexpected {noun} {field!r}")
    return DataValidationError(f"{path.name}: {where}, field {field!r}: {first['msg']} (value {shown(value)})")


def _read_csv(path: Path, schema: type[_Row], key: str) -> pd.DataFrame:
    """Read ``path`` row by row through ``schema``; the first bad value raises."""
    if not path.exists():
        raise DataValidationError(f"{path.name}: file not found at {path}")
    # utf-8-sig: a CSV saved from Excel starts with a byte-order mark
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [info.alias or f for f, info in schema.model_fields.items()
                   if info.is_required() and (info.alias or f) not in (reader.fieldnames or [])]
        if missing:
            raise DataValidationError(f"{path.name}: missing column {missing[0]!r} (header: {reader.fieldnames})")
        rows = []
        for lineno, raw in enumerate(reader, start=2):
            if None in raw:
                raise DataValidationError(f"{path.name}: line {lineno}: more fields than the header has (value {shown(raw[None])})")
            if None in raw.values():
                short = [k for k, v in raw.items() if v is None]
                raise DataValidationError(f"{path.name}: line {lineno}: fewer fields than the header has "
                                          f"(no value for {short[0]!r})")
            study = f"study {raw['study']!r}, " if "study" in raw and key != "study" else ""
            where = f"line {lineno} ({study}{key} {shown(raw.get(key, ''))})"
            try:
                row = schema.model_validate({k: (v if v is not None else "") for k, v in raw.items()})
            except ValidationError as err:
                raise _fail(path, where, err, raw) from None
            rows.append(row.model_dump(by_alias=True))
    if not rows:
        raise DataValidationError(f"{path.name}: has no rows")
    return pd.DataFrame(rows)


def _unique(df: pd.DataFrame, cols: list[str], path: Path) -> None:
    dup = df[df.duplicated(cols, keep=False)]
    if len(dup):
        key = ", ".join(f"{c}={dup.iloc[0][c]!r}" for c in cols)
        raise DataValidationError(f"{path.name}: duplicate row for {key}")


def _expect_keys(df: pd.DataFrame, col: str, expected: tuple[str, ...], path: Path) -> None:
    missing = [k for k in expected if k not in set(df[col])]
    if missing:
        raise DataValidationError(f"{path.name}: no row for {col} {missing[0]!r}")


# --------------------------------------------------------------------------- the bundle

@dataclass(frozen=True, eq=False)  # eq=False: hashed by identity, so compiled forms can be cached
class Theory:
    """Every validated table in ``data/``."""

    inputs: pd.DataFrame
    parameters: pd.DataFrame
    propositions: pd.DataFrame
    linkages: pd.DataFrame
    levers: pd.DataFrame
    capabilities: pd.DataFrame
    sensemaking: pd.DataFrame
    interventions: pd.DataFrame
    study_facts: pd.DataFrame
    presets: pd.DataFrame
    dyads_2017: pd.DataFrame
    sample_2012: pd.DataFrame
    literature_2011: pd.DataFrame
    codes_2011: pd.DataFrame
    relations: pd.DataFrame
    directory: Path

    def param(self, name: str) -> float:
        return float(self.params[name])

    @functools.cached_property
    def params(self) -> dict[str, float]:
        return dict(zip(self.parameters["name"], self.parameters["value"]))

    @functools.cached_property
    def defaults(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for r in self.inputs.itertuples():
            out[r.name] = r.default if r.kind == "switch" else float(r.default)
        return out

    def with_params(self, **values: float) -> "Theory":
        """The same theory with some weights changed (e.g. a robustness draw or a test);
        ``with_params(**{"spillover.strength": 0.4})``. Checked against the hard bounds."""
        unknown = [k for k in values if k not in self.params]
        if unknown:
            raise ValueError(f"unknown parameter {unknown[0]!r}")
        p = self.parameters.copy()
        p["value"] = [float(values.get(n, v)) for n, v in zip(p.name, p.value)]
        # a changed value may leave its suggested range; only the hard bounds apply here
        p["min"] = [min(a, b) for a, b in zip(p["min"], p["value"])]
        p["max"] = [max(a, b) for a, b in zip(p["max"], p["value"])]
        check_hard_bounds(p, "with_params")
        return dataclasses.replace(self, parameters=p)

    def input_names(self, layer: str | None = None, kind: str | None = None) -> list[str]:
        df = self.inputs
        if layer:
            df = df[df.layer == layer]
        if kind:
            df = df[df.kind == kind]
        return list(df.name)


def _check_inputs(df: pd.DataFrame, path: Path) -> None:
    _unique(df, ["name"], path)
    names = set(df.name)
    for r in df.itertuples():
        where = f"{path.name}: row {r.name!r}"
        if r.kind == "switch":
            choices = split_tokens(r.choices)
            if len(choices) < 2:
                raise DataValidationError(f"{where}, field 'choices': a switch needs at least two choices (value {r.choices!r})")
            if r.default not in choices:
                raise DataValidationError(f"{where}, field 'default': not one of {choices} (value {r.default!r})")
            continue
        if r.min is None or r.max is None or not r.min < r.max:
            raise DataValidationError(f"{where}, fields 'min'/'max': need min < max (values {r.min!r}, {r.max!r})")
        try:
            d = float(r.default)
        except ValueError:
            raise DataValidationError(f"{where}, field 'default': not a number (value {r.default!r})") from None
        if not r.min <= d <= r.max:
            raise DataValidationError(f"{where}, field 'default': outside [{r.min}, {r.max}] (value {r.default!r})")
        if r.kind == "start_quarter" and not (d.is_integer() and float(r.min).is_integer() and float(r.max).is_integer()):
            raise DataValidationError(f"{where}, field 'default': a start quarter must be a whole number (value {r.default!r})")
        if r.choices:
            raise DataValidationError(f"{where}, field 'choices': only a switch has choices (value {r.choices!r})")
        if r.context and (r.context not in names or df.set_index("name").loc[r.context, "kind"] != "context"):
            raise DataValidationError(f"{where}, field 'context': not a context input (value {r.context!r})")
        if r.layer == "linkages" and not r.linkage:
            raise DataValidationError(f"{where}, field 'linkage': a linkage-layer input must name its linkage (value '')")
    for kind, want in (("lever", LEVERS),):
        got = tuple(df[df.kind == kind].name)
        if set(got) != set(want):
            raise DataValidationError(f"{path.name}: lever inputs must be exactly {', '.join(want)} (found {', '.join(got)})")
    for r in df.itertuples():
        # the model reads each kind in one layer only: elsewhere the input would be silently ignored
        if KIND_LAYER[r.kind] != r.layer:
            raise DataValidationError(f"{path.name}: row {r.name!r}, field 'layer': a {r.kind} input belongs to the "
                                      f"{KIND_LAYER[r.kind]!r} layer (value {r.layer!r})")
        if r.linkage and r.layer != "linkages":
            raise DataValidationError(f"{path.name}: row {r.name!r}, field 'linkage': only a linkage-layer input "
                                      f"names a linkage (value {r.linkage!r})")
    # the dynamics read a starting level per dysfunction and a strength and a start quarter per
    # measure of interventions.csv (checked to be exactly INTERVENTIONS when that file loads)
    kinds = dict(zip(df.name, df.kind))
    needed = [(f"start_{d}", "start", f"dysfunction {d!r}") for d in DYSFUNCTIONS]
    needed += [(n, k, f"measure {m!r} of interventions.csv") for m in INTERVENTIONS
               for n, k in ((m, "intervention"), (f"{m}_start", "start_quarter"))]
    for name, kind, why in needed:
        if kinds.get(name) != kind:
            raise DataValidationError(f"{path.name}: no {kind} input named {name!r} (the dynamics need it for {why}; "
                                      f"found {'kind ' + repr(kinds[name]) if name in kinds else 'no such row'})")
    for kind, want in (("start", {f"start_{d}" for d in DYSFUNCTIONS}),
                       ("intervention", set(INTERVENTIONS)),
                       ("start_quarter", {f"{m}_start" for m in INTERVENTIONS})):
        extra = sorted(set(df[df.kind == kind].name) - want)
        if extra:
            raise DataValidationError(f"{path.name}: row {extra[0]!r}, field 'kind': the model has no {kind} input of "
                                      f"that name, so it would be ignored (value {kind!r})")


KIND_LAYER = {"driver": "linkages", "proviso": "linkages", "component": "linkages", "context": "linkages",
              "lever": "capabilities", "start": "dynamics", "switch": "dynamics", "intervention": "dynamics",
              "start_quarter": "dynamics"}


def _check_linkage_inputs(inputs: pd.DataFrame, linkages: pd.DataFrame, inputs_path: Path, linkages_path: Path) -> None:
    """Each linkage of linkages.csv is built from inputs.csv: a driver gated by its provisos
    (language, structure, process) or a weighted mean of components (social, philosophical)."""
    for k in linkages.linkage:
        rows = inputs[inputs.linkage.map(lambda s, k=k: k in split_tokens(s))]
        by_kind = {kind: list(rows[rows.kind == kind].name) for kind in ("driver", "proviso", "component")}
        where = f"{linkages_path.name}: row {k!r}"
        if not by_kind["driver"] and not by_kind["component"]:
            raise DataValidationError(
                f"{where}: has neither a driver nor components (no row of {inputs_path.name} with kind 'driver' or "
                f"'component' names it in field 'linkage'; value {k!r})")
        if by_kind["driver"] and by_kind["component"]:
            raise DataValidationError(
                f"{inputs_path.name}: row {by_kind['component'][0]!r}, field 'kind': linkage {k!r} has a driver "
                f"({by_kind['driver'][0]!r}), so a component would be ignored; a linkage is a driver with provisos "
                f"or a mean of components (value 'component')")
        if by_kind["proviso"] and not by_kind["driver"]:
            raise DataValidationError(
                f"{inputs_path.name}: row {by_kind['proviso'][0]!r}, field 'kind': linkage {k!r} has no driver for "
                f"the proviso to gate, so it would be ignored (value 'proviso')")


WHOLE_PARAMETERS = ("simulation.quarters",)


def _check_parameters(df: pd.DataFrame, path: Path) -> None:
    _unique(df, ["name"], path)
    for r in df.itertuples():
        # the schema refused nan and inf (and 1e400, read as inf), so is_integer() cannot fail
        if r.name in WHOLE_PARAMETERS and not float(r.value).is_integer():
            raise DataValidationError(f"{path.name}: row {r.name!r}, field 'value': must be a whole number (value {r.value!r})")
        if r.name.startswith("coupling.") and len(set(r.name.split(".")[1:])) == 1:
            raise DataValidationError(
                f"{path.name}: row {r.name!r}, field 'name': a dysfunction cannot be coupled to itself (value {r.name!r})")
        if not (math.isfinite(r.value) and r.min <= r.value <= r.max):
            raise DataValidationError(
                f"{path.name}: row {r.name!r}, field 'value': outside its range [{r.min}, {r.max}] (value {r.value!r})")


def _check_propositions(df: pd.DataFrame, path: Path) -> None:
    _unique(df, ["study", "proposition", "item"], path)
    parents = df[df["item"] == ""]
    for study, n in N_PROPOSITIONS.items():
        got = sorted(parents[parents.study == study].proposition)
        want = sorted(f"P{i}" for i in range(1, n + 1))
        if got != want:
            raise DataValidationError(f"{path.name}: study {study!r} must have parent rows {want} (found {got})")
    orphans = df[(df["item"] != "") & ~df.set_index(["study", "proposition"]).index.isin(
        parents.set_index(["study", "proposition"]).index)]
    if len(orphans):
        o = orphans.iloc[0]
        raise DataValidationError(f"{path.name}: sub-item {o.study} {o.proposition}{o['item']} has no parent row")


def _check_references(df: pd.DataFrame, path: Path, key: str, fields: tuple[str, ...],
                      propositions: pd.DataFrame) -> None:
    """Every 'study:Pn' reference in ``fields`` names a proposition of propositions.csv (the
    pattern alone would let 'hughes2012:P7' through: that study has five)."""
    known = {f"{r.study}:{r.proposition}" for r in propositions.itertuples() if r.item == ""}
    for r in df.itertuples():
        for f in fields:
            for tok in split_tokens(getattr(r, f)):
                if re.fullmatch(r"[a-z0-9]+:P\d", tok) and tok not in known:
                    raise DataValidationError(f"{path.name}: row {getattr(r, key)!r}, field {f!r}: no such proposition "
                                              f"in propositions.csv (value {tok!r})")


def _check_sensemaking_propositions(df: pd.DataFrame, path: Path, propositions: pd.DataFrame) -> None:
    """A construct's proposition (and sub-item) is one of Malshe, Johnson & Viio (2017)."""
    known = {(r.proposition, r.item) for r in propositions.itertuples() if r.study == "malshe2017"}
    for r in df.itertuples():
        if (r.proposition, r.item) not in known:
            raise DataValidationError(f"{path.name}: row {r.construct!r}, fields 'proposition'/'item': malshe2017 has "
                                      f"no proposition {r.proposition}{r.item} in propositions.csv "
                                      f"(values {r.proposition!r}, {r.item!r})")


def _check_dyads(df: pd.DataFrame, path: Path) -> None:
    """Table 1's note pairs the dyads from one company: each names the other, with one marker."""
    _unique(df, ["dyad"], path)
    _unique(df, ["sales_informant"], path)
    _unique(df, ["marketing_informant"], path)
    partner = {int(r.dyad): (None if pd.isna(r.same_company_as_dyad) else int(r.same_company_as_dyad))
               for r in df.itertuples()}
    marker = dict(zip(df.dyad.astype(int), df.shared_company_marker))
    for d, other in partner.items():
        where = f"{path.name}: row {d}, field 'same_company_as_dyad'"
        if other is None:
            if marker[d]:
                raise DataValidationError(f"{where}: a dyad with a shared-company marker ({marker[d]!r}) must name "
                                          f"the other dyad of its company (value '')")
        elif other not in partner:
            raise DataValidationError(f"{where}: no such dyad in the table (value {other})")
        elif other == d:
            raise DataValidationError(f"{where}: names the dyad itself (value {other})")
    for d, other in partner.items():
        if other is None:
            continue
        if partner[other] != d:
            raise DataValidationError(f"{path.name}: row {d}, field 'same_company_as_dyad': dyad {other} does not "
                                      f"name dyad {d} back (value {other})")
        if marker[d] != marker[other] or not marker[d]:
            raise DataValidationError(f"{path.name}: rows {min(d, other)} and {max(d, other)}, field "
                                      f"'shared_company_marker': the two dyads of one company share one marker "
                                      f"(values {marker[min(d, other)]!r}, {marker[max(d, other)]!r})")
    pairs: dict[str, set[int]] = {}
    for d, m in marker.items():
        if m:
            pairs.setdefault(m, set()).add(d)
    for m, ds in pairs.items():
        if len(ds) != 2:
            raise DataValidationError(f"{path.name}: field 'shared_company_marker': marker {m!r} must mark the two "
                                      f"dyads of one company (found it on dyads {', '.join(map(str, sorted(ds)))})")


_NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
# the facts the book computes with (sample charts, the checks of the published numbers): each must
# be present and a whole number, so a typo stops the load instead of the book build
COUNTED_FACTS = {
    "malshe2011": ("informants", "informants_sales", "informants_marketing", "informants_constructive_linkages",
                   "informants_no_constructive_linkages"),
    "hughes2012": ("informants", "level_senior", "level_middle", "level_junior"),
    "malshe2017": ("informants", "dyads", "industries", "dyads_bottom_level", "dyads_middle_level", "dyads_top_level"),
}


def _check_study_facts(df: pd.DataFrame, path: Path) -> None:
    """A fact with a unit is a number ("25", "0.5"), never words ("twenty-five")."""
    _unique(df, ["study", "fact"], path)
    for r in df.itertuples():
        if r.unit and not _NUMBER.match(r.value):
            raise DataValidationError(f"{path.name}: row (study {r.study!r}, fact {r.fact!r}), field 'value': a fact "
                                      f"measured in {r.unit!r} must be a number written in digits (value {shown(r.value)})")
    facts = {(r.study, r.fact): r for r in df.itertuples()}
    for study, names in COUNTED_FACTS.items():
        for name in names:
            r = facts.get((study, name))
            if r is None:
                raise DataValidationError(f"{path.name}: no row for study {study!r}, fact {name!r} (the book draws it)")
            if not re.fullmatch(r"[0-9]+", r.value):
                raise DataValidationError(f"{path.name}: row (study {study!r}, fact {name!r}), field 'value': must be a "
                                          f"whole number written in digits (value {shown(r.value)})")


def _check_capabilities(df: pd.DataFrame, path: Path) -> None:
    _unique(df, ["capability"], path)
    _expect_keys(df, "capability", CAPABILITIES, path)
    graph = {r.capability: split_tokens(r.spills_over_to) for r in df.itertuples()}
    capability_order(graph, path)


def capability_order(graph: dict[str, list[str]], path: Path | None = None) -> list[str]:
    """Topological order of the spill-over graph (sources first); a cycle is a data error.

    ``graph`` maps a capability to the capabilities it spills over to."""
    sorter = graphlib.TopologicalSorter({node: [] for node in graph})
    for src, targets in graph.items():
        for t in targets:
            sorter.add(t, src)  # the target comes after its source
    try:
        return list(sorter.static_order())
    except graphlib.CycleError as err:
        cyc = " -> ".join(err.args[1])  # in spill-over order, first node repeated at the end
        raise DataValidationError(f"{path.name if path else 'capabilities'}: spills_over_to forms a cycle ({cyc})") from None


def _check_sensemaking(df: pd.DataFrame, path: Path) -> None:
    _unique(df, ["dysfunction", "side", "stage"], path)
    _unique(df, ["construct"], path)
    if len(df) != len(DYSFUNCTIONS) * len(SIDES) * len(STAGES):
        raise DataValidationError(f"{path.name}: needs one row per dysfunction x side x stage (24), found {len(df)}")
    for r in df.itertuples():
        if r.stage == "response" and not r.feeds:
            raise DataValidationError(f"{path.name}: row {r.construct!r}, field 'feeds': a response must feed at least one dysfunction (value '')")
        if r.stage != "response" and r.feeds:
            raise DataValidationError(f"{path.name}: row {r.construct!r}, field 'feeds': only responses feed dysfunctions (value {r.feeds!r})")


def _check_interventions(df: pd.DataFrame, path: Path) -> None:
    _unique(df, ["intervention"], path)
    _expect_keys(df, "intervention", INTERVENTIONS, path)
    targets = {f"{d}:{s}" for d in DYSFUNCTIONS for s in SIDES}
    for r in df.itertuples():
        for tok in split_tokens(r.acts_on):
            ok = tok in DYSFUNCTIONS if r.kind == "function" else (tok == "all" or tok in targets or tok in DYSFUNCTIONS)
            if not ok:
                raise DataValidationError(f"{path.name}: row {r.intervention!r}, field 'acts_on': unknown target (value {tok!r})")


def _check_relations(df: pd.DataFrame, path: Path) -> None:
    _unique(df, ["id"], path)
    for r in df.itertuples():
        if r.basis == "study" and not r.source:
            raise DataValidationError(f"{path.name}: row {r.id!r}, field 'source': a study relation must say where the study states it (value '')")
        if r.basis == "assumption" and (r.source or not r.serves):
            raise DataValidationError(f"{path.name}: row {r.id!r}, fields 'source'/'serves': an assumption has no study source "
                                      f"and must say which study claim it serves (values {r.source!r}, {r.serves!r})")


def _check_parameter_names(theory_params: pd.DataFrame, path: Path, inputs: pd.DataFrame) -> None:
    """Every parameter the model reads must exist, and no unknown name may sneak in."""
    from .model_spec import required_parameters, optional_parameter_patterns

    names, required = set(theory_params.name), required_parameters(inputs)
    missing = sorted(required - names)
    if missing:
        raise DataValidationError(f"{path.name}: missing parameter {missing[0]!r}")
    for n in names:
        if n not in required and not any(p.match(n) for p in optional_parameter_patterns()):
            raise DataValidationError(f"{path.name}: row {n!r}, field 'name': unknown parameter (value {n!r})")
    check_hard_bounds(theory_params, path.name)


def check_hard_bounds(params: pd.DataFrame, where: str) -> None:
    """Suggested ranges and values inside the hard bounds of code; ordered pairs ordered.

    ``params``: columns name, value, min, max. ``where`` names the file (or the caller) in the error.
    """
    from .model_spec import hard_bounds, ordered_pairs

    for r in params.itertuples():
        lo, hi, why = hard_bounds(r.name)
        for field in ("min", "max", "value"):
            v = getattr(r, field)
            if not lo <= v <= hi:
                raise DataValidationError(f"{where}: row {r.name!r}, field {field!r}: outside the hard bounds "
                                          f"[{lo:g}, {hi:g}] ({why}) (value {v!r})")
    p = dict(zip(params.name, params.value))
    for a, b, why in ordered_pairs(set(p)):
        if p[a] > p[b]:
            raise DataValidationError(f"{where}: rows {a!r} and {b!r}, field 'value': {a} must not exceed {b} ({why}) "
                                      f"(values {p[a]!r}, {p[b]!r})")


class UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """A YAML loader that rejects a key given twice (copy-paste slips would silently win).
    libyaml's parser when PyYAML has it: the pure-Python one costs each lab kernel 0.2 s of CPU."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _yaml_where(path: Path, err: yaml.YAMLError, item: tuple[str, str] | None) -> str:
    """The line of a YAML error and, with ``item`` (noun, key field), the list entry it sits in
    (the nearest '- key:' line above it)."""
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    if mark is None:
        return ""
    if item:
        noun, key = item
        for line in reversed(path.read_text(encoding="utf-8").splitlines()[: mark.line + 1]):
            m = re.match(rf"^-\s+{key}:\s*(\S+)", line)
            if m:
                return f"{noun} {m.group(1)!r}, line {mark.line + 1}: "
    return f"line {mark.line + 1}: "


def read_yaml(path: Path, item: tuple[str, str] | None = None) -> Any:
    """The document of a YAML file; a missing file, invalid YAML or a key given twice raises
    :class:`DataValidationError` naming the file and line (and the ``item`` entry, see ``_yaml_where``)."""
    if not path.exists():
        raise DataValidationError(f"{path.name}: file not found at {path}")
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=UniqueKeyLoader)
    except yaml.YAMLError as err:
        raise DataValidationError(f"{path.name}: {_yaml_where(path, err, item)}not valid YAML ({err})") from None


def _read_presets(path: Path, inputs: pd.DataFrame) -> pd.DataFrame:
    """Presets: a YAML list of :class:`PresetEntry`; each a full scenario of model inputs."""
    doc = read_yaml(path, ("preset", "key"))
    if not isinstance(doc, list) or not doc:
        raise DataValidationError(f"{path.name}: must be a non-empty list of presets")
    rows = []
    for i, p in enumerate(doc, start=1):
        key = p.get("key", f"#{i}") if isinstance(p, dict) else f"#{i}"
        if not isinstance(p, dict):
            raise DataValidationError(f"{path.name}: preset {shown(key)}: must be a mapping")
        try:
            entry = PresetEntry.model_validate(p)
        except ValidationError as err:
            raise _fail(path, f"preset {shown(key)}", err, p, noun="field") from None
        _check_preset_inputs(entry.inputs, inputs, f"{path.name}: preset {shown(key)}")
        rows.append({**entry.model_dump(exclude={"inputs"}), **entry.inputs})
    df = pd.DataFrame(rows)
    _unique(df, ["key"], path)
    return df


def _check_preset_inputs(values: dict[str, Any], inputs: pd.DataFrame, where: str) -> None:
    """Every input named once and in its range (switches: one of their choices)."""
    spec = inputs.set_index("name")
    unknown = [k for k in values if k not in spec.index]
    if unknown:
        raise DataValidationError(f"{where}, field 'inputs.{unknown[0]}': unknown input (value {shown(values[unknown[0]])})")
    missing = [n for n in spec.index if n not in values]
    if missing:
        raise DataValidationError(f"{where}, field 'inputs.{missing[0]}': missing (every preset is a full scenario)")
    for name, v in values.items():
        s = spec.loc[name]
        if s.kind == "switch":
            if v not in split_tokens(s.choices):
                raise DataValidationError(f"{where}, field 'inputs.{name}': not one of {split_tokens(s.choices)} (value {shown(v)})")
        elif isinstance(v, bool) or not isinstance(v, (int, float)) or not (s["min"] <= v <= s["max"]):
            raise DataValidationError(f"{where}, field 'inputs.{name}': must be a number in [{s['min']:g}, {s['max']:g}] (value {shown(v)})")
        elif s.kind == "start_quarter" and not float(v).is_integer():
            raise DataValidationError(f"{where}, field 'inputs.{name}': a start quarter must be a whole number (value {shown(v)})")


@functools.lru_cache(maxsize=8)
def _load(directory: str) -> Theory:
    d = Path(directory)
    inputs = _read_csv(d / "inputs.csv", InputRow, "name")
    _check_inputs(inputs, d / "inputs.csv")
    parameters = _read_csv(d / "parameters.csv", ParameterRow, "name")
    _check_parameters(parameters, d / "parameters.csv")
    _check_parameter_names(parameters, d / "parameters.csv", inputs)
    propositions = _read_csv(d / "propositions.csv", PropositionRow, "proposition")
    _check_propositions(propositions, d / "propositions.csv")
    _check_references(inputs, d / "inputs.csv", "name", ("propositions",), propositions)
    _check_references(parameters, d / "parameters.csv", "name", ("serves",), propositions)
    linkages = _read_csv(d / "linkages.csv", LinkageRow, "linkage")
    _unique(linkages, ["linkage"], d / "linkages.csv")
    _expect_keys(linkages, "linkage", LINKAGES, d / "linkages.csv")
    _check_linkage_inputs(inputs, linkages, d / "inputs.csv", d / "linkages.csv")
    levers = _read_csv(d / "levers.csv", LeverRow, "lever")
    _unique(levers, ["lever"], d / "levers.csv")
    _expect_keys(levers, "lever", LEVERS, d / "levers.csv")
    capabilities = _read_csv(d / "capabilities.csv", CapabilityRow, "capability")
    _check_capabilities(capabilities, d / "capabilities.csv")
    sensemaking = _read_csv(d / "sensemaking.csv", SensemakingRow, "construct")
    _check_sensemaking(sensemaking, d / "sensemaking.csv")
    _check_sensemaking_propositions(sensemaking, d / "sensemaking.csv", propositions)
    interventions = _read_csv(d / "interventions.csv", InterventionRow, "intervention")
    _check_interventions(interventions, d / "interventions.csv")
    study_facts = _read_csv(d / "study_facts.csv", StudyFactRow, "fact")
    _check_study_facts(study_facts, d / "study_facts.csv")
    presets = _read_presets(d / "presets.yaml", inputs)
    dyads = _read_csv(d / "malshe2017_dyads.csv", DyadRow, "dyad")
    _check_dyads(dyads, d / "malshe2017_dyads.csv")
    sample = _read_csv(d / "hughes2012_informants.csv", SampleRow, "characteristic")
    literature = _read_csv(d / "malshe2011_literature.csv", LiteratureRow, "authors")
    codes = _read_csv(d / "malshe2011_codes.csv", CodeRow, "in_vivo_code")
    relations = _read_csv(d / "relations.csv", RelationRow, "id")
    _check_relations(relations, d / "relations.csv")
    _check_references(relations, d / "relations.csv", "id", ("source", "serves"), propositions)
    return Theory(inputs, parameters, propositions, linkages, levers, capabilities, sensemaking,
                  interventions, study_facts, presets, dyads, sample, literature, codes, relations, d)


def load(directory: str | Path | None = None) -> Theory:
    """Load and validate every table (cached per folder)."""
    return _load(str(Path(directory) if directory else data_dir()))


def clear_cache() -> None:
    _load.cache_clear()
