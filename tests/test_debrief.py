"""scripts/debrief.py: a folder of exported health checks -> class chart (offline HTML) + CSV."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from smi import healthcheck as hc

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "debrief.py"


def pattern(seed: int) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    return {qid: int(rng.integers(1, 6)) for qid in hc.load().ids}


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "class"
    (d / "section-b").mkdir(parents=True)
    (d / "team-a.json").write_text(json.dumps(hc.export(pattern(1))), encoding="utf-8")
    (d / "section-b" / "team-b.json").write_text(json.dumps(hc.export(pattern(2))), encoding="utf-8")
    (d / "codes.txt").write_text(hc.encode_code(pattern(3)) + "\n", encoding="utf-8")
    (d / "broken.json").write_text('{"format": "smi-healthcheck", "version": 1, "answers": {', encoding="utf-8")
    (d / ".DS_Store").write_bytes(b"\x00\x01")  # hidden files are ignored, not reported
    return d


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=ROOT, timeout=600)


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
    firms = [("team-a", pattern(1)), ("team-b", pattern(2)), ("codes", pattern(3))]
    expected = hc.class_summary(hc.class_table(firms))
    assert summary["mean"].to_numpy() == pytest.approx(expected["mean"].to_numpy(), abs=1e-6)
    assert summary["median"].to_numpy() == pytest.approx(expected["median"].to_numpy(), abs=1e-6)

    wide = pd.read_csv(out / "firms.csv")
    assert list(wide.firm) == ["codes", "team-b", "team-a"]  # files in path order
    language = hc.profile(pattern(1)).linkages["language"]
    assert wide.set_index("firm").at["team-a", "language"] == pytest.approx(language, abs=1e-6)


def test_debrief_with_no_valid_file_fails(tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    (d / "notes.json").write_text("[]", encoding="utf-8")
    r = run(str(d), "--out", str(tmp_path / "out"))
    assert r.returncode == 1
    assert "skipped notes.json: not a health-check export" in r.stderr
    assert "no valid health check" in r.stderr


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
    (d / "team-a.json").write_text(json.dumps(hc.export(pattern(1))), encoding="utf-8")
    old = {"format": hc.FORMAT, "version": 1, "answers": {"lang-vertical": 3, "soc-rapport": 4}, "inputs": {}}
    (d / "last-year.json").write_text(json.dumps(old), encoding="utf-8")
    r = run(str(d), "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    assert f"skipped last-year.json: unsupported version 1 (this book reads version {hc.VERSION})" in r.stderr
    assert "1 health check read, 1 skipped" in r.stdout
