"""Every page of the built site is valid HTML, by the Nu HTML Checker (the W3C validator's engine).

The checker is npm's `vnu-jar`, pinned in package.json/package-lock.json (`make` runs `npm ci`),
run on Debian's Java (`make` installs default-jre-headless). One run checks every .html file of
_build/html. What counts: the checker's errors ("error", and "non-document-error" when it cannot
read a file) fail the test; its warnings ("info" with subType "warning") are advice and do not.
A missing checker, Java or build is an error, never a skip.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "_build" / "html"
VNU = ROOT / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
ERRORS = ("error", "non-document-error")


def vnu(files: list[Path]) -> list[dict]:
    """The checker's messages for ``files`` (one run), each with its ``file`` as a Path."""
    java = shutil.which("java")
    if java is None:
        pytest.fail("java is missing: run `make test-browser` (installs default-jre-headless) "
                    "or `sudo apt-get install -y default-jre-headless`")
    if not VNU.exists():
        pytest.fail(f"{VNU.relative_to(ROOT)} is missing: run `npm ci` (or `make test-browser`)")
    run = subprocess.run([java, "-jar", str(VNU), "--format", "json", *map(str, files)],
                         capture_output=True, text=True, timeout=600)
    # the checker exits 1 when it reports an error; its JSON report goes to stderr either way
    try:
        messages = json.loads(run.stderr)["messages"]
    except (ValueError, KeyError):
        pytest.fail(f"the checker did not report (exit {run.returncode}): {run.stderr[-2000:]}")
    for m in messages:
        m["file"] = Path(unquote(urlparse(m.get("url", "")).path)) if m.get("url") else None
    return messages


def errors(messages: list[dict]) -> list[dict]:
    return [m for m in messages if m["type"] in ERRORS]


def describe(m: dict, base: Path) -> str:
    where = m["file"].relative_to(base) if m["file"] and m["file"].is_relative_to(base) else m["file"]
    return f"{where}:{m.get('lastLine', '?')}: {m['message']}"


def test_every_page_is_valid_html():
    pages = sorted(SITE.rglob("*.html"))
    if not (SITE / "index.html").exists():
        pytest.fail(f"no built site at {SITE}: run `make book` first")
    chapters = {p.relative_to(SITE).as_posix() for p in pages}
    assert {"index.html", "book/intro.html", "book/malshe2011.html", "book/healthcheck.html",
            "book/instructor/debrief.html"} <= chapters, sorted(chapters)
    found = errors(vnu(pages))
    assert not found, (f"{len(found)} HTML errors in {len({m['file'] for m in found})} of {len(pages)} files:\n"
                       + "\n".join(describe(m, SITE) for m in found))


VALID = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>A chart</title></head>
<body><div class="smi-figure" id="smi-x"><figure><img src="x.svg" alt="A bar chart">
<figcaption>A chart.</figcaption></figure>
<details class="smi-numbers"><summary>Numbers behind this chart</summary><p>1</p></details>
<script>void 0;</script></div></body></html>
"""

# what the explorables wrote before: numbers and scripts after the caption, inside the figure
INVALID = VALID.replace("<figcaption>A chart.</figcaption></figure>", "<figcaption>A chart.</figcaption>") \
               .replace("<script>void 0;</script></div>", "<script>void 0;</script></figure></div>")


def test_the_check_finds_an_error(tmp_path):
    """The same check on two small pages: the valid one passes; in the other, the checker names
    the file, the line and the element a figure may not hold."""
    good, bad = tmp_path / "good.html", tmp_path / "bad.html"
    good.write_text(VALID, encoding="utf-8")
    bad.write_text(INVALID, encoding="utf-8")
    found = errors(vnu([good, bad]))
    assert found, "the checker reported no error in a figure holding a script after its caption"
    assert {m["file"].name for m in found} == {"bad.html"}, [describe(m, tmp_path) for m in found]
    lines = [describe(m, tmp_path) for m in found]
    assert any(line.startswith("bad.html:5: ") and "“details” not allowed as child of element “figure”" in line
               for line in lines), lines
