"""A workspace: one store with its Engine, its ingest job queue and its uploaded files.

`current()` is the one function that chooses the store a request works on. Today a server has
one workspace; several isolated stores on one server (chosen by a header or a path segment)
change this function and `Workspaces`, not the routes.
"""

from __future__ import annotations

import errno
import re
import unicodedata
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from flask import current_app

from ingest.errors import FileTooLarge, UnsupportedFormat
from ingest.loaders import SUPPORTED_EXTENSIONS
from ingest.pipeline import IngestEvent, IngestReport
from ingest.types import check_metadata
from rag.engine import Engine
from web.errors import BadRequest, NotFound
from web.jobs import FileJob, Job, JobQueue

if TYPE_CHECKING:
    from graph.knowledge_graph import KnowledgeGraph

UPLOADS = "uploads"  # inside the store directory: the files the web app ingested
STAGING = ".incoming"  # inside uploads: files of jobs that have not started


class Workspace:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.root = engine.settings.store_dir
        self.uploads = self.root / UPLOADS
        self.jobs = JobQueue(self._ingest)
        # jobs live in the process: uploads staged for jobs of an earlier run have none now
        _remove_tree(self.uploads / STAGING)

    def close(self) -> None:
        self.jobs.close()
        self.engine.close()

    # --- uploads -----------------------------------------------------------------------------

    def stage_uploads(
        self, files: list[tuple[str, Callable[[Path], None]]], metadata: dict[str, Any]
    ) -> Job:
        """Check every name first (nothing is written if one is refused), save each file to
        the staging folder, then queue one job over them. `files`: (uploaded name, save-to)."""
        metadata = check_metadata(metadata)  # bad metadata is refused before a file is saved
        names = [safe_relative_path(name) for name, _ in files]
        bad = [n for n in names if n.suffix.lower() not in SUPPORTED_EXTENSIONS]
        if bad:
            raise UnsupportedFormat(
                "unsupported file type: " + ", ".join(shown(str(b)) for b in bad[:5])
                + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
                + "; supported: " + ", ".join(sorted(SUPPORTED_EXTENSIONS))
            )  # fmt: skip
        if len(set(names)) != len(names):
            raise BadRequest("the same file name appears twice in one upload")
        taken = set(names)
        if clash := next((n for n in names if any(p in taken for p in n.parents)), None):
            raise BadRequest(
                f"{clash} would sit inside {next(p for p in clash.parents if p in taken)}, which is a file of the same upload"
            )
        self.engine.create_store()  # before anything lands in its directory
        batch = self.uploads / STAGING / _token()
        limit = self.engine.settings.max_file_mb * 2**20
        jobs: list[FileJob] = []
        try:
            for rel, (_, save) in zip(names, files, strict=True):
                staged = batch / rel
                try:
                    staged.parent.mkdir(parents=True, exist_ok=True)
                    save(staged)
                except OSError as e:
                    if e.errno not in (errno.ENAMETOOLONG, errno.EEXIST, errno.ENOTDIR):
                        raise
                    raise BadRequest(
                        f"{shown(str(rel))}: cannot be stored under that name ({e.strerror})"
                    ) from None
                if staged.stat().st_size > limit:
                    raise FileTooLarge(
                        f"{rel}: {staged.stat().st_size / 2**20:.1f} MB is over the "
                        f"{self.engine.settings.max_file_mb:g} MB limit (RAG_MAX_FILE_MB)"
                    )
                jobs.append(FileJob(str(rel), staged, self.uploads / rel))
            return self.jobs.submit(jobs, metadata, staging=batch)
        except BaseException:  # a refused file or a full queue: nothing of this upload stays
            _remove_tree(batch)
            raise

    def reingest(self, doc_id: str) -> Job:
        doc = self.engine.document(doc_id)
        source = Path(doc.source)
        if not source.is_file():
            raise NotFound(f"the file of {doc.name} is no longer at {doc.source}; upload it again")
        name = relative_to(source, self.uploads) or doc.name
        return self.jobs.submit([FileJob(name, source, source)], dict(doc.metadata), force=True)

    def _ingest(
        self, paths: list[Path], progress: Callable[[IngestEvent], None],
        graph_progress: Callable[[int, int], None], force: bool, metadata: dict[str, Any],
    ) -> IngestReport:  # fmt: skip
        return self.engine.ingest(paths, progress, graph_progress, force=force, metadata=metadata)

    def forget(self, source: str) -> None:
        """A deleted document's upload goes with it; files outside uploads/ are the user's
        own and stay."""
        rel = relative_to(Path(source), self.uploads)
        if rel is not None:
            (self.uploads / rel).unlink(missing_ok=True)

    def knowledge_graph(self) -> KnowledgeGraph:
        return self.engine.graph()  # loaded once per graph generation


class Workspaces:
    """The stores this server serves. One for now: the Settings' store."""

    def __init__(self, default: Workspace) -> None:
        self.default = default

    def close(self) -> None:
        self.default.close()


def current() -> Workspace:
    """The workspace of the request being handled."""
    spaces: Workspaces = current_app.extensions["rag"]
    return spaces.default


# --- names of uploaded files -------------------------------------------------------------------

# Control characters (C0, DEL, C1), what Windows refuses in a name, and the marks that turn
# text around or split lines when the name is shown: "\u202etxt.exe" reads "exe.txt".
_UNSAFE = re.compile(
    '[\x00-\x1f\x7f-\x9f<>:"|?*\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]'
)
# Windows opens a device, not a file, for these names with any extension ("nul.txt")
_DEVICES = frozenset(
    ["CON", "PRN", "AUX", "NUL", *(f"{d}{n}" for d in ("COM", "LPT") for n in "123456789¹²³")]
)


def safe_relative_path(name: str) -> PurePosixPath:
    """An uploaded name ("folder/sub/a.pdf") as a relative path that stays in its folder:
    no absolute path, no "..", no hidden or empty parts, no characters file systems refuse,
    no trailing dot or space (Windows drops them), no device name (CON, nul.txt)."""
    parts: list[str] = []
    for raw in name.replace("\\", "/").split("/"):
        part = _UNSAFE.sub("_", unicodedata.normalize("NFC", raw)).strip().strip(".").strip()
        if part in ("", "."):
            continue
        if part.split(".", 1)[0].rstrip().upper() in _DEVICES:
            part = "_" + part
        parts.append(_fit(part, MAX_NAME_BYTES))
    if not parts:
        raise BadRequest(f"{shown(name)} is not a usable file name")
    path = PurePosixPath(*parts)
    if len(path.as_posix().encode()) > MAX_PATH_BYTES:
        raise BadRequest(
            f"{shown(path.as_posix())} is too deep a path: at most {MAX_PATH_BYTES} bytes"
        )
    return path


MAX_NAME_BYTES = 200  # file systems take 255 bytes a name; room left for a temporary suffix
# Linux takes 4096 bytes a path; the store's own path and the staging folder need some of them
MAX_PATH_BYTES = 1024


def shown(name: str, limit: int = 80) -> str:
    """A name as an error message quotes it: repr (control characters visible), cut short."""
    text = repr(name)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fit(part: str, limit: int) -> str:
    """`part` cut to `limit` UTF-8 bytes at a character boundary, its extension kept."""
    if len(part.encode()) <= limit:
        return part
    stem, dot, ext = part.rpartition(".")
    if not dot or len(ext.encode()) > 16:
        stem, ext = part, ""
    suffix = f".{ext}" if ext else ""
    room = limit - len(suffix.encode())
    return stem.encode()[:room].decode("utf-8", "ignore").rstrip() + suffix


def relative_to(path: Path, root: Path) -> str | None:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return None


def _token() -> str:
    import uuid

    return uuid.uuid4().hex[:12]


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
