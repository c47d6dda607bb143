"""The study facts in data/ agree with each other and with the published numbers."""
from __future__ import annotations

import pytest

import smi

THEORY = smi.load()


def fact(study: str, name: str) -> str:
    f = THEORY.study_facts
    row = f[(f.study == study) & (f.fact == name)]
    assert len(row) == 1, f"{study}.{name} missing from study_facts.csv"
    return row.value.iloc[0]


@pytest.mark.parametrize("study,name,value", [
    ("malshe2011", "informants", "47"), ("malshe2011", "informants_sales", "25"),
    ("malshe2011", "informants_marketing", "22"), ("malshe2011", "informants_constructive_linkages", "26"),
    ("malshe2011", "informants_no_constructive_linkages", "21"), ("malshe2011", "declined", "7"),
    ("hughes2012", "informants", "25"), ("hughes2012", "firms", "18"), ("hughes2012", "interviews_recorded", "13"),
    ("malshe2017", "informants", "42"), ("malshe2017", "dyads", "21"), ("malshe2017", "firms", "17"),
    ("malshe2017", "industries", "10"), ("malshe2017", "dyads_bottom_level", "8"),
    ("malshe2017", "dyads_middle_level", "10"), ("malshe2017", "dyads_top_level", "3"),
])
def test_published_sample_facts(study, name, value):
    assert fact(study, name) == value


def test_malshe2011_sample_splits_add_up():
    total = int(fact("malshe2011", "informants"))
    assert int(fact("malshe2011", "informants_sales")) + int(fact("malshe2011", "informants_marketing")) == total
    assert (int(fact("malshe2011", "informants_constructive_linkages"))
            + int(fact("malshe2011", "informants_no_constructive_linkages"))) == total


def test_hughes2012_seniority_shares_add_to_100():
    assert sum(int(fact("hughes2012", f"level_{lv}")) for lv in ("senior", "middle", "junior")) == 100


def test_malshe2017_table1_matches_the_text():
    dyads = THEORY.dyads_2017
    assert len(dyads) == int(fact("malshe2017", "dyads"))
    counts = dyads.level.value_counts()
    assert counts.get("Bottom") == 8 and counts.get("Middle") == 10 and counts.get("Top") == 3
    assert dyads.industry.nunique() == int(fact("malshe2017", "industries"))
    assert 2 * len(dyads) == int(fact("malshe2017", "informants"))
    # informant codes are unique per side and end in SLS / MKTG
    assert dyads.sales_informant.str.endswith("SLS").all() and dyads.marketing_informant.str.endswith("MKTG").all()


def test_malshe2017_dyads_file_is_validated(tmp_path):
    import shutil

    shutil.copytree(THEORY.directory, tmp_path / "data")
    path = tmp_path / "data" / "malshe2017_dyads.csv"
    path.write_text(path.read_text().replace("1,Bottom,", "1,Lowest,", 1))
    with pytest.raises(smi.DataValidationError, match=r"malshe2017_dyads.csv: line 2 \(dyad '1'\), field 'level'.*'Lowest'"):
        smi.load(tmp_path / "data")
