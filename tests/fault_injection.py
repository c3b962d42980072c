"""Run `rag` with a fault at a chosen boundary of an ingest: `python -m tests.fault_injection ARGS`.

The reliability tests kill (or fill the disk under) a real `rag ingest` process. A random delay
alone mostly lands in whatever phase takes longest, so this wrapper can also strike at an exact
point: it wraps the function at a phase's boundary and, on its Nth call, sends SIGKILL to its
own process (the same signal `kill -9` sends) or fills the disk. Nothing is mocked: the wrapped
function runs as it always does until the fault strikes, and then the process simply dies.

Environment (all optional; without RAG_FAULT the wrapper only records):

    RAG_FAULT       PHASE:N:POINT[:ACTION]   strike on the Nth call at POINT of PHASE;
                    ACTION is kill (default) or fill (fill the disk, then carry on)
    RAG_FAULT_LOG   append-only event log, one line per event (see `Event` in kill_trials.py):
                    `start`, `phase P`, `call P N`, `reported STATUS DOC_ID N_CHUNKS SOURCE`
    RAG_FAULT_FILL  the file `fill` grows until the disk it is on has no space left

Phases and their points (what is on disk when the process dies there):

    parsing    before | after     a file about to be / just parsed (`load_document`)
    embedding  before | after     a batch about to be / just embedded (ingest's, not the graph's)
    index      before             a document's transaction open, chunks inserted, FTS5 not yet
               inside             FTS5 rows written too, COMMIT not yet run
               after              committed; the in-memory vector index not yet updated
    graph      inside | after     a graph.sqlite transaction before / after its COMMIT
    faiss      before             the vector cache about to be saved
               tmp                its temp file written, not yet renamed over the target
               after              saved; older generations' files not yet removed
    atomic     tmp                any atomic file write (ingest.atomic): its temp file made,
                                  nothing in it yet (call 1 of a new store: the manifest)
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any

PHASES = ("parsing", "embedding", "index", "graph", "faiss")
POINTS = {
    "parsing": ("before", "after"),
    "embedding": ("before", "after"),
    "index": ("before", "inside", "after"),
    "graph": ("inside", "after"),
    "faiss": ("before", "tmp", "after"),
    "atomic": ("tmp",),  # not one of an ingest's phases: any atomic file write (the manifest…)
}


class _Recorder:
    """Counts boundary calls, writes the event log and strikes the configured fault once."""

    def __init__(self, spec: str | None, log: str | None, fill: str | None) -> None:
        self.fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT) if log else None
        self.fill_path = Path(fill) if fill else None
        self.calls = dict.fromkeys(POINTS, 0)
        self.phase = ""
        self.in_graph = False
        self.fault: tuple[str, int, str, str] | None = None
        if spec:
            phase, n, point, *action = spec.split(":")
            if phase not in POINTS or point not in POINTS[phase]:
                raise SystemExit(f"RAG_FAULT: no point {point!r} in phase {phase!r}")
            self.fault = (phase, int(n), point, action[0] if action else "kill")

    def event(self, line: str) -> None:
        if self.fd is not None:  # one write(2) per line: a SIGKILL never leaves half of one
            os.write(self.fd, (line.replace("\n", " ") + "\n").encode())

    def enter(self, phase: str) -> None:
        """Mark the start of a phase in the log (a random kill is put down to the last one)."""
        if phase != self.phase:
            self.phase = phase
            self.event(f"phase {phase}")

    def call(self, phase: str) -> int:
        self.enter(phase)
        self.calls[phase] += 1
        self.event(f"call {phase} {self.calls[phase]}")
        return self.calls[phase]

    def point(self, phase: str, n: int, point: str) -> None:
        """Strike if this is the configured call and point."""
        if self.fault is None or self.fault[:3] != (phase, n, point):
            return
        action = self.fault[3]
        self.fault = None  # once
        self.event(f"fault {phase} {n} {point} {action}")
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif action == "fill":
            self._fill()
        else:
            raise SystemExit(f"RAG_FAULT: unknown action {action!r}")

    def _fill(self) -> None:
        """Grow the filler file until the disk refuses another byte (a disk filling up under us:
        another process's download, a log gone wild)."""
        assert self.fill_path is not None, "RAG_FAULT_FILL names the filler file"
        with self.fill_path.open("ab", buffering=0) as f:
            for size in (2**20, 2**12, 1):
                with contextlib.suppress(OSError):
                    while True:
                        f.write(b"\0" * size)
        try:  # a write that fits nowhere must now fail
            with self.fill_path.open("ab", buffering=0) as f:
                f.write(b"\0" * 2**16)
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
        self.event("filled")


def _around(rec: _Recorder, phase: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` with a `before` point at its entry and an `after` point once it returns."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if phase == "embedding" and rec.in_graph:  # the graph embeds entity names: not ours
            return fn(*args, **kwargs)
        n = rec.call(phase)
        rec.point(phase, n, "before")
        out = fn(*args, **kwargs)
        rec.point(phase, n, "after")
        return out

    return wrapper


def install(rec: _Recorder) -> None:
    """Wrap each phase's boundary function where its callers look it up."""
    import faiss

    import graph.store
    import ingest.atomic
    import ingest.pipeline
    from graph.builder import GraphBuilder
    from ingest.embedding import HashingEmbedder
    from ingest.store.faiss_dense import FaissDenseIndex
    from ingest.store.fts5 import Fts5KeywordIndex
    from ingest.vector_index import FaissIndex
    from rag.engine import Engine

    temp_path = ingest.atomic.temp_path

    def temp_then_strike(path: Path) -> Path:
        tmp = temp_path(path)
        n = rec.calls["atomic"] = rec.calls["atomic"] + 1  # no phase: it happens in several
        rec.point("atomic", n, "tmp")
        return tmp

    ingest.atomic.temp_path = temp_then_strike
    ingest.pipeline.load_document = _around(rec, "parsing", ingest.pipeline.load_document)  # type: ignore[attr-defined]
    HashingEmbedder.embed_passages = _around(rec, "embedding", HashingEmbedder.embed_passages)  # type: ignore[method-assign]

    add = Fts5KeywordIndex.add

    def fts_add(db: Any, rowids: Any, texts: Any) -> None:
        n = rec.call("index")
        rec.point("index", n, "before")
        add(db, rowids, texts)
        rec.point("index", n, "inside")

    Fts5KeywordIndex.add = staticmethod(fts_add)  # type: ignore[method-assign]
    follow = FaissDenseIndex.follow

    def follow_after_commit(self: Any, *args: Any) -> None:
        rec.point("index", rec.calls["index"], "after")
        follow(self, *args)

    FaissDenseIndex.follow = follow_after_commit  # type: ignore[method-assign]

    tx = graph.store.sqlite_transaction

    @contextmanager
    def graph_tx(db: Any, lock: Any) -> Iterator[Any]:
        n = rec.call("graph")
        with tx(db, lock) as conn:
            yield conn
            rec.point("graph", n, "inside")  # the body ran; COMMIT is what the exit does
        rec.point("graph", n, "after")

    graph.store.sqlite_transaction = graph_tx  # type: ignore[assignment]
    sync = GraphBuilder.sync

    def graph_sync(self: Any, *args: Any, **kwargs: Any) -> Any:
        rec.in_graph = True
        rec.enter("graph")  # extraction comes before the first graph write: it is this phase
        try:
            return sync(self, *args, **kwargs)
        finally:
            rec.in_graph = False

    GraphBuilder.sync = graph_sync  # type: ignore[method-assign]
    save, write_index = FaissIndex.save, faiss.write_index

    def faiss_save(self: Any, path: Path) -> None:
        n = rec.call("faiss")
        rec.point("faiss", n, "before")

        def write_then_strike(index: Any, name: str) -> None:
            write_index(index, name)
            rec.point("faiss", n, "tmp")

        faiss.write_index = write_then_strike
        try:
            save(self, path)
        finally:
            faiss.write_index = write_index
        rec.point("faiss", n, "after")

    FaissIndex.save = faiss_save  # type: ignore[method-assign]
    ingest_ = Engine.ingest

    def reporting_ingest(self: Any, paths: Any, progress: Any = None, *a: Any, **kw: Any) -> Any:
        def tee(ev: Any) -> None:
            if progress is not None:
                progress(ev)  # the CLI has shown it: from now on it counts as reported
            r = ev.result
            if r is not None and r.status != "failed":
                rec.event(f"reported {r.status} {r.doc_id} {r.n_chunks} {r.source}")

        return ingest_(self, paths, tee, *a, **kw)

    Engine.ingest = reporting_ingest  # type: ignore[method-assign]


def main(argv: list[str]) -> int:
    rec = _Recorder(
        os.environ.get("RAG_FAULT"),
        os.environ.get("RAG_FAULT_LOG"),
        os.environ.get("RAG_FAULT_FILL"),
    )
    install(rec)
    from rag.cli.main import main as rag_main

    rec.event("start")
    return rag_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
