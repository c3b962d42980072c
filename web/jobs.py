"""Background ingestion: a queue of jobs, one worker thread, one writer at a time.

A job is the files of one upload. The worker moves them from the upload's staging folder into
the store's `uploads/` folder (a second upload of the same name replaces the file, so the
document is updated, not duplicated), ingests them in one batch and follows each file through
its stages (queued → parsing → chunking → embedding → graph → done, or failed / unchanged /
cancelled). Jobs live in the server process: a closed tab or a reloaded page finds them again
with `GET /api/v1/jobs`; a restarted server starts with none (the documents are in the store).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ingest.errors import Cancelled, RagError
from ingest.pipeline import IngestEvent, IngestReport
from web.errors import JobNotFound, NothingToRetry, QueueFull

log = logging.getLogger(__name__)

JobState = Literal["queued", "running", "done", "failed", "cancelled"]
FileStage = Literal[
    "queued", "parsing", "chunking", "embedding", "graph", "done", "failed", "unchanged",
    "cancelled",
]  # fmt: skip
FINISHED: tuple[FileStage, ...] = ("done", "failed", "unchanged", "cancelled")
KEEP_JOBS = 50  # finished jobs remembered for GET /jobs
MAX_QUEUED = 100


@dataclass
class FileJob:
    name: str  # the relative path it was uploaded as
    staged: Path  # where the upload waits until the worker takes it
    target: Path  # where it lives in the store once taken
    stage: FileStage = "queued"
    progress: float = 0.0
    doc_id: str | None = None
    chunks: int = 0
    error: str | None = None
    upload: Path | None = None  # the staged file, while the store's copy waits beside it
    previous: Path | None = None  # the file this upload replaced, until the upload is in

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "stage": self.stage, "progress": round(self.progress, 3),
                "doc_id": self.doc_id, "chunks": self.chunks, "error": self.error}  # fmt: skip


@dataclass
class Job:
    id: str
    files: list[FileJob]
    metadata: dict[str, Any] = field(default_factory=dict)
    force: bool = False  # re-ingest: read the files even where they are unchanged
    staging: Path | None = None  # the folder its uploads wait in, removed once they moved
    state: JobState = "queued"
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    cancel: threading.Event = field(default_factory=threading.Event)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "state": self.state, "created_at": self.created_at,
            "started_at": self.started_at, "finished_at": self.finished_at,
            "files": [f.to_dict() for f in self.files], "error": self.error,
        }  # fmt: skip


# (files to ingest, per-event progress, per-graph-step progress, force, metadata) → the report
IngestFn = Callable[
    [list[Path], Callable[[IngestEvent], None], Callable[[int, int], None], bool, dict[str, Any]],
    IngestReport,
]


class JobQueue:
    """Jobs in order of submission, run one at a time by a daemon worker thread."""

    def __init__(self, ingest: IngestFn) -> None:
        self._ingest = ingest
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()  # guards _jobs and every Job's fields
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._worker: threading.Thread | None = None

    # --- what requests call ------------------------------------------------------------------

    def submit(
        self,
        files: list[FileJob],
        metadata: dict[str, Any] | None = None,
        *,
        force: bool = False,
        staging: Path | None = None,
    ) -> Job:
        with self._lock:
            waiting = sum(j.state == "queued" for j in self._jobs.values())
            if waiting >= MAX_QUEUED:
                raise QueueFull(f"{waiting} jobs are waiting; try again when some have finished")
            job = Job(uuid.uuid4().hex[:12], files, dict(metadata or {}), force, staging)
            self._jobs[job.id] = job
            self._forget_old()
        self._start()
        self._queue.put(job)
        return job

    def snapshot(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            if job_id not in self._jobs:
                raise JobNotFound(f"no job {job_id}")
            return self._jobs[job_id].to_dict()

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            jobs = sorted(self._jobs.values(), key=lambda j: -j.created_at)
            return [j.to_dict() for j in jobs]

    def pending_files(self) -> list[tuple[Job, FileJob]]:
        """Files not in the store: waiting, being read, or failed in their latest job (a file
        that a later job ingested, or that is written and only waits for the graph, is not)."""
        with self._lock:
            latest: dict[Path, tuple[Job, FileJob]] = {}
            for j in sorted(self._jobs.values(), key=lambda j: j.created_at):
                for f in j.files:
                    latest[f.target] = (j, f)
        return [(j, f) for j, f in latest.values()
                if f.doc_id is None and f.stage not in ("done", "unchanged", "cancelled")]  # fmt: skip

    def cancel(self, job_id: str) -> dict[str, Any]:
        """Stop a job: a queued one never starts; a running one stops at the next stage."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise JobNotFound(f"no job {job_id}")
            if job.state in ("queued", "running"):
                job.cancel.set()
                if job.state == "queued":
                    self._finish_cancelled(job)
            return job.to_dict()

    def retry(self, job_id: str) -> Job:
        """A new job over the files of `job_id` that failed (their uploads were kept)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise JobNotFound(f"no job {job_id}")
            failed = [f for f in job.files if f.stage in ("failed", "cancelled")]
            # the failed upload itself: still staged, or (a new name) where it was put
            again = [FileJob(f.name, f.staged, f.target) for f in failed if f.staged.is_file()]
        if not again:
            raise NothingToRetry(f"job {job_id} has no failed file to retry")
        retried = self.submit(again, job.metadata, force=job.force, staging=job.staging)
        with self._lock:
            job.staging = None  # the new job owns what is left of the staging folder
        return retried

    def close(self, timeout: float = 5.0) -> None:
        """Cancel what runs, drop what waits, and let the worker end."""
        with self._lock:
            for job in self._jobs.values():
                if job.state in ("queued", "running"):
                    job.cancel.set()
        self._queue.put(None)
        if self._worker is not None:
            self._worker.join(timeout)

    def wait(self, job_id: str, timeout: float = 600.0) -> dict[str, Any]:
        """Block until the job has finished (tests, the CLI); its final state."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            snap = self.snapshot(job_id)
            if snap["state"] not in ("queued", "running"):
                return snap
            time.sleep(0.05)
        raise TimeoutError(f"job {job_id} still running after {timeout}s")

    # --- the worker --------------------------------------------------------------------------

    def _start(self) -> None:
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(
                    target=self._loop, name="ingest-worker", daemon=True
                )
                self._worker.start()

    def _loop(self) -> None:
        while (job := self._queue.get()) is not None:
            try:
                self._run(job)
            except Exception:  # a bug must not kill the worker and strand every later job
                log.exception("ingest job %s failed", job.id)
                with self._lock:
                    self._fail_rest(job, "internal error; the server log has the details")

    def _run(self, job: Job) -> None:
        with self._lock:
            if job.state != "queued" or job.cancel.is_set():  # cancelled as it was taken
                return
            job.state, job.started_at = "running", time.time()
        try:
            paths = self._take_files(job)
            by_source = {str(f.target.resolve()): f for f in job.files}

            def progress(ev: IngestEvent) -> None:
                with self._lock:
                    if ev.result is not None:
                        f = by_source.get(ev.result.source)
                        if f is not None:
                            self._settle(f, ev.result.status, ev.result.doc_id,
                                         ev.result.n_chunks, ev.result.error)  # fmt: skip
                    elif ev.source in by_source and ev.stage is not None:
                        f = by_source[ev.source]
                        f.stage, f.progress = ev.stage, _stage_progress(ev.stage, ev.fraction)
                if job.cancel.is_set():
                    raise Cancelled("cancelled")

            def graph_progress(done: int, total: int) -> None:
                with self._lock:
                    for f in job.files:
                        if f.stage == "graph":
                            f.progress = 0.8 + 0.2 * (done / total if total else 1.0)
                if job.cancel.is_set():
                    raise Cancelled("cancelled")

            if paths:
                self._ingest(paths, progress, graph_progress, job.force, job.metadata)
        except Cancelled:
            with self._lock:
                self._finish_cancelled(job)
            self._restore_replaced(job)
            return
        except RagError as e:  # not about one file: a missing model, a locked store
            with self._lock:
                self._fail_rest(job, str(e))
            self._restore_replaced(job)
            return
        self._finish(job)
        self._restore_replaced(job)

    def _finish(self, job: Job) -> None:
        with self._lock:
            for f in job.files:
                if f.stage == "graph":
                    f.stage, f.progress = "done", 1.0
                elif f.stage not in FINISHED:  # the ingest never reported it
                    f.stage, f.error = "failed", f.error or "not ingested"
            job.state = "failed" if all(f.stage == "failed" for f in job.files) else "done"
            job.finished_at = time.time()

    def _take_files(self, job: Job) -> list[Path]:
        """Move the staged uploads into the store; what cannot move fails alone."""
        paths: list[Path] = []
        for f in job.files:
            try:
                if f.staged != f.target:
                    f.target.parent.mkdir(parents=True, exist_ok=True)
                    if f.target.exists():  # kept until the new file is in: it may not parse
                        f.previous = f.target.with_name(f".{f.target.name}.previous-{job.id}")
                        shutil.move(f.target, f.previous)
                    shutil.move(f.staged, f.target)
                    f.upload, f.staged = f.staged, f.target
                paths.append(f.target)
            except OSError as e:
                with self._lock:
                    f.stage, f.error = "failed", f"{f.name}: could not store the upload: {e}"
        if job.staging is not None:
            _remove_empty_dirs(job.staging)
        return paths

    def _restore_replaced(self, job: Job) -> None:
        """An upload that failed or was cancelled gives its name back to the file it replaced
        (whose document the store still holds) and waits in staging for a retry."""
        for f in job.files:
            if f.previous is None:
                continue
            try:
                if f.stage in ("failed", "cancelled") and f.upload is not None:
                    f.upload.parent.mkdir(parents=True, exist_ok=True)
                    shutil.move(f.target, f.upload)
                    shutil.move(f.previous, f.target)
                    f.staged = f.upload
                else:
                    f.previous.unlink(missing_ok=True)
                f.previous = None
            except OSError:
                log.exception("could not put back %s", f.target)

    @staticmethod
    def _settle(
        f: FileJob, status: str, doc_id: str | None, chunks: int, error: str | None
    ) -> None:
        f.doc_id, f.chunks, f.error = doc_id, chunks, error
        if status == "failed":
            f.stage, f.progress = "failed", 1.0
        elif status == "unchanged":
            f.stage, f.progress = "unchanged", 1.0
        else:  # written: searchable now; the graph comes next
            f.stage, f.progress = "graph", 0.8

    def _finish_cancelled(self, job: Job) -> None:
        for f in job.files:
            if f.stage == "graph":  # written to the store; the graph catches up next time
                f.stage, f.progress = "done", 1.0
            elif f.stage not in FINISHED:
                f.stage = "cancelled"
        job.state, job.finished_at = "cancelled", time.time()

    def _fail_rest(self, job: Job, message: str) -> None:
        for f in job.files:
            if f.stage == "graph":
                f.stage, f.progress = "done", 1.0
            elif f.stage not in FINISHED:
                f.stage, f.error = "failed", message
        job.state, job.error, job.finished_at = "failed", message, time.time()

    def _forget_old(self) -> None:
        finished = [j for j in self._jobs.values() if j.state not in ("queued", "running")]
        for j in sorted(finished, key=lambda j: j.created_at)[: max(0, len(finished) - KEEP_JOBS)]:
            del self._jobs[j.id]
            if j.staging is not None:  # uploads of a job cancelled before it ran: no retry now
                shutil.rmtree(j.staging, ignore_errors=True)


def _remove_empty_dirs(root: Path) -> None:
    """`root` and the folders under it that hold nothing (a file that could not move stays)."""
    for sub in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        with contextlib.suppress(OSError):
            sub.rmdir()
    with contextlib.suppress(OSError):
        root.rmdir()


_STAGE_SPAN = {"parsing": (0.0, 0.1), "chunking": (0.1, 0.2), "embedding": (0.2, 0.8)}


def _stage_progress(stage: str, fraction: float) -> float:
    lo, hi = _STAGE_SPAN.get(stage, (0.0, 1.0))
    return lo + (hi - lo) * min(max(fraction, 0.0), 1.0)
