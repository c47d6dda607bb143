"""Class debrief from a folder of exported health checks, without a browser or a server.

    python scripts/debrief.py DIR [--out _build/debrief]      (or: make debrief DIR=DIR)

Reads every file in DIR and its subfolders (hidden files such as .DS_Store are ignored): ``.json``
exports from the book's health check, ``.txt`` files with one short code per line; any other
file is tried as an export. Each is validated with ``smi_charts.questionnaire_io``; a malformed file is
reported on stderr by its path in DIR, with what is wrong (the field and its value, cut short
when huge), and skipped: the other files are still read.

Each firm is named by its file's stem (``team-a``; a file of several codes gives ``codes #1``,
``codes #2``...). Files of the same stem are named by their path in DIR instead (``a/team`` and
``b/team``: two firms, never merged), with the extension where even that is shared
(``team.json`` and ``team.txt``). A firm name still taken (``team #1.json`` beside a ``team.txt``
of two codes) skips the later file, saying so.

Writes into ``--out``:

* ``index.html``  the class chart, self-contained (vl-convert's bundle: opens offline);
* ``summary.csv`` per measure: firms, mean, minimum, median, maximum;
* ``firms.csv``   each firm's numbers (one row per firm, one column per measure).

Everything is computed before anything is written, and the three files are written together:
a run that fails leaves no partial output.

Exit status: 0 when at least one health check was read, 1 when none was (or the debrief could not
be built), 2 for a usage error.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pandas as pd
import vl_convert as vlc

from smi import questionnaire as qn
from smi.data import clip
from smi_charts import healthcheck as hc_page
from smi_charts import questionnaire_io as qio


def firm_names(files: list[Path], folder: Path) -> dict[Path, str]:
    """Each file's firm name: its stem; where stems clash, its path in ``folder`` without the
    extension; where those clash too, its path (the browser's debrief names firms the same way)."""
    rel = {p: p.relative_to(folder).as_posix() for p in files}
    bare = {p: r[: -len(p.suffix)] if p.suffix else r for p, r in rel.items()}

    def unique(names: dict[Path, str]) -> set[Path]:
        count: dict[str, int] = {}
        for n in names.values():
            count[n] = count.get(n, 0) + 1
        return {p for p, n in names.items() if count[n] == 1}

    by_stem, by_bare = unique({p: p.stem for p in files}), unique(bare)
    return {p: p.stem if p in by_stem else bare[p] if p in by_bare else rel[p] for p in files}


def collect(folder: Path, questionnaire: qn.Questionnaire) -> tuple[list[tuple[str, dict]], list[tuple[str, str]]]:
    """(firms, skipped): firms as (name, answers); skipped as (file, reason), the file by its path in ``folder``."""
    firms: list[tuple[str, dict]] = []
    skipped: list[tuple[str, str]] = []
    files = sorted(p for p in folder.rglob("*") if p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    names = firm_names(files, folder)
    taken: dict[str, str] = {}
    for p in files:
        rel = p.relative_to(folder).as_posix()
        try:
            got = qio.read_file(p, questionnaire, name=names[p])
        except ValueError as err:
            reason = str(err)
            reason = reason[len(p.name) + 2:] if reason.startswith(p.name + ": ") else reason
            skipped.append((rel, reason))
            continue
        except Exception as err:  # noqa: BLE001 - one unreadable file must not end the class's debrief
            skipped.append((rel, f"could not be read ({type(err).__name__}: {clip(str(err))})"))
            continue
        clash = next((n for n, _ in got if n in taken), None)
        if clash is not None:  # e.g. "a #1.json" beside a.txt holding two codes
            skipped.append((rel, f"its firm name {clash!r} is already taken by {taken[clash]}; rename one of the two"))
            continue
        for n, a in got:
            taken[n] = rel
            firms.append((n, a))
    return firms, skipped


def build(firms: list[tuple[str, dict]], skipped: list[tuple[str, str]], q: qn.Questionnaire) -> dict[str, str]:
    """The output files' contents, by file name (nothing is written here)."""
    table = qn.class_table(firms, q)
    summary = qn.class_summary(table)
    spec = hc_page.class_spec(table, skipped=[name for name, _ in skipped], theory=q.theory)
    wide = table.pivot_table(index="firm", columns="measure", values="value", sort=False)
    wide = wide[list(dict.fromkeys(table.measure))]
    if len(wide) != len(firms) or (summary.firms != len(firms)).any():
        raise ValueError(f"the tables disagree on the number of firms ({len(firms)} read, {len(wide)} in firms.csv)")
    return {
        "index.html": vlc.vegalite_to_html(spec, bundle=True),
        "summary.csv": summary.to_csv(index=False, float_format="%.6f"),
        "firms.csv": wide.reset_index().to_csv(index=False, float_format="%.6f"),
    }


def write(out: Path, files: dict[str, str]) -> None:
    """Write every file into a scratch folder inside ``out`` first, then move them into place, so
    an error while writing (a full disk) leaves no file half-written."""
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".debrief-", dir=out))
    try:
        for name, text in files.items():
            (scratch / name).write_text(text, encoding="utf-8")
        for name in files:
            os.replace(scratch / name, out / name)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    shutil.rmtree(scratch, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Class debrief from a folder of exported SMI health checks.")
    ap.add_argument("folder", type=Path, help="folder of .json exports and/or .txt files of codes")
    ap.add_argument("--out", type=Path, default=Path("_build/debrief"), help="output folder (default: _build/debrief)")
    args = ap.parse_args(argv)
    if not args.folder.is_dir():
        print(f"debrief: {args.folder} is not a folder", file=sys.stderr)
        return 2
    q = qio.load()
    firms, skipped = collect(args.folder, q)
    for name, reason in skipped:
        print(f"debrief: skipped {name}: {reason}", file=sys.stderr)
    if not firms:
        print(f"debrief: no valid health check in {args.folder}", file=sys.stderr)
        return 1
    try:
        files = build(firms, skipped, q)
        write(args.out, files)
    except Exception as err:  # noqa: BLE001 - say what failed, in one line, and that nothing was written
        print(f"debrief: could not build the debrief ({type(err).__name__}: {clip(str(err), 300)}); "
              f"nothing was written to {args.out}", file=sys.stderr)
        return 1
    print(f"debrief: {len(firms)} health check{'s' if len(firms) != 1 else ''} read, {len(skipped)} skipped; "
          f"wrote {args.out / 'index.html'}, {args.out / 'summary.csv'}, {args.out / 'firms.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
