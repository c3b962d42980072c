"""The store-keeping subcommands: `rag doctor`, `rag backup`, `rag restore`. Each returns the exit code."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rag.cli.commands import _settings
from rag.doctor import DoctorReport

COMMANDS = ("doctor", "backup", "restore")


def _print_report(report: DoctorReport, *, repairing: bool = False) -> None:
    """One line per problem with its count; the last line says what to do next."""
    for line in report.repaired:
        print(f"repaired: {line}")
    print(f"store {report.store}: {report.documents} documents, {report.chunks} chunks")
    for label, found in (("problem", report.problems), ("unfinished", report.unfinished)):
        for p in found:
            what = f"  [--repair {p.repair}]" if p.repair and not repairing else ""
            print(f"{label} {p.code}: {p.count} {p.message}{what}")
    if report.ok and report.unfinished:
        print("ok: nothing is damaged; an ingest was interrupted (or is running) and left the "
              "lines above to do: the next ingest or `rag doctor --repair` completes them")  # fmt: skip
    elif report.ok:
        print("ok: the store, its keyword index, its vector cache and its graph agree")
    elif repairing:
        print(f"{len(report.problems)} problems are left that a repair cannot fix (see each line)")
    else:
        fixable = sum(p.repairable for p in report.problems)
        hint = (
            "; `rag doctor --repair` fixes "
            + ("them" if fixable == len(report.problems) else f"{fixable} of them")
            if fixable
            else ""
        )
        print(f"{len(report.problems)} problems found{hint}")


def cmd_doctor(args: argparse.Namespace) -> int:
    from rag.doctor import diagnose, repair

    settings = _settings(args)
    report = repair(settings) if args.repair else diagnose(settings)
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        _print_report(report, repairing=args.repair)
    return 0 if report.ok else 1


def cmd_backup(args: argparse.Namespace) -> int:
    from rag.backup import backup

    result = backup(_settings(args), Path(args.dest))
    info = result.info
    print(f"backed up {info['documents']} documents, {info['chunks']} chunks and "
          f"{info['uploads']} uploaded files to {result.dest}", file=sys.stderr)  # fmt: skip
    if not result.check.ok:
        _print_report(result.check)
        return 1
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from rag.backup import restore

    result = restore(_settings(args), Path(args.src), force=args.force)
    if result.moved_aside is not None:
        print(f"the store that was there is now {result.moved_aside}", file=sys.stderr)
    print(f"restored {args.src} into {result.store}", file=sys.stderr)
    _print_report(result.check)
    return 0 if result.check.ok else 1
