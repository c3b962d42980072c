"""A consistent copy of a store directory taken while it is read and written.

Each SQLite file is copied with SQLite's online backup, which copies one committed state of the
database however many writers commit meanwhile; a plain file copy of a database in WAL mode can
catch half a checkpoint. The FAISS file is a cache and is not copied (the copy rebuilds it).
The copy is made in a hidden sibling folder and renamed into place at the end, so an interrupted
backup never leaves something at DEST that looks whole.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from contextlib import closing
from pathlib import Path

from ingest.atomic import write_json_atomic
from ingest.errors import StoreError, UsageError
from ingest.store.database import DB_FILE
from ingest.store.manifest import MANIFEST

BACKUP_INFO = "backup.json"
UPLOADS = "uploads"  # the web app's copies of the files it ingested
_SKIP_UPLOADS = ".incoming"  # uploads of jobs not started yet: not documents of the store


def database_files(root: Path) -> list[Path]:
    """The store's SQLite files, its own first (the others cite its chunks)."""
    others = sorted(p for p in root.glob("*.sqlite") if p.name != DB_FILE)
    return [root / DB_FILE, *others]


def copy_database(src: Path, dst: Path) -> None:
    """SQLite's online backup of `src` into a new file `dst`, checked before it counts."""
    with closing(sqlite3.connect(src, timeout=30)) as s, closing(sqlite3.connect(dst)) as d:
        s.backup(d)  # one step: a snapshot of one committed state of src
        check = d.execute("PRAGMA quick_check").fetchone()[0]
    if check != "ok":
        raise StoreError(f"the copy of {src.name} fails SQLite's check ({check}); {src} may be "
                         "damaged: run `rag doctor`")  # fmt: skip


def free_target(dest: Path, what: str) -> None:
    """Refuse a DEST that holds anything: a backup or restore never writes over files."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise UsageError(f"{dest} already exists and is not empty; give {what} a new folder")


def snapshot(root: Path, dest: Path) -> dict[str, object]:
    """Copy the store at `root` into the new folder `dest`; returns what backup.json says."""
    free_target(dest, "the backup")
    if not (root / MANIFEST).is_file() or not (root / DB_FILE).is_file():
        raise StoreError(f"no store at {root} to back up")
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = dest.parent / f".{dest.name}.partial-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        started = time.time()
        for db in database_files(root):
            if db.is_file():
                copy_database(db, work / db.name)
        shutil.copy2(root / MANIFEST, work / MANIFEST)
        n_uploads = _copy_uploads(root / UPLOADS, work / UPLOADS)
        with closing(sqlite3.connect(work / DB_FILE)) as copy:
            docs = copy.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
            chunks = copy.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
            gen = copy.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0]
        info: dict[str, object] = {
            "format": "rag-store-backup", "source": str(root.resolve()),
            "started_at": started, "finished_at": time.time(), "generation": int(gen),
            "documents": int(docs), "chunks": int(chunks), "uploads": n_uploads,
            "files": sorted(p.name for p in work.iterdir()),
        }  # fmt: skip
        write_json_atomic(work / BACKUP_INFO, info)
        if dest.exists():
            dest.rmdir()  # empty, checked above
        os.replace(work, dest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return info


def _copy_uploads(src: Path, dst: Path) -> int:
    if not src.is_dir():
        return 0
    n = 0
    for f in sorted(src.rglob("*")):
        rel = f.relative_to(src)
        if rel.parts[0] == _SKIP_UPLOADS or not f.is_file():
            continue
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, dst / rel)
        n += 1
    return n


def check_backup(src: Path) -> dict[str, object]:
    """What `src` holds, if it is a store or a backup of one; raises a StoreError if not."""
    if not src.is_dir():
        raise UsageError(f"{src} is not a folder: give the folder `rag backup` wrote")
    if not (src / MANIFEST).is_file() or not (src / DB_FILE).is_file():
        raise StoreError(f"{src} holds no store ({MANIFEST} and {DB_FILE} are needed)")
    info_path = src / BACKUP_INFO
    info: dict[str, object] = (
        json.loads(info_path.read_text("utf-8")) if info_path.is_file() else {}
    )
    for db in database_files(src):
        if db.is_file():
            try:
                with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as d:
                    check = d.execute("PRAGMA quick_check").fetchone()[0]
            except sqlite3.DatabaseError as e:
                check = str(e)
            if check != "ok":
                raise StoreError(f"{db} in the backup fails SQLite's check ({check})")
    return info


def install(src: Path, root: Path) -> Path | None:
    """Put a copy of the store `src` at `root`; an existing store there is moved aside, not
    deleted. Returns where the replaced store went (None when there was none).

    The copy is assembled in a sibling folder and renamed into place, so a restore cut short
    leaves the old store where it was."""
    root.parent.mkdir(parents=True, exist_ok=True)
    work = root.parent / f".{root.name}.restoring-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        for db in database_files(src):
            if db.is_file():
                copy_database(db, work / db.name)
        shutil.copy2(src / MANIFEST, work / MANIFEST)
        _copy_uploads(src / UPLOADS, work / UPLOADS)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    aside: Path | None = None
    if root.exists() and any(root.iterdir()):
        aside = root.with_name(f"{root.name}.before-restore-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(root, aside)
    elif root.exists():
        root.rmdir()
    os.replace(work, root)
    return aside
