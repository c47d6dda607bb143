"""Class debrief from a folder of exported health checks, without a browser or a server.

    python scripts/debrief.py DIR [--out _build/debrief]      (or: make debrief DIR=DIR)

Reads every file in DIR and its subfolders (hidden files such as .DS_Store are ignored): ``.json``
exports from the book's health check, ``.txt`` files with one short code per line; any other
file is tried as an export. Each is validated with ``smi.healthcheck``; a malformed file is
reported by name on stderr and skipped. Writes into ``--out``:

* ``index.html``  the class chart, self-contained (vl-convert's bundle: opens offline);
* ``summary.csv`` per measure: firms, mean, minimum, median, maximum;
* ``firms.csv``   each firm's numbers (one row per firm, one column per measure).

Exit status: 0 when at least one health check was read, 1 when none was, 2 for a usage error.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import vl_convert as vlc

from smi import healthcheck as shc
from smi_charts import healthcheck as hcc


def collect(folder: Path, questionnaire: shc.Questionnaire) -> tuple[list[tuple[str, dict]], list[tuple[str, str]]]:
    """(firms, skipped): firms as (name, answers); skipped as (file, reason)."""
    firms: list[tuple[str, dict]] = []
    skipped: list[tuple[str, str]] = []
    files = sorted(p for p in folder.rglob("*") if p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    for p in files:
        rel = p.relative_to(folder).as_posix()
        try:
            firms.extend(shc.read_file(p, questionnaire))
        except ValueError as err:
            reason = str(err)
            reason = reason[len(p.name) + 2:] if reason.startswith(p.name + ": ") else reason
            skipped.append((rel, reason))
    return firms, skipped


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Class debrief from a folder of exported SMI health checks.")
    ap.add_argument("folder", type=Path, help="folder of .json exports and/or .txt files of codes")
    ap.add_argument("--out", type=Path, default=Path("_build/debrief"), help="output folder (default: _build/debrief)")
    args = ap.parse_args(argv)
    if not args.folder.is_dir():
        print(f"debrief: {args.folder} is not a folder", file=sys.stderr)
        return 2
    q = shc.load()
    firms, skipped = collect(args.folder, q)
    for name, reason in skipped:
        print(f"debrief: skipped {name}: {reason}", file=sys.stderr)
    if not firms:
        print(f"debrief: no valid health check in {args.folder}", file=sys.stderr)
        return 1
    table = shc.class_table(firms, q)
    summary = shc.class_summary(table)
    spec = hcc.class_spec(table, skipped=[name for name, _ in skipped], theory=q.theory)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "index.html").write_text(vlc.vegalite_to_html(spec, bundle=True), encoding="utf-8")
    summary.to_csv(args.out / "summary.csv", index=False, float_format="%.6f")
    wide = table.pivot_table(index="firm", columns="measure", values="value", sort=False)
    wide = wide[list(dict.fromkeys(table.measure))]
    wide.reset_index().to_csv(args.out / "firms.csv", index=False, float_format="%.6f")
    print(f"debrief: {len(firms)} health check{'s' if len(firms) != 1 else ''} read, {len(skipped)} skipped; "
          f"wrote {args.out / 'index.html'}, {args.out / 'summary.csv'}, {args.out / 'firms.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
