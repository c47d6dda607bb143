"""Every table in data/ is validated on load, and a broken table fails with a clear message.

Each test copies the real data/ folder to a temporary directory, breaks one thing in its copy
and checks that ``smi.load`` raises :class:`smi.DataValidationError` whose message names the
file, the row or key, the field, and the offending value, so an instructor who edits a weight
sees exactly what to fix.
"""
from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Callable

import pytest
import yaml

import smi
import smi.data
from smi import DataValidationError

REAL_DATA = Path(smi.data.__file__).resolve().parent.parent / "data"


# --------------------------------------------------------------------------- helpers

@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A private copy of the real data/ folder that a test may break."""
    dest = tmp_path / "data"
    shutil.copytree(REAL_DATA, dest)
    return dest


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def write_rows(path: Path, header: list[str], rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


def edit_csv(path: Path, mutate: Callable[[list[dict[str, str]]], list[dict[str, str]] | None]) -> None:
    """Apply ``mutate`` to the rows of ``path`` (in place, or by returning a new list)."""
    header, rows = read_rows(path)
    out = mutate(rows)
    write_rows(path, header, rows if out is None else out)


def set_cell(path: Path, match: dict[str, str], field: str, value: str) -> None:
    """Set ``field`` to ``value`` in the single row whose columns equal ``match``."""
    header, rows = read_rows(path)
    hits = [r for r in rows if all(r[k] == v for k, v in match.items())]
    assert len(hits) == 1, f"test setup: {match} matches {len(hits)} rows in {path.name}"
    hits[0][field] = value
    write_rows(path, header, rows)


def get_cell(path: Path, match: dict[str, str], field: str) -> str:
    _, rows = read_rows(path)
    (hit,) = [r for r in rows if all(r[k] == v for k, v in match.items())]
    return hit[field]


def delete_rows(path: Path, match: dict[str, str]) -> None:
    def drop(rows):
        kept = [r for r in rows if not all(r[k] == v for k, v in match.items())]
        assert len(kept) < len(rows), f"test setup: {match} matches no row in {path.name}"
        return kept
    edit_csv(path, drop)


def append_row(path: Path, **values: str) -> None:
    header, rows = read_rows(path)
    unknown = set(values) - set(header)
    assert not unknown, f"test setup: {unknown} not columns of {path.name}"
    rows.append({h: values.get(h, "") for h in header})
    write_rows(path, header, rows)


def load_error(folder: Path, *expected: str) -> str:
    """Load ``folder``; assert it fails with DataValidationError whose message has every ``expected``."""
    with pytest.raises(DataValidationError) as info:
        smi.load(folder)
    msg = str(info.value)
    missing = [e for e in expected if e not in msg]
    assert not missing, f"message lacks {missing}: {msg}"
    return msg


def presets(folder: Path) -> list[dict]:
    return yaml.safe_load((folder / "presets.yaml").read_text(encoding="utf-8"))


def write_presets(folder: Path, doc: list[dict]) -> None:
    (folder / "presets.yaml").write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")


# --------------------------------------------------------------------------- the real data

def test_real_data_loads():
    smi.data.clear_cache()
    theory = smi.load(REAL_DATA)
    parents = theory.propositions[theory.propositions["item"] == ""]
    assert len(parents) == 19
    assert parents.groupby("study").size().to_dict() == {"malshe2011": 7, "hughes2012": 5, "malshe2017": 7}
    assert len(theory.presets) >= 6
    assert theory.presets["key"].is_unique


def test_unmodified_copy_loads(data):
    """The copy itself is valid, so every failure below is caused by the one edit a test makes."""
    theory = smi.load(data)
    assert theory.directory == data
    assert len(theory.propositions[theory.propositions["item"] == ""]) == 19


# --------------------------------------------------------------------------- parameters.csv

@pytest.mark.parametrize("name, bad, shown", [
    ("functioning.connection_share", "1.7", "1.7"),
    ("functioning.connection_share", "-0.2", "-0.2"),
    ("synergy.exponent", "0.5", "0.5"),        # below its suggested min 0.7
    ("simulation.quarters", "400", "400"),      # above its max 40
    ("recovery.rate", "nan", "nan"),
    ("recovery.rate", "inf", "inf"),
])
def test_parameter_outside_range(data, name, bad, shown):
    set_cell(data / "parameters.csv", {"name": name}, "value", bad)
    load_error(data, "parameters.csv", repr(name), "'value'", shown)


@pytest.mark.parametrize("bad", ["high", "", "0,3", "30%"])
def test_parameter_not_a_number(data, bad):
    set_cell(data / "parameters.csv", {"name": "functioning.connection_share"}, "value", bad)
    load_error(data, "parameters.csv", "functioning.connection_share", "'value'", repr(bad))


def test_parameter_min_not_a_number(data):
    set_cell(data / "parameters.csv", {"name": "capability.floor"}, "min", "zero")
    load_error(data, "parameters.csv", "capability.floor", "'min'", "'zero'")


def test_parameter_missing(data):
    delete_rows(data / "parameters.csv", {"name": "synergy.exponent"})
    load_error(data, "parameters.csv", "missing", "'synergy.exponent'")


def test_parameter_missing_for_an_input(data):
    """Required names follow inputs.csv: every proviso needs both strictness ends."""
    delete_rows(data / "parameters.csv", {"name": "strictness_high.ownership"})
    load_error(data, "parameters.csv", "missing", "'strictness_high.ownership'")


@pytest.mark.parametrize("name", ["weight.mood", "coupling.overt_conflict.mood", "erosion.overt_conflict.trust"])
def test_parameter_unknown_name(data, name):
    append_row(data / "parameters.csv", name=name, value="1.0", min="0", max="1", basis="assumption",
               serves="malshe2011:P6", rationale="A parameter the model never reads.")
    load_error(data, "parameters.csv", repr(name), "'name'", "unknown parameter")


@pytest.mark.parametrize("name", ["Weight.rapport", "weight", "weight..rapport", "weight rapport"])
def test_parameter_malformed_name(data, name):
    set_cell(data / "parameters.csv", {"name": "weight.rapport"}, "name", name)
    load_error(data, "parameters.csv", "'name'", repr(name))


def test_parameter_duplicate(data):
    header, rows = read_rows(data / "parameters.csv")
    rows.append(dict(next(r for r in rows if r["name"] == "recovery.rate")))
    write_rows(data / "parameters.csv", header, rows)
    load_error(data, "parameters.csv", "duplicate", "'recovery.rate'")


def test_parameter_bad_proposition(data):
    set_cell(data / "parameters.csv", {"name": "recovery.rate"}, "serves", "malshe2017:P8")
    load_error(data, "parameters.csv", "recovery.rate", "'serves'", "'malshe2017:P8'")


def test_parameter_empty_rationale(data):
    set_cell(data / "parameters.csv", {"name": "recovery.rate"}, "rationale", "  ")
    load_error(data, "parameters.csv", "recovery.rate", "'rationale'")


def test_parameter_self_coupling(data):
    """A dysfunction coupled to itself matches the coupling.* pattern but is meaningless; it must fail
    at load time, not later when the dynamics are compiled."""
    set_cell(data / "parameters.csv", {"name": "coupling.overt_conflict.lack_of_collaboration"},
             "name", "coupling.overt_conflict.overt_conflict")
    load_error(data, "parameters.csv", "'coupling.overt_conflict.overt_conflict'", "'name'")


def test_simulation_quarters_not_whole(data):
    set_cell(data / "parameters.csv", {"name": "simulation.quarters"}, "value", "40.5")
    load_error(data, "parameters.csv", "'simulation.quarters'", "'value'", "40.5")


@pytest.mark.parametrize("name, field, bad, bounds", [
    ("spillover.strength", "max", "2", "[0, 0.9]"),            # a share above 1 would make capabilities negative
    ("coupling.overt_conflict.communication_paucity", "min", "-0.1", "[0, 0.5]"),  # P7: never lowers another
    ("capability.emphasis", "min", "0.5", "[1, 10]"),            # a stressed lever would count less
    ("flow.cap", "max", "0.9", "[0.05, 0.5]"),                   # the dynamics would stop being monotone
])
def test_suggested_range_outside_hard_bounds(data, name, field, bad, bounds):
    """An instructor may widen a suggested range, but never past the hard bounds in code, inside
    which every proposition's direction holds."""
    set_cell(data / "parameters.csv", {"name": name}, field, bad)
    load_error(data, "parameters.csv", repr(name), repr(field), "hard bounds", bounds, bad)


def test_strictness_low_above_high_is_refused(data):
    """strictness_low > strictness_high would make a proviso bind less where its context is
    stronger, reversing the book's grading of P1-P4."""
    path = data / "parameters.csv"
    set_cell(path, {"name": "strictness_low.ownership"}, "max", "1")
    set_cell(path, {"name": "strictness_low.ownership"}, "value", "0.9")
    set_cell(path, {"name": "strictness_high.ownership"}, "min", "0")
    set_cell(path, {"name": "strictness_high.ownership"}, "value", "0.4")
    load_error(data, "parameters.csv", "'strictness_low.ownership'", "'strictness_high.ownership'", "0.9", "0.4",
               "must not exceed")


def test_a_weight_cannot_claim_a_study_basis(data):
    """No study estimates a coefficient: every weight is the book's assumption."""
    set_cell(data / "parameters.csv", {"name": "recovery.rate"}, "basis", "study")
    load_error(data, "parameters.csv", "recovery.rate", "'basis'", "'study'")


def test_with_params_checks_hard_bounds():
    theory = smi.load(REAL_DATA)
    with pytest.raises(DataValidationError, match=r"spillover\.strength.*hard bounds.*1\.5"):
        theory.with_params(**{"spillover.strength": 1.5})
    with pytest.raises(DataValidationError, match=r"strictness_low\.flexibility.*must not exceed"):
        theory.with_params(**{"strictness_low.flexibility": 0.9, "strictness_high.flexibility": 0.3})
    assert theory.with_params(**{"spillover.strength": 0.8}).param("spillover.strength") == 0.8


# --------------------------------------------------------------------------- relations.csv

def test_relation_assumption_with_a_study_source_is_refused(data):
    """An assumption must not be credited to a study: it names the claim it serves, not a source."""
    set_cell(data / "relations.csv", {"id": "erosion"}, "source", "malshe2017:P7")
    load_error(data, "relations.csv", "'erosion'", "source", "'malshe2017:P7'")


def test_relation_from_a_study_needs_its_source(data):
    set_cell(data / "relations.csv", {"id": "circularity"}, "source", "")
    load_error(data, "relations.csv", "'circularity'", "'source'")


def test_relation_bad_basis(data):
    set_cell(data / "relations.csv", {"id": "circularity"}, "basis", "finding")
    load_error(data, "relations.csv", "'basis'", "'finding'")


def test_input_bad_basis(data):
    set_cell(data / "inputs.csv", {"name": "rapport"}, "basis", "")
    load_error(data, "inputs.csv", "rapport", "'basis'")


# --------------------------------------------------------------------------- inputs.csv

@pytest.mark.parametrize("name, bad", [
    ("key_terms", "1.5"),
    ("key_terms", "-0.1"),
    ("function_fix_start", "41"),
])
def test_input_default_outside_range(data, name, bad):
    set_cell(data / "inputs.csv", {"name": name}, "default", bad)
    load_error(data, "inputs.csv", repr(name), "'default'", repr(bad))


def test_input_default_not_a_number(data):
    set_cell(data / "inputs.csv", {"name": "rapport"}, "default", "medium")
    load_error(data, "inputs.csv", "'rapport'", "'default'", "'medium'")


def test_input_min_not_below_max(data):
    set_cell(data / "inputs.csv", {"name": "rapport"}, "min", "1")
    load_error(data, "inputs.csv", "'rapport'", "'min'", "'max'")


def test_input_switch_default_not_a_choice(data):
    set_cell(data / "inputs.csv", {"name": "incremental_effects"}, "default", "sideways")
    load_error(data, "inputs.csv", "'incremental_effects'", "'default'", "'sideways'")


def test_input_unknown_linkage(data):
    set_cell(data / "inputs.csv", {"name": "key_terms"}, "linkage", "lingo")
    load_error(data, "inputs.csv", "'key_terms'", "'linkage'", "'lingo'")


def test_input_unknown_linkage_in_list(data):
    set_cell(data / "inputs.csv", {"name": "hierarchy_depth"}, "linkage", "language|structur")
    load_error(data, "inputs.csv", "'hierarchy_depth'", "'linkage'", "structur")


@pytest.mark.parametrize("bad", ["malshe2011:P9", "malshe2012:P1", "malshe2011P1", "hughes2012:p1"])
def test_input_bad_proposition_reference(data, bad):
    set_cell(data / "inputs.csv", {"name": "key_terms"}, "propositions", f"malshe2011:P1|{bad}")
    load_error(data, "inputs.csv", "'key_terms'", "'propositions'", bad)


@pytest.mark.parametrize("field, bad", [("layer", "attitudes"), ("kind", "knob")])
def test_input_bad_layer_or_kind(data, field, bad):
    set_cell(data / "inputs.csv", {"name": "rapport"}, field, bad)
    load_error(data, "inputs.csv", "'rapport'", repr(field), repr(bad))


def test_input_context_not_a_context(data):
    set_cell(data / "inputs.csv", {"name": "vertical_communication"}, "context", "key_terms")
    load_error(data, "inputs.csv", "'vertical_communication'", "'context'", "'key_terms'")


def test_input_linkage_layer_without_linkage(data):
    set_cell(data / "inputs.csv", {"name": "rapport"}, "linkage", "")
    load_error(data, "inputs.csv", "'rapport'", "'linkage'")


def test_input_lever_missing(data):
    set_cell(data / "inputs.csv", {"name": "culture"}, "kind", "context")
    load_error(data, "inputs.csv", "lever", "culture")


def test_input_duplicate_name(data):
    header, rows = read_rows(data / "inputs.csv")
    rows.append(dict(next(r for r in rows if r["name"] == "rapport")))
    write_rows(data / "inputs.csv", header, rows)
    load_error(data, "inputs.csv", "duplicate", "'rapport'")


# --------------------------------------------------------------------------- propositions.csv

def test_proposition_bad_direction(data):
    set_cell(data / "propositions.csv", {"study": "hughes2012", "proposition": "P2", "item": ""},
             "direction", "sideways")
    load_error(data, "propositions.csv", "'P2'", "'direction'", "'sideways'")


@pytest.mark.parametrize("field, bad", [("study", "malshe2019"), ("item", "d"), ("proposition", "P8")])
def test_proposition_bad_key(data, field, bad):
    set_cell(data / "propositions.csv", {"study": "hughes2012", "proposition": "P2", "item": ""}, field, bad)
    load_error(data, "propositions.csv", repr(field), repr(bad))


def test_proposition_empty_statement(data):
    set_cell(data / "propositions.csv", {"study": "hughes2012", "proposition": "P2", "item": ""}, "statement", "")
    load_error(data, "propositions.csv", "'P2'", "'statement'")


def test_proposition_missing_parent(data):
    delete_rows(data / "propositions.csv", {"study": "hughes2012", "proposition": "P3", "item": ""})
    msg = load_error(data, "propositions.csv", "'hughes2012'", "['P1', 'P2', 'P3', 'P4', 'P5']")
    assert "found ['P1', 'P2', 'P4', 'P5']" in msg


def test_proposition_extra_parent(data):
    append_row(data / "propositions.csv", study="hughes2012", proposition="P6", item="",
               statement="An extra proposition.", antecedent="x", outcome="y", direction="positive",
               source_section="Nowhere")
    load_error(data, "propositions.csv", "'hughes2012'", "P6")


def test_proposition_sub_item_without_parent(data):
    append_row(data / "propositions.csv", study="hughes2012", proposition="P6", item="a",
               statement="A sub-item of a proposition the study does not make.", antecedent="x",
               outcome="y", direction="positive", source_section="Nowhere")
    load_error(data, "propositions.csv", "sub-item", "hughes2012", "P6a", "no parent")


def test_proposition_duplicate(data):
    header, rows = read_rows(data / "propositions.csv")
    rows.append(dict(next(r for r in rows if r["study"] == "malshe2017" and r["proposition"] == "P4")))
    write_rows(data / "propositions.csv", header, rows)
    load_error(data, "propositions.csv", "duplicate", "'malshe2017'", "'P4'")


# --------------------------------------------------------------------------- linkages.csv, levers.csv

def test_linkage_bad_boolean(data):
    set_cell(data / "linkages.csv", {"linkage": "social"}, "new_in_2011", "maybe")
    load_error(data, "linkages.csv", "'social'", "'new_in_2011'", "'maybe'")


def test_linkage_bad_propositions(data):
    set_cell(data / "linkages.csv", {"linkage": "social"}, "propositions", "P6|P9")
    load_error(data, "linkages.csv", "'social'", "'propositions'", "'P6|P9'")


def test_linkage_row_missing(data):
    delete_rows(data / "linkages.csv", {"linkage": "philosophical"})
    load_error(data, "linkages.csv", "'philosophical'")


def test_lever_unknown(data):
    set_cell(data / "levers.csv", {"lever": "culture"}, "lever", "mood")
    load_error(data, "levers.csv", "'lever'", "'mood'")


# --------------------------------------------------------------------------- capabilities.csv

def test_capability_unknown_stressed_lever(data):
    set_cell(data / "capabilities.csv", {"capability": "npd"}, "stressed_levers", "vision|mood|information")
    load_error(data, "capabilities.csv", "'npd'", "'stressed_levers'", "mood")


def test_capability_no_stressed_lever(data):
    set_cell(data / "capabilities.csv", {"capability": "npd"}, "stressed_levers", "")
    load_error(data, "capabilities.csv", "'npd'", "'stressed_levers'")


def test_capability_unknown_spillover_target(data):
    set_cell(data / "capabilities.csv", {"capability": "npd"}, "spills_over_to", "branding")
    load_error(data, "capabilities.csv", "'npd'", "'spills_over_to'", "branding")


def test_capability_spillover_cycle(data):
    path = data / "capabilities.csv"
    assert "crm" in get_cell(path, {"capability": "market_sensing"}, "spills_over_to").split("|")
    old = get_cell(path, {"capability": "crm"}, "spills_over_to")
    set_cell(path, {"capability": "crm"}, "spills_over_to", f"{old}|market_sensing")
    msg = load_error(data, "capabilities.csv", "spills_over_to", "cycle")
    assert "market_sensing" in msg and "crm" in msg


def test_capability_self_spillover(data):
    set_cell(data / "capabilities.csv", {"capability": "planning"}, "spills_over_to", "planning")
    load_error(data, "capabilities.csv", "cycle", "planning")


def test_capability_row_missing(data):
    delete_rows(data / "capabilities.csv", {"capability": "planning"})
    load_error(data, "capabilities.csv", "'planning'")


# --------------------------------------------------------------------------- sensemaking.csv

def _first_response(path: Path) -> dict[str, str]:
    _, rows = read_rows(path)
    return next(r for r in rows if r["stage"] == "response")


def _first_trigger(path: Path) -> dict[str, str]:
    _, rows = read_rows(path)
    return next(r for r in rows if r["stage"] == "trigger")


def test_sensemaking_bad_polarity(data):
    path = data / "sensemaking.csv"
    construct = _first_trigger(path)["construct"]
    set_cell(path, {"construct": construct}, "polarity", "up")
    load_error(data, "sensemaking.csv", repr(construct), "'polarity'", "'up'")


def test_sensemaking_response_without_feeds(data):
    path = data / "sensemaking.csv"
    construct = _first_response(path)["construct"]
    set_cell(path, {"construct": construct}, "feeds", "")
    load_error(data, "sensemaking.csv", repr(construct), "'feeds'", "response")


def test_sensemaking_non_response_with_feeds(data):
    path = data / "sensemaking.csv"
    construct = _first_trigger(path)["construct"]
    set_cell(path, {"construct": construct}, "feeds", "overt_conflict")
    load_error(data, "sensemaking.csv", repr(construct), "'feeds'", "'overt_conflict'")


def test_sensemaking_unknown_feed(data):
    path = data / "sensemaking.csv"
    construct = _first_response(path)["construct"]
    set_cell(path, {"construct": construct}, "feeds", "overt_conflict|sulking")
    load_error(data, "sensemaking.csv", repr(construct), "'feeds'", "sulking")


def test_sensemaking_missing_cell(data):
    delete_rows(data / "sensemaking.csv", {"construct": _first_trigger(data / "sensemaking.csv")["construct"]})
    load_error(data, "sensemaking.csv", "24", "23")


def test_sensemaking_duplicate_construct(data):
    path = data / "sensemaking.csv"
    first, second = _first_trigger(path)["construct"], _first_response(path)["construct"]
    set_cell(path, {"construct": second}, "construct", first)
    load_error(data, "sensemaking.csv", "duplicate", repr(first))


# --------------------------------------------------------------------------- interventions.csv

@pytest.mark.parametrize("intervention, acts_on, bad", [
    ("function_fix", "communication_paucity|bad_mood", "bad_mood"),
    ("openness", "everyone", "everyone"),
    ("joint_calls", "overt_conflict:engineering", "overt_conflict:engineering"),
    ("function_fix", "all", "all"),   # "all" is only for sensemaking-level measures
])
def test_intervention_unknown_target(data, intervention, acts_on, bad):
    set_cell(data / "interventions.csv", {"intervention": intervention}, "acts_on", acts_on)
    load_error(data, "interventions.csv", repr(intervention), "'acts_on'", repr(bad))


def test_intervention_bad_kind(data):
    set_cell(data / "interventions.csv", {"intervention": "openness"}, "kind", "cultural")
    load_error(data, "interventions.csv", "'openness'", "'kind'", "'cultural'")


def test_intervention_row_missing(data):
    delete_rows(data / "interventions.csv", {"intervention": "job_rotation"})
    load_error(data, "interventions.csv", "'job_rotation'")


# --------------------------------------------------------------------------- study_facts.csv

def test_study_fact_bad_study(data):
    _, rows = read_rows(data / "study_facts.csv")
    fact = rows[0]["fact"]
    set_cell(data / "study_facts.csv", {"study": rows[0]["study"], "fact": fact}, "study", "malshe2099")
    load_error(data, "study_facts.csv", repr(fact), "'study'", "'malshe2099'")


# --------------------------------------------------------------------------- presets.yaml

def test_preset_input_out_of_range(data):
    doc = presets(data)
    key = doc[0]["key"]
    doc[0]["inputs"]["key_terms"] = 1.5
    write_presets(data, doc)
    load_error(data, "presets.yaml", repr(key), "'inputs.key_terms'", "1.5")


def test_preset_start_quarter_out_of_range(data):
    doc = presets(data)
    key = doc[1]["key"]
    doc[1]["inputs"]["openness_start"] = 41
    write_presets(data, doc)
    load_error(data, "presets.yaml", repr(key), "'inputs.openness_start'", "41")


def test_preset_input_missing(data):
    doc = presets(data)
    key = doc[0]["key"]
    del doc[0]["inputs"]["rapport"]
    write_presets(data, doc)
    load_error(data, "presets.yaml", repr(key), "'inputs.rapport'", "missing")


def test_preset_input_unknown(data):
    doc = presets(data)
    key = doc[-1]["key"]
    doc[-1]["inputs"]["morale"] = 0.5
    write_presets(data, doc)
    load_error(data, "presets.yaml", repr(key), "'inputs.morale'", "unknown input")


@pytest.mark.parametrize("bad", ["high", True, None, [0.5]])
def test_preset_input_not_a_number(data, bad):
    doc = presets(data)
    key = doc[0]["key"]
    doc[0]["inputs"]["vision"] = bad
    write_presets(data, doc)
    load_error(data, "presets.yaml", repr(key), "'inputs.vision'", repr(bad))


@pytest.mark.parametrize("bad", ["sideways", "Linear", 1])
def test_preset_bad_incremental_effects(data, bad):
    doc = presets(data)
    key = doc[0]["key"]
    doc[0]["inputs"]["incremental_effects"] = bad
    write_presets(data, doc)
    load_error(data, "presets.yaml", repr(key), "'inputs.incremental_effects'", repr(bad), "linear")


@pytest.mark.parametrize("field, bad", [("title", ""), ("study", "malshe2099"), ("vignette", None)])
def test_preset_bad_metadata(data, field, bad):
    doc = presets(data)
    key = doc[0]["key"]
    doc[0][field] = bad
    write_presets(data, doc)
    load_error(data, "presets.yaml", repr(key), repr(field), repr(bad))


def test_preset_misspelt_field_is_named(data):
    """A misspelt field would be read as missing metadata or silently dropped; it is named instead."""
    doc = presets(data)
    key = doc[0]["key"]
    doc[0]["teching_point"] = "spelt wrong"
    write_presets(data, doc)
    load_error(data, "presets.yaml", repr(key), "unexpected field 'teching_point'")


def test_preset_duplicate_key(data):
    doc = presets(data)
    doc[1]["key"] = doc[0]["key"]
    write_presets(data, doc)
    load_error(data, "presets.yaml", "duplicate", repr(doc[0]["key"]))


@pytest.mark.parametrize("breakage", [
    pytest.param(lambda text: text.replace("    key_terms: 0.85", "    key_terms: : 0.85", 1), id="stray-colon"),
    pytest.param(lambda text: text.replace("    vertical_communication:", "\tvertical_communication:", 1), id="tab"),
    pytest.param(lambda text: text + "- key: [unclosed\n", id="unclosed-bracket"),
])
def test_preset_malformed_yaml(data, breakage):
    path = data / "presets.yaml"
    text = path.read_text(encoding="utf-8")
    broken = breakage(text)
    assert broken != text, "test setup: the edit did not apply"
    path.write_text(broken, encoding="utf-8")
    load_error(data, "presets.yaml", "not valid YAML")


def test_preset_not_a_list(data):
    (data / "presets.yaml").write_text("key: lonely\ntitle: Not a list\n", encoding="utf-8")
    load_error(data, "presets.yaml", "list")


def test_preset_start_quarter_not_whole(data):
    doc = presets(data)
    key = doc[0]["key"]
    doc[0]["inputs"]["function_fix_start"] = 4.5
    write_presets(data, doc)
    load_error(data, "presets.yaml", repr(key), "'inputs.function_fix_start'", "4.5")


def test_preset_duplicate_input_in_yaml(data):
    """A copied block that names an input twice must not silently keep the last value."""
    path = data / "presets.yaml"
    text = path.read_text(encoding="utf-8")
    key = presets(data)[0]["key"]
    broken = text.replace("    key_terms: 0.85\n", "    key_terms: 0.85\n    key_terms: 0.2\n", 1)
    assert broken != text, "test setup: the edit did not apply"
    path.write_text(broken, encoding="utf-8")
    load_error(data, "presets.yaml", repr(key), "key_terms")


# --------------------------------------------------------------------------- CSV structure and files

def test_row_with_more_fields_than_header(data):
    path = data / "parameters.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[3] = lines[3].rstrip("\r\n") + ",surplus\n"
    path.write_text("".join(lines), encoding="utf-8")
    load_error(data, "parameters.csv", "line 4", "more fields", "surplus")


def test_row_with_fewer_fields_than_header(data):
    path = data / "parameters.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    name = lines[3].split(",")[0]
    lines[3] = f"{name},0.2\n"
    path.write_text("".join(lines), encoding="utf-8")
    msg = load_error(data, "parameters.csv", "line 4", "fewer fields")
    assert "None" not in msg, msg


def test_header_missing_column(data):
    path = data / "capabilities.csv"
    header, rows = read_rows(path)
    header.remove("evidence")
    for r in rows:
        del r["evidence"]
    write_rows(path, header, rows)
    load_error(data, "capabilities.csv", "missing column", "'evidence'")


def test_header_renamed_column(data):
    path = data / "parameters.csv"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("name,value,min,max", "name,valeu,min,max", 1), encoding="utf-8")
    load_error(data, "parameters.csv", "missing column", "'value'")


def test_header_unexpected_column(data):
    path = data / "levers.csv"
    header, rows = read_rows(path)
    header.append("notes")
    for r in rows:
        r["notes"] = "x"
    write_rows(path, header, rows)
    load_error(data, "levers.csv", "unexpected column", "'notes'")


def test_table_with_no_rows(data):
    path = data / "interventions.csv"
    header, _ = read_rows(path)
    write_rows(path, header, [])
    load_error(data, "interventions.csv", "no rows")


@pytest.mark.parametrize("name", [
    "inputs.csv", "parameters.csv", "propositions.csv", "linkages.csv", "levers.csv",
    "capabilities.csv", "sensemaking.csv", "interventions.csv", "study_facts.csv", "presets.yaml",
])
def test_missing_file(data, name):
    (data / name).unlink()
    load_error(data, name, "not found")


# --------------------------------------------------------------------------- no half-loading, overrides

def test_nothing_half_loaded(data):
    real_floor = float(get_cell(REAL_DATA / "parameters.csv", {"name": "functioning.connection_share"}, "value"))
    set_cell(data / "parameters.csv", {"name": "weight.rapport"}, "value", "1.5")   # valid edit
    set_cell(data / "capabilities.csv", {"capability": "npd"}, "stressed_levers", "mood")  # later file breaks
    load_error(data, "capabilities.csv")

    smi.data.clear_cache()
    theory = smi.load(REAL_DATA)
    assert theory.param("functioning.connection_share") == real_floor
    assert theory.param("weight.rapport") == float(get_cell(REAL_DATA / "parameters.csv", {"name": "weight.rapport"}, "value"))
    assert theory.directory == REAL_DATA


def test_failed_load_is_not_cached(data):
    """Fixing a broken file and loading the same folder again works: the failure was not remembered."""
    path = data / "parameters.csv"
    good = path.read_text(encoding="utf-8")
    set_cell(path, {"name": "functioning.connection_share"}, "value", "1.7")
    load_error(data, "parameters.csv", "1.7")
    path.write_text(good, encoding="utf-8")
    theory = smi.load(data)
    assert theory.param("functioning.connection_share") == float(
        get_cell(REAL_DATA / "parameters.csv", {"name": "functioning.connection_share"}, "value"))


def test_env_var_points_loader_at_broken_copy(data, monkeypatch):
    set_cell(data / "parameters.csv", {"name": "functioning.connection_share"}, "value", "1.7")
    monkeypatch.setenv("SMI_DATA_DIR", str(data))
    assert smi.data.data_dir() == data
    with pytest.raises(DataValidationError, match=r"parameters\.csv.*functioning\.connection_share.*1\.7"):
        smi.load()


# --------------------------------------------------------------------------- numbers that do not fit a float

@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", "1e400", "-1e400", "NaN", "Infinity"])
def test_simulation_quarters_not_finite(data, bad):
    """nan, inf and 1e400 (which reads as inf) are refused by name before any whole-number or range
    arithmetic: they used to escape as a bare ValueError or OverflowError from int()."""
    set_cell(data / "parameters.csv", {"name": "simulation.quarters"}, "value", bad)
    msg = load_error(data, "parameters.csv", "'simulation.quarters'", "'value'", repr(bad), "finite number")
    assert "line " in msg  # the row is named by its line as well as its key


@pytest.mark.parametrize("field", ["min", "max"])
def test_parameter_range_not_finite(data, field):
    set_cell(data / "parameters.csv", {"name": "recovery.rate"}, field, "1e400")
    load_error(data, "parameters.csv", "'recovery.rate'", repr(field), "'1e400'", "finite number")


@pytest.mark.parametrize("field, bad", [("max", "inf"), ("min", "-1e400"), ("max", "nan")])
def test_input_range_not_finite(data, field, bad):
    set_cell(data / "inputs.csv", {"name": "rapport"}, field, bad)
    load_error(data, "inputs.csv", "'rapport'", repr(field), repr(bad), "finite number")


def test_huge_value_is_cut_short_in_the_message(data):
    huge = "9" * 400
    set_cell(data / "malshe2017_dyads.csv", {"dyad": "3"}, "sales_age", huge)
    msg = load_error(data, "malshe2017_dyads.csv", "dyad '3'", "'sales_age'", "9999999999", "400 characters")
    assert len(msg) < 300, msg


# --------------------------------------------------------------------------- study_facts.csv: numbers are numbers

def test_study_fact_typo_in_a_count_stops_the_load(data):
    """'twenty-five' where the sample chart reads a count used to load and then crash the book build."""
    set_cell(data / "study_facts.csv", {"study": "malshe2011", "fact": "informants_sales"}, "value", "twenty-five")
    load_error(data, "study_facts.csv", "'malshe2011'", "'informants_sales'", "'value'", "'twenty-five'")


@pytest.mark.parametrize("study, fact, bad", [
    ("malshe2017", "audio_hours", "about 39"),       # a unit, so a number, though no chart reads it
    ("hughes2012", "business_unit_sales_max", "0,5"),
    ("malshe2011", "interviews_phone", ""),
])
def test_study_fact_with_a_unit_must_be_a_number(data, study, fact, bad):
    set_cell(data / "study_facts.csv", {"study": study, "fact": fact}, "value", bad)
    load_error(data, "study_facts.csv", repr(fact), "'value'", repr(bad))


def test_study_fact_drawn_by_the_book_must_be_a_whole_number(data):
    path = data / "study_facts.csv"
    set_cell(path, {"study": "hughes2012", "fact": "level_senior"}, "value", "15.5")
    load_error(data, "study_facts.csv", "'hughes2012'", "'level_senior'", "'value'", "whole number", "'15.5'")


def test_study_fact_drawn_by_the_book_must_be_present(data):
    delete_rows(data / "study_facts.csv", {"study": "hughes2012", "fact": "level_junior"})
    load_error(data, "study_facts.csv", "'hughes2012'", "'level_junior'", "no row")


def test_study_fact_text_may_stay_text(data):
    """Facts without a unit are words (a design, a country) and stay free text."""
    set_cell(data / "study_facts.csv", {"study": "malshe2011", "fact": "country"}, "value", "United States")
    theory = smi.load(data)
    f = theory.study_facts
    assert f[(f.study == "malshe2011") & (f.fact == "country")].value.iloc[0] == "United States"


# --------------------------------------------------------------------------- inputs.csv: the model's shape

def test_linkage_without_driver_or_components_fails_at_load(data):
    """Social loses both its components to philosophical: caught by smi.load, not when the model compiles."""
    for name in ("rapport", "informal_networks"):
        set_cell(data / "inputs.csv", {"name": name}, "linkage", "philosophical")
    load_error(data, "linkages.csv", "row 'social'", "neither a driver nor components", "inputs.csv", "'linkage'",
               "value 'social'")


def test_linkage_with_driver_and_components_is_refused(data):
    """A component beside a driver would be silently ignored by the model."""
    set_cell(data / "inputs.csv", {"name": "key_terms"}, "linkage", "language|social")
    load_error(data, "inputs.csv", "'rapport'", "'kind'", "'social'", "'key_terms'", "value 'component'")


def test_proviso_without_a_driver_is_refused(data):
    set_cell(data / "inputs.csv", {"name": "team_visibility"}, "linkage", "social")
    load_error(data, "inputs.csv", "'team_visibility'", "'kind'", "'social'", "no driver", "value 'proviso'")


def test_input_kind_in_the_wrong_layer(data):
    set_cell(data / "inputs.csv", {"name": "start_overt_conflict"}, "layer", "capabilities")
    load_error(data, "inputs.csv", "'start_overt_conflict'", "'layer'", "'dynamics'", "value 'capabilities'")


def test_measure_without_its_start_quarter_input(data):
    set_cell(data / "inputs.csv", {"name": "openness_start"}, "name", "openness_begins")
    load_error(data, "inputs.csv", "'openness_start'", "start_quarter", "'openness'", "interventions.csv")


def test_input_the_dynamics_would_ignore(data):
    append_row(data / "inputs.csv", name="start_bad_mood", label="Starting bad mood", layer="dynamics", kind="start",
               min="0", max="1", default="0", basis="assumption", propositions="malshe2017:P7", help="Not a dysfunction.")
    load_error(data, "inputs.csv", "'start_bad_mood'", "'kind'", "value 'start'")


# --------------------------------------------------------------------------- references to propositions

@pytest.mark.parametrize("file, key, field, bad", [
    ("inputs.csv", {"name": "vision"}, "propositions", "hughes2012:P1|hughes2012:P7"),
    ("parameters.csv", {"name": "recovery.rate"}, "serves", "hughes2012:P6"),
    ("relations.csv", {"id": "link_drivers"}, "source", "malshe2011:P1|hughes2012:P6"),
])
def test_reference_to_a_proposition_the_study_does_not_have(data, file, key, field, bad):
    """The pattern allows P1-P7 for every study; Hughes et al. (2012) has five propositions."""
    set_cell(data / file, key, field, bad)
    load_error(data, file, repr(next(iter(key.values()))), repr(field), "no such proposition",
               "'hughes2012:P7'" if "P7" in bad else "'hughes2012:P6'")


def test_sensemaking_names_a_sub_item_propositions_csv_lacks(data):
    path = data / "sensemaking.csv"
    _, rows = read_rows(path)
    row = next(r for r in rows if r["item"])
    delete_rows(data / "propositions.csv", {"study": "malshe2017", "proposition": row["proposition"], "item": row["item"]})
    load_error(data, "sensemaking.csv", repr(row["construct"]), "'proposition'/'item'",
               f"{row['proposition']}{row['item']}")


# --------------------------------------------------------------------------- malshe2017_dyads.csv: company pairs

@pytest.mark.parametrize("dyad, value, reason", [
    ("2", "99", "no such dyad"),
    ("2", "2", "names the dyad itself"),
    ("2", "3", "does not name dyad 2 back"),
])
def test_same_company_must_name_the_other_dyad(data, dyad, value, reason):
    set_cell(data / "malshe2017_dyads.csv", {"dyad": dyad}, "same_company_as_dyad", value)
    load_error(data, "malshe2017_dyads.csv", f"row {dyad}", "'same_company_as_dyad'", reason, f"value {value}")


def test_same_company_marker_must_match(data):
    set_cell(data / "malshe2017_dyads.csv", {"dyad": "9"}, "shared_company_marker", "**")
    load_error(data, "malshe2017_dyads.csv", "rows 2 and 9", "'shared_company_marker'", "values '*', '**'")


def test_marked_dyad_must_name_its_partner(data):
    set_cell(data / "malshe2017_dyads.csv", {"dyad": "9"}, "same_company_as_dyad", "")
    load_error(data, "malshe2017_dyads.csv", "row 9", "'same_company_as_dyad'", "value ''")


def test_informant_code_twice(data):
    set_cell(data / "malshe2017_dyads.csv", {"dyad": "3"}, "sales_informant", "1SLS")
    load_error(data, "malshe2017_dyads.csv", "duplicate", "sales_informant='1SLS'")
