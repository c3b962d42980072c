"""Atomic writes: files (temp file in the same directory, fsync, os.replace) and SQLite transactions.

A write that fails — a full disk above all — must leave what was there before and nothing
else: the temp file goes, the transaction rolls back, and the error says which file could not
be written (`DiskFull`) rather than surfacing as an OSError from deep inside. A process killed
mid-write cannot clean up after itself, so temp files carry its pid, and `sweep_temp_files`
removes those of processes that are gone.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import secrets
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ingest.errors import DiskFull

log = logging.getLogger(__name__)

_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
# SQLite reports some writes on a full disk as an I/O error, not SQLITE_FULL: growing the
# shared-memory file of a WAL database (SQLITE_IOERR_SHMSIZE, measured on a full tmpfs), and
# depending on the VFS, fsync or truncate. An I/O error on a disk with less free space than
# this is taken for the disk being full.
_NEARLY_FULL = 2**20


def out_of_space(exc: BaseException, path: Path | None = None) -> bool:
    """Whether `exc` is a write failing for want of disk space (or quota) — an OSError,
    SQLite's error, or FAISS's RuntimeError, which carries strerror's text."""
    if isinstance(exc, DiskFull):
        return True
    if isinstance(exc, OSError):
        return exc.errno in _NO_SPACE
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if code is None:
            return "database or disk is full" in str(exc)
        if code & 0xFF == sqlite3.SQLITE_FULL:
            return True
        return code & 0xFF == sqlite3.SQLITE_IOERR and path is not None and _nearly_full(path)
    if isinstance(exc, RuntimeError):
        return any(os.strerror(e) in str(exc) for e in _NO_SPACE)
    return False


def _nearly_full(path: Path) -> bool:
    for p in (path, *path.parents):
        if p.exists():
            return shutil.disk_usage(p).free < _NEARLY_FULL
    return False


def disk_full(path: Path | None, exc: BaseException, what: str = "") -> DiskFull:
    """The one-line error for running out of space while writing `path` (if known)."""
    if path is None and isinstance(exc, OSError) and exc.filename:
        path = Path(os.fsdecode(exc.filename))
    what = what or (f"no space left to write {path}" if path else "no space left on the disk")
    return DiskFull(
        f"disk full: {what} ({_reason(exc)}); free space on that disk and run it again — "
        "what was written before is kept"
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc)
    return next((os.strerror(e) for e in _NO_SPACE if os.strerror(e) in text), text)


@contextmanager
def disk_full_raised(path: Path) -> Iterator[None]:
    """Re-raise a write failing for want of space, inside the block, as `DiskFull` naming
    `path`; any other error passes through untouched."""
    try:
        yield
    except (OSError, sqlite3.Error, RuntimeError) as e:
        if isinstance(e, DiskFull) or not out_of_space(e, path):
            raise
        raise disk_full(path, e) from e


def temp_path(path: Path) -> Path:
    """A new empty temp file beside `path`, named `.NAME.PID.RANDOM.tmp` (see
    `sweep_temp_files`). Unlike mkstemp's 0600 it gets the permissions the umask gives any
    new file, so the file renamed into place is as readable as the one it replaces."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yield a temp file to write `path`'s new content to; once the block is done it is
    fsynced and renamed over `path`. If anything fails the temp file is removed, `path` is
    as it was, and running out of space raises `DiskFull`."""
    with disk_full_raised(path):
        tmp = temp_path(path)
        try:
            yield tmp
            with tmp.open("rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def write_bytes_atomic(path: Path, data: bytes) -> None:
    with replacing(path) as tmp, tmp.open("wb") as f:
        f.write(data)


def write_json_atomic(path: Path, obj: Any) -> None:
    write_bytes_atomic(path, json.dumps(obj, ensure_ascii=False, indent=2).encode("utf-8"))


def sweep_temp_files(folder: Path, pattern: str = ".*.tmp") -> list[Path]:
    """Remove the temp files in `folder` (matching `pattern`) that `temp_path` made for
    processes that are no longer running — a write killed before it could clean up.

    A live process's temp file is left alone: it may be in the middle of its write."""
    removed = []
    for p in folder.glob(pattern):
        parts = p.name.split(".")  # "", name parts…, pid, random, "tmp"
        pid = int(parts[-3]) if len(parts) >= 5 and parts[-3].isdigit() else None
        if pid is not None and pid != os.getpid() and not _running(pid):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                removed.append(p)
    if removed:
        log.info("removed %d temp files of killed writes in %s", len(removed), folder)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def rollback(db: sqlite3.Connection) -> None:
    """Roll back the open transaction, unless SQLite already has: on SQLITE_FULL (and IOERR,
    NOMEM, BUSY) it may roll back by itself, and a ROLLBACK then would raise "no transaction
    is active" in place of the error that matters. A failing ROLLBACK is logged, not raised,
    for the same reason: SQLite's journal undoes the transaction when the file is next opened."""
    if not db.in_transaction:
        return
    try:
        db.execute("ROLLBACK")
    except sqlite3.Error as e:
        log.warning("rollback failed (the journal undoes it on next open): %s", e)


def database_path(db: sqlite3.Connection) -> Path:
    """The file of a connection's main database."""
    return Path(next(r[2] for r in db.execute("PRAGMA database_list") if r[1] == "main"))


@contextmanager
def sqlite_transaction(
    db: sqlite3.Connection, lock: threading.RLock
) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT under `lock`; any exception rolls the whole transaction back,
    and running out of space raises `DiskFull` naming the database file."""
    with lock:
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                rollback(db)
                raise
        except (OSError, sqlite3.Error) as e:
            path = database_path(db)
            if not out_of_space(e, path):
                raise
            raise disk_full(path, e) from e
