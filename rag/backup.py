"""`rag backup DEST` and `rag restore SRC`: a store copied while in use, and put back.

The copy (`ingest.store.backup`) holds one committed state of each database. The store and its
graph are two databases, so a backup taken while an ingest runs can catch documents the graph
has not caught up with yet, as a reader of the live store would; the backup then brings its own
graph in step (the fast extractor needs no model), so what it holds passes `rag doctor`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ingest.errors import StoreNotFound, UsageError
from ingest.store.backup import check_backup, install, snapshot
from ingest.store.doctor import rebuild_vector_cache
from ingest.store.manifest import MANIFEST, read_embedder
from rag.doctor import STORE_CODES, DoctorReport, diagnose, repair
from rag.settings import Settings


@dataclass(frozen=True)
class BackupResult:
    dest: Path
    info: dict[str, object]
    check: DoctorReport  # `rag doctor` on the backup, after it caught its graph up


@dataclass(frozen=True)
class RestoreResult:
    store: Path
    moved_aside: Path | None  # where the store that was there went
    check: DoctorReport


def backup(settings: Settings, dest: Path) -> BackupResult:
    root = settings.store_dir
    if not (root / MANIFEST).is_file():
        raise StoreNotFound(f"no store at {root} to back up; see --store")
    if dest.resolve() == root.resolve() or root.resolve() in dest.resolve().parents:
        raise UsageError(f"{dest} is inside the store {root}: back it up somewhere else")
    info = snapshot(root, dest)  # refuses a DEST that holds anything
    copy = replace(settings, store_dir=dest)
    check = diagnose(copy)
    graph_only = all(p.code not in STORE_CODES for p in check.found)
    needs_llm = settings.graph == "llm" and any(
        p.code in ("graph_missing_docs", "graph_missing") for p in check.found
    )
    if check.found and graph_only and not needs_llm:
        check = repair(copy)
    return BackupResult(dest, info, check)


def restore(settings: Settings, src: Path, *, force: bool = False) -> RestoreResult:
    root = settings.store_dir
    if src.resolve() == root.resolve():
        raise UsageError(f"{src} is the store itself; give the folder `rag backup` wrote")
    check_backup(src)
    if root.exists() and any(root.iterdir()) and not force:
        raise UsageError(
            f"{root} already holds a store; pass --force to replace it (it is moved aside to "
            f"{root.name}.before-restore-<time>, not deleted), or restore into another --store"
        )
    aside = install(src, root)
    _, dim = read_embedder(root)
    rebuild_vector_cache(root, dim)  # now, not on the first question
    return RestoreResult(root, aside, diagnose(settings))
