"""scripts/debrief.py: a folder of exported health checks -> class chart (offline HTML) + CSV."""
from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import smi
from tests.support import pattern
from smi_charts import questionnaire_io as qio
from smi.data import LEVERS

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "debrief.py"
QUESTIONS = yaml.safe_load((smi.data.data_dir() / qio.FILE).read_text(encoding="utf-8"))["questions"]
THEORY = smi.load()


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "class"
    (d / "section-b").mkdir(parents=True)
    (d / "team-a.json").write_text(json.dumps(qio.export(pattern(1))), encoding="utf-8")
    (d / "section-b" / "team-b.json").write_text(json.dumps(qio.export(pattern(2))), encoding="utf-8")
    (d / "codes.txt").write_text(qio.encode_code(pattern(3)) + "\n", encoding="utf-8")
    (d / "broken.json").write_text('{"format": "smi-healthcheck", "version": 1, "answers": {', encoding="utf-8")
    (d / ".DS_Store").write_bytes(b"\x00\x01")  # hidden files are ignored, not reported
    return d


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=ROOT, timeout=600)


@pytest.fixture(scope="module")
def debrief():
    """scripts/debrief.py as a module, to run main() in this process (faster than a subprocess)."""
    spec = importlib.util.spec_from_file_location("debrief_script", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_here(debrief, capsys, *args: str) -> tuple[int, str, str]:
    code = debrief.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def by_hand(a: dict[str, int]) -> dict[str, float]:
    """What the debrief should show for one firm, from the questionnaire file and the weights alone:
    each asked input is the mean of its answers rescaled to (a - 1) / 4 (reversed for '-'); the
    social linkage is the weighted mean of its components and language the key terms gated by
    their provisos (Malshe 2011, P1, P2, P6), as the book's model defines them."""
    asked: dict[str, list[float]] = {}
    for q in QUESTIONS:
        for entry in q["maps_to"]:
            name, sign = entry.split()
            v = (a[q["id"]] - 1) / 4
            asked.setdefault(name, []).append(1 - v if sign == "-" else v)
    x = {name: sum(vs) / len(vs) for name, vs in asked.items()}
    w = THEORY.param

    def gate(proviso: str, ctx: str) -> float:
        s = w(f"strictness_low.{proviso}") + (w(f"strictness_high.{proviso}") - w(f"strictness_low.{proviso}")) * x[ctx]
        return 1 - s * (1 - x[proviso])

    x["social"] = ((w("weight.rapport") * x["rapport"] + w("weight.informal_networks") * x["informal_networks"])
                   / (w("weight.rapport") + w("weight.informal_networks")))
    x["language"] = (x["key_terms"] * gate("vertical_communication", "hierarchy_depth")
                     * gate("horizontal_bridges", "hierarchy_depth") * gate("two_way_channels", "strategy_horizon"))
    return x


def test_debrief_writes_chart_and_summary_and_names_the_malformed_file(folder, tmp_path):
    out = tmp_path / "out"
    r = run(str(folder), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "skipped broken.json: not valid JSON" in r.stderr
    assert ".DS_Store" not in r.stderr
    assert "3 health checks read, 1 skipped" in r.stdout

    page = (out / "index.html").read_text(encoding="utf-8")
    # self-contained: the Vega bundle is inlined, nothing is loaded from another host
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=[\"']?(https?:)?//", page)
    assert "cdn.jsdelivr" not in page
    for firm in ("team-a", "team-b", "codes"):
        assert f'"firm":"{firm}"' in page.replace(": ", ":")
    assert "broken.json" in page  # the skipped file is named in the chart's subtitle

    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.columns) == ["measure", "group", "label", "firms", "mean", "min", "median", "max"]
    assert (summary.firms == 3).all()
    # the class statistics, worked out from the three firms' answers (not through smi.questionnaire)
    firms = [by_hand(pattern(s)) for s in (1, 2, 3)]
    stats = summary.set_index("measure")
    for m in [*LEVERS, "start_communication_paucity", "start_lack_of_collaboration", "start_overt_conflict",
              "social", "language"]:
        vals = [f[m] for f in firms]
        got = stats.loc[m, ["mean", "min", "median", "max"]].to_numpy(dtype=float)
        assert got == pytest.approx([np.mean(vals), min(vals), np.median(vals), max(vals)], abs=1e-6), m
    # a hand-checkable one: the vision lever is (answer - 1) / 4 for each firm
    vision = sorted((pattern(s)["lev-vision"] - 1) / 4 for s in (1, 2, 3))
    assert stats.loc["vision", "min"] == vision[0] and stats.loc["vision", "median"] == vision[1]

    wide = pd.read_csv(out / "firms.csv")
    assert list(wide.firm) == ["codes", "team-b", "team-a"]  # files in path order
    assert wide.set_index("firm").at["team-a", "language"] == pytest.approx(firms[0]["language"], abs=1e-6)
    assert wide.set_index("firm").at["team-b", "vision"] == pytest.approx(firms[1]["vision"], abs=1e-6)


def test_debrief_with_no_valid_file_fails(tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    (d / "notes.json").write_text("[]", encoding="utf-8")
    r = run(str(d), "--out", str(tmp_path / "out"))
    assert r.returncode == 1
    assert "skipped notes.json: not a health-check export" in r.stderr
    assert "no valid health check" in r.stderr
    assert not (tmp_path / "out").exists()  # nothing written


def test_debrief_needs_a_folder(tmp_path):
    r = run(str(tmp_path / "nowhere"), "--out", str(tmp_path / "out"))
    assert r.returncode == 2 and "is not a folder" in r.stderr


def test_make_debrief_target(folder, tmp_path):
    make = subprocess.run(["make", "-n", "debrief", f"DIR={folder}"], capture_output=True, text=True, cwd=ROOT)
    assert make.returncode == 0, make.stderr
    assert "scripts/debrief.py" in make.stdout and "_build/debrief" in make.stdout


def test_debrief_skips_an_export_of_the_previous_questionnaire(tmp_path):
    """Version 1 (before issue 11 split and renamed questions) keyed answers by other ids: named and skipped."""
    d = tmp_path / "class"
    d.mkdir()
    (d / "team-a.json").write_text(json.dumps(qio.export(pattern(1))), encoding="utf-8")
    old = {"format": qio.FORMAT, "version": 1, "answers": {"lang-vertical": 3, "soc-rapport": 4}, "inputs": {}}
    (d / "last-year.json").write_text(json.dumps(old), encoding="utf-8")
    r = run(str(d), "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    assert f"skipped last-year.json: unsupported version 1 (this book reads version {qio.VERSION})" in r.stderr
    assert "1 health check read, 1 skipped" in r.stdout


# --------------------------------------------------------------------------- bad files never end the run

def test_a_huge_number_or_deep_nesting_skips_only_that_file(tmp_path, debrief, capsys):
    """A 400-digit answer (OverflowError) or deeply nested JSON (RecursionError) ended the whole run
    with a traceback; now each is named with its field and a cut-short value, and skipped."""
    d = tmp_path / "class"
    d.mkdir()
    (d / "team-a.json").write_text(json.dumps(qio.export(pattern(1))), encoding="utf-8")
    huge = qio.export(pattern(2))
    huge["answers"]["lev-vision"] = int("7" * 400)
    (d / "huge.json").write_text(json.dumps(huge), encoding="utf-8")
    (d / "deep.json").write_text('{"format": "smi-healthcheck", "answers": ' + "[" * 100_000 + "]" * 100_000 + "}",
                                 encoding="utf-8")
    digits = json.dumps(qio.export(pattern(3))).replace('"version": 2', '"version": ' + "9" * 5000)
    (d / "digits.json").write_text(digits, encoding="utf-8")
    out = tmp_path / "out"
    code, stdout, stderr = run_here(debrief, capsys, str(d), "--out", str(out))  # an exception would fail the test
    assert code == 0, stderr
    # "debrief: skipped FILE: REASON", one line per file
    skipped = dict(ln[len("debrief: skipped "):].split(": ", 1) for ln in stderr.splitlines()
                   if ln.startswith("debrief: skipped "))
    assert set(skipped) == {"huge.json", "deep.json", "digits.json"}
    assert "lev-vision (value 7777777777" in skipped["huge.json"] and "(400 digits)" in skipped["huge.json"]
    assert "nested too deeply" in skipped["deep.json"]
    assert "not valid JSON" in skipped["digits.json"]
    assert all(len(reason) < 400 for reason in skipped.values()), skipped
    assert "1 health check read, 3 skipped" in stdout
    page = (out / "index.html").read_text(encoding="utf-8")
    for name in ("huge.json", "deep.json", "digits.json"):
        assert name in page  # listed under the chart as skipped
    assert (pd.read_csv(out / "summary.csv").firms == 1).all()


def test_files_of_one_name_in_two_folders_are_two_firms(tmp_path, debrief, capsys):
    """a/team.json and b/team.json were averaged into one firm while summary.csv counted two: a
    shared stem names both firms by their paths (a stem of its own stays the firm's name)."""
    d = tmp_path / "class"
    for sub, seed in (("a", 1), ("b", 2)):
        (d / sub).mkdir(parents=True)
        (d / sub / "team.json").write_text(json.dumps(qio.export(pattern(seed))), encoding="utf-8")
    (d / "b" / "other.json").write_text(json.dumps(qio.export(pattern(3))), encoding="utf-8")
    out = tmp_path / "out"
    code, stdout, stderr = run_here(debrief, capsys, str(d), "--out", str(out))
    assert code == 0, stderr
    assert "3 health checks read, 0 skipped" in stdout
    wide = pd.read_csv(out / "firms.csv").set_index("firm")
    assert list(wide.index) == ["a/team", "other", "b/team"]
    for firm, seed in (("a/team", 1), ("b/team", 2)):
        assert wide.at[firm, "vision"] == pytest.approx((pattern(seed)["lev-vision"] - 1) / 4, abs=1e-6)
    summary = pd.read_csv(out / "summary.csv")
    assert (summary.firms == 3).all()
    page = (out / "index.html").read_text(encoding="utf-8").replace(": ", ":")
    assert "3 firms" in page  # the chart says what summary.csv counts
    assert '"firm":"a/team"' in page and '"firm":"b/team"' in page


def test_a_json_and_a_txt_of_one_name_keep_their_extensions(tmp_path, debrief, capsys):
    d = tmp_path / "class"
    d.mkdir()
    (d / "team.json").write_text(json.dumps(qio.export(pattern(1))), encoding="utf-8")
    (d / "team.txt").write_text(qio.encode_code(pattern(2)) + "\n" + qio.encode_code(pattern(3)) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    code, _, stderr = run_here(debrief, capsys, str(d), "--out", str(out))
    assert code == 0, stderr
    wide = pd.read_csv(out / "firms.csv")
    assert list(wide.firm) == ["team.json", "team.txt #1", "team.txt #2"]
    assert (pd.read_csv(out / "summary.csv").firms == 3).all()


def test_a_name_clash_that_remains_is_reported_and_skipped(tmp_path, debrief):
    """'team #1.json' beside a team.txt of two codes would give a second firm 'team #1'."""
    mod = debrief
    d = tmp_path / "class"
    d.mkdir()
    (d / "team #1.json").write_text(json.dumps(qio.export(pattern(1))), encoding="utf-8")
    (d / "team.txt").write_text(qio.encode_code(pattern(2)) + "\n" + qio.encode_code(pattern(3)) + "\n", encoding="utf-8")
    firms, skipped = mod.collect(d, qio.load())
    assert [n for n, _ in firms] == ["team #1"]
    assert skipped == [("team.txt", "its firm name 'team #1' is already taken by team #1.json; rename one of the two")]


def test_a_failed_run_leaves_no_partial_output(tmp_path, monkeypatch, capsys, debrief):
    """The chart failing (here: vl-convert) must not leave summary.csv or firms.csv behind."""
    mod = debrief
    d = tmp_path / "class"
    d.mkdir()
    (d / "team-a.json").write_text(json.dumps(qio.export(pattern(1))), encoding="utf-8")
    (d / "broken.json").write_text("{", encoding="utf-8")

    def fail(*args, **kwargs):
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr(mod.vlc, "vegalite_to_html", fail)
    out = tmp_path / "out"
    assert mod.main([str(d), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "skipped broken.json: not valid JSON" in err  # skipped files are still listed
    assert "could not build the debrief (RuntimeError: renderer crashed); nothing was written" in err
    assert not out.exists()


def test_a_failed_write_leaves_no_partial_output(tmp_path, monkeypatch, debrief):
    """A disk filling up after the first file: nothing of this run is left in the folder."""
    mod = debrief
    d = tmp_path / "class"
    d.mkdir()
    (d / "team-a.json").write_text(json.dumps(qio.export(pattern(1))), encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("the instructor's own file", encoding="utf-8")
    real = Path.write_text
    calls = []

    def flaky(self, *args, **kwargs):
        calls.append(self.name)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", flaky)
    assert mod.main([str(d), "--out", str(out)]) == 1
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]  # no chart, no csv, no scratch folder
