"""The book's statements about the model (data/claims.yaml) are true, and say how true.

* every claim holds at the shipped weights;
* a claim marked robust holds in every one of the 200 weight draws; a claim not marked robust
  reports the share of draws where it holds, and its text says it depends on the assumed weights;
* a false claim, or a malformed claims file, fails with a message naming file, claim, field and value;
* the pages that use a claim render or cite it, and every claim a page uses exists;
* every preset's teaching point is a checked claim, and presets that contrast differ only in
  what their teaching point names.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

import smi
import smi.data
from smi import claims as C

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT / "data" / C.CLAIMS_FILE
THEORY = smi.load()
CLAIMS = C.load_claims(theory=THEORY)
RESULTS = C.evaluate(CLAIMS, THEORY)
IDS = [c.id for c in CLAIMS.claims]


@pytest.mark.parametrize("cid", IDS)
def test_claim_holds_at_the_shipped_weights(cid):
    r = RESULTS[cid]
    assert r.holds, f"{cid}: {'; '.join(r.detail)}"


@pytest.mark.parametrize("cid", [c.id for c in CLAIMS.claims if c.robust])
def test_robust_claim_holds_in_every_draw(cid):
    r = RESULTS[cid]
    assert r.draws == 200
    assert r.held == r.draws, f"{cid} holds in only {r.held} of {r.draws} draws"
    assert r.badge == "holds at the shipped weights and in all 200 weight draws"


@pytest.mark.parametrize("cid", [c.id for c in CLAIMS.claims if not c.robust])
def test_weight_dependent_claim_reports_its_share_and_says_so(cid):
    c, r = CLAIMS.get(cid), RESULTS[cid]
    assert 0 < r.held < r.draws, f"{cid}: marked weight-dependent but holds in {r.held} of {r.draws} draws"
    assert r.share == pytest.approx(r.held / 200)
    assert r.badge == f"holds at the shipped weights and in {r.held} of 200 draws: depends on the assumed weights"
    assert C.DEPENDS.search(c.text), f"{cid}: the text must say it depends on the assumed weights"


def test_the_book_has_both_kinds_of_claim():
    # the split is the point of the badges; a table of only one kind would hide it
    assert any(c.robust for c in CLAIMS.claims) and any(not c.robust for c in CLAIMS.claims)
    assert not C.problems(CLAIMS, RESULTS)


def test_shipped_row_is_the_models_own_answer():
    """Draw 0 is the shipped weights: its numbers equal smi.evaluate / smi.summarize."""
    draws = C._draws_with_shipped(THEORY, 3)
    v = C._Values(CLAIMS, THEORY, draws)
    scen = CLAIMS.scenarios
    import pandas as pd
    df = pd.DataFrame([scen["diluted"]])[THEORY.input_names()]
    assert v.get("diluted", "language", None)[0] == pytest.approx(smi.evaluate(df).language.iloc[0], abs=1e-12)
    df = pd.DataFrame([scen["discounted"]])[THEORY.input_names()]
    assert v.get("discounted", "cumulative_dysfunction", None)[0] == pytest.approx(
        smi.summarize(df).cumulative_dysfunction.iloc[0], abs=1e-12)
    sim = smi.simulate(df)
    assert v.get("discounted", "overt_conflict", 4)[0] == pytest.approx(sim.overt_conflict.iloc[4], abs=1e-12)
    # the draws are the robustness draws, not new ones
    np.testing.assert_array_equal(draws.iloc[1:].reset_index(drop=True).to_numpy(), smi.weight_draws(k=3).to_numpy())


# --------------------------------------------------------------------------- false claims fail clearly

@pytest.fixture
def claims_copy(tmp_path: Path):
    """A private copy of claims.yaml and a function that edits it as text."""
    path = tmp_path / C.CLAIMS_FILE
    shutil.copyfile(REAL, path)

    def edit(old: str, new: str, count: int = 1) -> Path:
        text = path.read_text(encoding="utf-8")
        assert old in text, old
        path.write_text(text.replace(old, new, count), encoding="utf-8")
        return path
    return path, edit


def test_false_claim_fails_with_the_numbers(claims_copy):
    path, edit = claims_copy
    edit('{kind: compare, left: {scenario: diluted, output: language}, op: "<"',
         '{kind: compare, left: {scenario: diluted, output: language}, op: ">"')
    with pytest.raises(C.ClaimCheckError) as err:
        C.check(C.load_claims(path, THEORY), THEORY)
    msg = str(err.value)
    assert re.search(r"claims\.yaml: claim 'preset-diluted-key-terms' \(pages malshe2011\) does not hold at the "
                     r"shipped weights: language of 'diluted' = 0\.\d{4} > language of 'guarded' = 0\.\d{4}", msg), msg
    assert msg.count("\n") == 0  # only the broken claim is reported


def test_claim_marked_robust_that_depends_on_the_weights_fails(claims_copy):
    path, edit = claims_copy
    edit("whether it fades or lingers there depends on those weights.\n  robust: false",
         "whether it fades or lingers there depends on those weights.\n  robust: true")
    with pytest.raises(C.ClaimCheckError, match=r"claim 'dys-well-linked-fades' \(pages [^)]*\) is "
                                                r"marked robust but holds in only \d+ of 200 weight draws"):
        C.check(C.load_claims(path, THEORY), THEORY)


def test_claim_marked_weight_dependent_that_always_holds_fails(claims_copy):
    path, edit = claims_copy
    edit("- id: dys-start-severity-matters\n  pages: [malshe2017]\n  text: Where a firm starts",
         "- id: dys-start-severity-matters\n  pages: [malshe2017]\n  text: At the assumed weights, where a firm starts")
    edit("than a mild one in the same firm.\n  robust: true", "than a mild one in the same firm.\n  robust: false")
    with pytest.raises(C.ClaimCheckError, match=r"claim 'dys-start-severity-matters' .* holds in all 200 weight "
                                                r"draws: mark it robust: true"):
        C.check(C.load_claims(path, THEORY), THEORY)


def test_the_book_refuses_to_render_a_false_claim(tmp_path, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data", data)
    text = (data / C.CLAIMS_FILE).read_text(encoding="utf-8")
    (data / C.CLAIMS_FILE).write_text(text.replace(
        "left: {scenario: rapport_up, minus: default, output: social}\n    op: \">\"",
        "left: {scenario: rapport_up, minus: default, output: social}\n    op: \"<\""), encoding="utf-8")
    monkeypatch.setenv("SMI_DATA_DIR", str(data))
    from smi_charts import claims as cl
    with pytest.raises(C.ClaimCheckError, match="claim 'm11-connection-moves-less' .* does not hold"):
        cl.claim_html("m11-connection-moves-less")
    assert "Model check" in cl.claim_html("m11-invisible-team")


# --------------------------------------------------------------------------- malformed files

MALFORMED = [
    # (what is broken, old text, new text, expected message)
    ("unknown scenario", "left: {scenario: diluted, output: language}, op: \"<\"",
     "left: {scenario: dilute, output: language}, op: \"<\"",
     r"claims\.yaml: claim 'preset-diluted-key-terms', field 'expect\.0\.left\.scenario': unknown scenario \(value 'dilute'\)"),
    ("unknown output", "left: {scenario: diluted, output: language}, op: \"<\"",
     "left: {scenario: diluted, output: langauge}, op: \"<\"",
     r"claim 'preset-diluted-key-terms', field 'expect\.0\.left\.output': unknown output \(value 'langauge'\)"),
    ("a series without its quarter", "left: {scenario: no_point, output: communication_paucity, quarter: 8}",
     "left: {scenario: no_point, output: communication_paucity}",
     r"claim 'preset-no-point-involving-sales', field 'expect\.0\.left\.output': unknown output \(a simulated "
     r"series needs 'quarter'\) \(value 'communication_paucity'\)"),
    ("a quarter past the horizon", "left: {scenario: no_point, output: communication_paucity, quarter: 8}",
     "left: {scenario: no_point, output: communication_paucity, quarter: 48}",
     r"claim 'preset-no-point-involving-sales', field 'expect\.0\.left\.quarter': beyond the simulated 40 quarters "
     r"\(value 48\)"),
    ("unknown input in a scenario", "diluted_flat: {base: diluted, set: {hierarchy_depth: 0.05}}",
     "diluted_flat: {base: diluted, set: {hierarchy_dept: 0.05}}",
     r"claims\.yaml: scenario 'diluted_flat', field 'set\.hierarchy_dept': unknown input \(value 0\.05\)"),
    ("input out of range", "diluted_flat: {base: diluted, set: {hierarchy_depth: 0.05}}",
     "diluted_flat: {base: diluted, set: {hierarchy_depth: 5}}",
     r"scenario 'diluted_flat', field 'set\.hierarchy_depth': must be a number in \[0, 1\] \(value 5\)"),
    ("start quarter not whole", "late_fix: {base: late_severe_poor, set: {function_fix: 1.0, function_fix_start: 8}}",
     "late_fix: {base: late_severe_poor, set: {function_fix: 1.0, function_fix_start: 8.5}}",
     r"scenario 'late_fix', field 'set\.function_fix_start': a start quarter must be a whole number \(value 8\.5\)"),
    ("unknown curve", "start_paucity_increasing: {base: start_paucity, set: {incremental_effects: increasing}}",
     "start_paucity_increasing: {base: start_paucity, set: {incremental_effects: exponential}}",
     r"scenario 'start_paucity_increasing', field 'set\.incremental_effects': not one of "
     r"\['increasing', 'linear', 'decreasing'\] \(value 'exponential'\)"),
    ("unknown preset in a scenario", "diluted: {preset: diluted_key_terms}", "diluted: {preset: diluted_terms}",
     r"scenario 'diluted', field 'preset': unknown preset \(value 'diluted_terms'\)"),
    ("circular base", "diluted: {preset: diluted_key_terms}", "diluted: {base: diluted_flat}",
     r"scenario 'diluted(_flat)?', field 'base': circular \(diluted(_flat)? -> diluted(_flat)? -> diluted(_flat)?\)"),
    ("unknown field in a scenario", "diluted: {preset: diluted_key_terms}", "diluted: {preset: diluted_key_terms, inputs: {}}",
     r"scenario 'diluted', field 'inputs': Extra inputs are not permitted \(value \{\}\)"),
    ("bad operator", "left: {scenario: diluted, output: language}, op: \"<\"",
     "left: {scenario: diluted, output: language}, op: \"<<\"",
     r"claim 'preset-diluted-key-terms', field 'expect\.0\.op': Input should be '>', '<', '>=', '<=' or '==' "
     r"\(value '<<'\)"),
    ("winner not among the candidates", "outputs: [market_sensing, npd, supply_chain, crm, planning], expect: crm}",
     "outputs: [market_sensing, npd, supply_chain, crm, planning], expect: cmr}",
     r"claim 'preset-territorial-crm', field 'expect\.0': Value error, 'expect' must be one of "),
    ("duplicate id", "- id: preset-guarded-value-proposition", "- id: preset-diluted-key-terms",
     r"claim 'preset-diluted-key-terms', field 'id': appears twice \(value 'preset-diluted-key-terms'\)"),
    ("bad id", "- id: m11-invisible-team", "- id: M11 invisible team",
     r"claim 'M11 invisible team', field 'id': String should match pattern"),
    ("bad page", "- id: m11-invisible-team\n  pages: [malshe2011]", "- id: m11-invisible-team\n  pages: [malshe2011.md]",
     r"claim 'm11-invisible-team', field 'pages': Value error, a page is a path under book/ without '\.md'"),
    ("missing relations", "  expect:\n  - {kind: compare, left: {scenario: teams_invisible, output: process}, op: \">\", right: 0}",
     "  expect: []",
     r"claim 'm11-invisible-team', field 'expect': .*at least 1 item"),
    ("missing text", "  text: An invisible joint team still adds some connection in the model; the visibility gate never\n    closes completely.\n",
     "", r"claim 'm11-invisible-team', field '\(entry\)': Value error, a claim needs its 'text'"),
    ("text on a preset's claim", "  preset: give_and_take\n", "  preset: give_and_take\n  text: Flexibility helps.\n",
     r"claim 'preset-give-and-take', field '\(entry\)': Value error, a preset's claim takes its text from the preset"),
    ("unknown preset in a claim", "  preset: give_and_take\n", "  preset: give_n_take\n",
     r"claim 'preset-give-and-take', field 'preset': unknown preset \(value 'give_n_take'\)"),
    ("weight-dependent claim that does not say so", "At the assumed weights, a mild dysfunction fades without any "
     "intervention in a well-linked firm;\n    whether it fades or lingers there depends on those weights.",
     "A mild dysfunction fades without any intervention in a well-linked firm.",
     r"claim 'dys-well-linked-fades', field 'text': a claim that is not robust must say that it depends on the "
     r"assumed weights .* \(value 'A mild dysfunction fades"),
    ("unknown top-level key", "\nclaims:\n", "\nclaim:\n",
     r"claims\.yaml: must be a mapping with exactly the keys 'scenarios' and 'claims' \(found \['claim', 'scenarios'\]\)"),
    ("not YAML", "scenarios:\n  default: {}", "scenarios:\n  default: {",
     r"claims\.yaml: not valid YAML"),
]


@pytest.mark.parametrize("what, old, new, message", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_claims_file_is_named(claims_copy, what, old, new, message):
    _, edit = claims_copy
    path = edit(old, new)
    with pytest.raises(C.ClaimsError, match=message):
        C.load_claims(path, THEORY)


def test_missing_claims_file_is_named(tmp_path):
    with pytest.raises(C.ClaimsError, match=r"claims\.yaml: file not found at .*claims\.yaml"):
        C.load_claims(tmp_path / C.CLAIMS_FILE, THEORY)


def test_claims_error_is_a_data_validation_error():
    # instructors catch one exception type for every data file
    assert issubclass(C.ClaimsError, smi.DataValidationError)


# --------------------------------------------------------------------------- the pages and the claims

def _page(page: str) -> str:
    return (ROOT / "book" / f"{page}.md").read_text(encoding="utf-8")


RENDERED = re.compile(r"""claim(?:_md)?\(\s*["']([a-z0-9-]+)["']\s*\)""")
# a citation: "claim `id`" or "claims `a` and `b`", line breaks allowed
CITED = re.compile(r"\bclaims?\s+((?:`[a-z0-9-]+`(?:,?\s+(?:and\s+)?)?)+)")


def used(text: str) -> set[str]:
    """The claim ids a page renders or cites."""
    ids = set(RENDERED.findall(text))
    for group in CITED.findall(text):
        ids |= set(re.findall(r"`([a-z0-9-]+)`", group))
    return ids


@pytest.mark.parametrize("cid", IDS)
def test_every_page_a_claim_names_renders_or_cites_it(cid):
    c = CLAIMS.get(cid)
    for page in c.pages:
        assert (ROOT / "book" / f"{page}.md").exists(), f"{cid}: no page book/{page}.md"
        text = _page(page)
        shown_by_preset = c.preset and re.search(rf"preset_check\(\s*[\"']{c.preset}[\"']\s*\)", text)
        assert cid in used(text) or shown_by_preset, f"{cid}: listed for book/{page}.md, which neither renders nor cites it"


def book_pages() -> list[str]:
    """The pages the book builds (the table of contents), as paths under book/."""
    toc = (ROOT / "_toc.yml").read_text(encoding="utf-8")
    return [f.removeprefix("book/") for f in re.findall(r"^\s*-?\s*(?:root|file):\s*(book/\S+)\s*$", toc, re.M)]


def test_every_claim_a_page_uses_exists_and_lists_the_page():
    for page in book_pages():
        for cid in used(_page(page)):
            assert cid in IDS, f"book/{page}.md uses claim {cid!r}, which data/claims.yaml does not define"
            assert page in CLAIMS.get(cid).pages, f"claim {cid!r} is used on book/{page}.md but does not list it"


def test_every_case_card_shows_the_check_of_its_teaching_point():
    for page in book_pages():
        text = _page(page)
        for key in re.findall(r"""preset_card\(\s*["']([a-z0-9_]+)["']\s*\)""", text):
            assert re.search(rf"""preset_check\(\s*["']{key}["']\s*\)""", text), \
                f"book/{page}.md: the case card of {key!r} is shown without the check of its teaching point"


# --------------------------------------------------------------------------- honest presets

@pytest.mark.parametrize("key", list(THEORY.presets.key))
def test_every_preset_teaching_point_is_a_checked_claim(key):
    mine = [c for c in CLAIMS.claims if c.preset == key]
    assert len(mine) == 1, f"preset {key!r} needs exactly one claim with 'preset: {key}'"
    assert mine[0].text == THEORY.presets.set_index("key").loc[key, "teaching_point"]


CONTRASTS = [
    # (preset, its contrast, the only inputs allowed to differ: what the teaching point names)
    ("diluted_key_terms", "guarded_value_proposition", {"vertical_communication"}),
    ("price_hike_discounted", "price_hike_prevented",
     {f"{m}{s}" for m in ("function_fix", "openness", "joint_calls", "job_rotation", "customized") for s in ("", "_start")}),
]


@pytest.mark.parametrize("a, b, named", CONTRASTS, ids=[f"{a}-vs-{b}" for a, b, _ in CONTRASTS])
def test_contrasting_presets_differ_only_in_what_the_teaching_point_names(a, b, named):
    p = THEORY.presets.set_index("key")
    differ = {n for n in THEORY.input_names() if p.loc[a, n] != p.loc[b, n]}
    assert differ and differ <= named, f"{a} and {b} also differ in {sorted(differ - named)}"


def test_composite_presets_say_so():
    raw = yaml.safe_load((ROOT / "data" / "presets.yaml").read_text(encoding="utf-8"))
    for p in raw:
        # the informants close the source: "(Name, role, industry; Name, role, industry)"
        informants = re.findall(r"\(([^()]*)\)\s*$", p["source_section"])
        names = len(informants[0].split(";")) if informants else 0
        composite = "(composite)" in p["title"]
        assert composite == (names > 1), f"preset {p['key']!r}: {names} informants named, title {p['title']!r}"
        if composite:
            assert "composite of" in p["source_section"] and p["vignette"].startswith("A composite of")
