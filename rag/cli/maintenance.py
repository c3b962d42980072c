"""The store-keeping subcommands: `rag doctor`, `rag backup`, `rag restore`, `rag migrate`. Each
returns the exit code."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ingest.errors import UsageError
from ingest.types import DocumentInfo
from rag.cli.commands import _settings
from rag.doctor import DoctorReport

COMMANDS = ("doctor", "backup", "restore", "migrate")


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


def cmd_migrate(args: argparse.Namespace) -> int:
    from rag.migrate import migrate

    source = _settings(args)
    if args.to == source.backend:
        raise UsageError(f"the knowledge base is already on the {args.to} backend (RAG_BACKEND)")
    if args.to == "embedded":
        if not args.into:
            raise UsageError("--to embedded needs --into DIR: the folder of the new store")
        target = source.with_(backend="embedded", store_dir=Path(args.into))
    elif args.into:
        raise UsageError("--into is for --to embedded; a cluster target comes from "
                         "RAG_POSTGRES_URL, RAG_MILVUS_URI and RAG_CLUSTER_NAME")  # fmt: skip
    else:
        target = source.with_(backend="cluster")

    def progress(done: int, total: int, doc: DocumentInfo) -> None:
        print(f"[{done}/{total}] {doc.source} ({doc.n_chunks} chunks)", file=sys.stderr)

    report = migrate(source, target, replace=args.replace, progress=progress)
    print(f"migrated {report.documents} documents, {report.chunks} chunks and the graph of "
          f"{report.graph_documents} documents ({report.entities} entities) from "
          f"{report.source} to {report.target} in {report.seconds:.1f} s", file=sys.stderr)  # fmt: skip
    return 0
