"""The health check's files: ``data/healthcheck.yaml`` in, exported answers and short codes out and in.

The questionnaire is validated when it is read, with pydantic schemas in the style of the CSV
schemas of :mod:`smi.data`: a mistake raises :class:`smi.DataValidationError` naming the file,
the question id, the field and the value. It is not part of :func:`smi.load`, so the model
itself never depends on it.

The export document and the short code are the formats the book's health-check page writes
(``static/healthcheck.js``) and the class debrief (``scripts/debrief.py``) reads, which is why
they live here, beside the page, and not in the model package: :mod:`smi.questionnaire` only
maps answers onto inputs.
"""
from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from pathlib import Path
from typing import Annotated, Any, Mapping

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from smi import data as _data
from smi.data import DataValidationError, Theory, clip, read_yaml, shown, split_tokens
from smi.questionnaire import ASKABLE_KINDS, POINTS, Question, Questionnaire, check_answers, mapped_inputs, \
    required_inputs

FILE = "healthcheck.yaml"
FORMAT = "smi-healthcheck"   # the "format" field of an exported file
VERSION = 2                  # its "version": bumped whenever the question ids change (exports are keyed by id)
CODE_PREFIX = "hc1"          # short codes: hc1.<fingerprint>.<base64url of the answer digits>
# one item per idea: splitting double-barrelled items and a culture item took version 2 to 33 questions
MIN_QUESTIONS, MAX_QUESTIONS = 18, 36

_MAP = re.compile(r"^([a-z][a-z0-9_]*)\s+([+-])$")
_CONSTRUCT = re.compile(r"^(malshe2011|hughes2012|malshe2017):P([1-7])([a-c]?)(?:-P([1-7]))?$")
_ID = re.compile(r"^[a-z][a-z0-9-]*$")


# --------------------------------------------------------------------------- schemas of healthcheck.yaml

class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)


def _text(v: str) -> str:
    if not v:
        raise ValueError("must be non-empty text")
    return v


def _id(v: str) -> str:
    if not _ID.match(v):
        raise ValueError("must be lowercase letters, digits and dashes, starting with a letter")
    return v


def _labels(v: Any) -> Any:
    """Five labels of a scale, lowest first (a scale name is resolved later, against ``scales``)."""
    if isinstance(v, str):
        return v
    if not isinstance(v, list) or len(v) != POINTS:
        raise ValueError(f"must be a scale name or a list of {POINTS} labels, lowest first")
    if not all(isinstance(x, str) and x.strip() for x in v):
        raise ValueError("every label must be non-empty text")
    if len({x.strip() for x in v}) != POINTS:
        raise ValueError("labels must differ from one another")
    return tuple(x.strip() for x in v)


def _scale(v: Any) -> tuple[str, ...]:
    """A named scale of ``scales``: its labels, spelled out."""
    if isinstance(v, str):
        raise ValueError(f"must be a list of {POINTS} labels, lowest first")
    return _labels(v)


class SectionEntry(_Entry):
    id: str
    title: str

    _id = field_validator("id")(_id)
    _ne = field_validator("title")(_text)


class QuestionEntry(_Entry):
    id: str
    section: str
    text: str
    # aliased: a field named "construct" would shadow pydantic's BaseModel.construct
    construct_: str = Field(alias="construct")
    scale: Any
    maps_to: list[str]

    _id = field_validator("id")(_id)
    _ne = field_validator("text")(_text)
    _scale = field_validator("scale")(_labels)

    @field_validator("construct_")
    @classmethod
    def _construct(cls, v: str) -> str:
        tokens = split_tokens(v)
        if not tokens:
            raise ValueError("must name at least one study and proposition, e.g. 'malshe2011:P1'")
        for t in tokens:
            m = _CONSTRUCT.match(t)
            if not m:
                raise ValueError(f"{t!r}: expected a study and proposition such as 'malshe2011:P1', "
                                 "'malshe2011:P1a' or 'hughes2012:P1-P5'")
            _, first, item, last = m.groups()
            if last and item:
                raise ValueError(f"{t!r}: a range cannot name a sub-item")
            if last and int(last) <= int(first):
                raise ValueError(f"{t!r}: a range must run upward (e.g. P1-P5)")
        return v

    @field_validator("maps_to")
    @classmethod
    def _maps(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("must be a non-empty list such as [\"key_terms +\"]")
        for m in v:
            if not _MAP.match(m):
                raise ValueError(f"{m!r}: each entry is an input name, a space and + or -")
        return v


class QuestionnaireFile(_Entry):
    title: str
    scales: dict[str, Annotated[Any, AfterValidator(_scale)]] = {}
    sections: list[SectionEntry] = Field(min_length=1)
    questions: list[QuestionEntry]

    _ne = field_validator("title")(_text)


# --------------------------------------------------------------------------- reading it

def _where(loc: tuple, doc: dict) -> tuple[str, str, Any]:
    """(where, field, value) of a pydantic error location in the file's document."""
    if len(loc) >= 2 and loc[0] in ("questions", "sections") and isinstance(loc[1], int):
        item = doc[loc[0]][loc[1]]
        ident = item.get("id") if isinstance(item, dict) else None
        where = f"{loc[0][:-1]} {ident if isinstance(ident, str) and ident else f'#{loc[1] + 1}'!r}"
        fld = str(loc[2]) if len(loc) > 2 else "(entry)"
        return where, fld, item.get(fld) if isinstance(item, dict) else item
    if len(loc) >= 2 and loc[0] == "scales":
        return f"scale {loc[1]!r}", "labels", doc["scales"].get(loc[1])
    return "", str(loc[0]) if loc else "(file)", doc.get(loc[0]) if loc else doc


def _fail(path: Path, err: ValidationError, doc: dict) -> DataValidationError:
    first = err.errors()[0]
    where, fld, value = _where(tuple(first["loc"]), doc)
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "missing":
        msg = "missing"
    elif first["type"] == "extra_forbidden":
        if not where:
            return DataValidationError(f"{path.name}: unexpected top-level key {fld!r}")
        msg = "unexpected field"
    return DataValidationError(f"{path.name}: {where + ', ' if where else ''}field {fld!r}: {msg} (value {shown(value)})")


def _cross_check(path: Path, f: QuestionnaireFile, theory: Theory) -> None:
    """What one entry cannot check alone: unique ids, known sections, scales, propositions and inputs."""
    def err(qid: str, fld: str, msg: str, value: Any) -> DataValidationError:
        return DataValidationError(f"{path.name}: question {qid!r}, field {fld!r}: {msg} (value {shown(value)})")

    sections = [s.id for s in f.sections]
    dup = next((s for i, s in enumerate(sections) if s in sections[:i]), None)
    if dup:
        raise DataValidationError(f"{path.name}: section {dup!r}, field 'id': appears twice (value {dup!r})")
    if not MIN_QUESTIONS <= len(f.questions) <= MAX_QUESTIONS:
        raise DataValidationError(f"{path.name}: field 'questions': needs {MIN_QUESTIONS}-{MAX_QUESTIONS} questions "
                                  f"(found {len(f.questions)})")
    spec = theory.inputs.set_index("name")
    props = {(r.study, r.proposition, r["item"]) for _, r in theory.propositions.iterrows()}
    seen: set[str] = set()
    for q in f.questions:
        if q.id in seen:
            raise err(q.id, "id", "appears twice", q.id)
        seen.add(q.id)
        if q.section not in sections:
            raise err(q.id, "section", f"unknown section (known: {', '.join(sections)})", q.section)
        for t in split_tokens(q.construct_):
            study, first, item, last = _CONSTRUCT.match(t).groups()
            for n in [first] + ([last] if last else []):
                if (study, f"P{n}", "") not in props:
                    raise err(q.id, "construct", f"{study} has no proposition P{n}", t)
            if item and (study, f"P{first}", item) not in props:
                raise err(q.id, "construct", f"{study} P{first} has no sub-item {item!r}", t)
        if isinstance(q.scale, str) and q.scale not in f.scales:
            raise err(q.id, "scale", f"unknown scale name (known: {', '.join(f.scales) or 'none'})", q.scale)
        names: list[str] = []
        for m in q.maps_to:
            name = _MAP.match(m).group(1)
            if name not in spec.index:
                raise err(q.id, "maps_to", f"unknown input {name!r}", m)
            if spec.loc[name, "kind"] not in ASKABLE_KINDS:
                raise err(q.id, "maps_to", f"{name!r} is a {spec.loc[name, 'kind']}, not an input a question can set", m)
            if name in names:
                raise err(q.id, "maps_to", f"input {name!r} appears twice", m)
            names.append(name)
    asked = {_MAP.match(m).group(1) for q in f.questions for m in q.maps_to}
    missing = [n for n in required_inputs(theory) if n not in asked]
    if missing:
        raise DataValidationError(
            f"{path.name}: no question maps to input {missing[0]!r} (every linkage input, lever and "
            f"starting dysfunction needs at least one; missing: {', '.join(missing)})")


def _parse(path: Path, theory: Theory) -> Questionnaire:
    doc = read_yaml(path)
    if not isinstance(doc, dict):
        raise DataValidationError(f"{path.name}: must be a mapping with 'title', 'scales', 'sections' and 'questions'")
    try:
        f = QuestionnaireFile.model_validate(doc)
    except ValidationError as err:
        raise _fail(path, err, doc) from None
    _cross_check(path, f, theory)
    questions = tuple(
        Question(q.id, i, q.section, " ".join(q.text.split()), tuple(split_tokens(q.construct_)),
                 f.scales[q.scale] if isinstance(q.scale, str) else q.scale,
                 tuple(_MAP.match(m).groups() for m in q.maps_to))
        for i, q in enumerate(f.questions, start=1))
    return Questionnaire(f.title, {s.id: s.title for s in f.sections}, questions, path, theory)


@functools.lru_cache(maxsize=16)
def _cached(path: str, mtime_ns: int, theory: Theory) -> Questionnaire:
    return _parse(Path(path), theory)


def load(path: str | Path | None = None, theory: Theory | None = None) -> Questionnaire:
    """Read and validate the questionnaire (default: ``data/healthcheck.yaml``)."""
    theory = theory or _data.load()
    p = Path(path) if path else _data.data_dir() / FILE
    mtime = p.stat().st_mtime_ns if p.exists() else -1
    return _cached(str(p.resolve()), mtime, theory)


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

