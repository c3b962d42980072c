"""One Engine shared by many threads: readers answer while a writer re-ingests, and every read
sees one whole generation of the store — never rows of one write with vectors of another.

Every document holds one chunk that matches the query, in the version the writer last wrote.
A read that ranked chunks in one generation and resolved them in the next would lose the
replaced ones (fewer than k hits) or mix versions; both are checked on every read.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from ingest.embedding import HashingEmbedder
from ingest.pipeline import TextRecord
from rag.engine import Engine
from rag.generation.scripted import ScriptedGenerator
from rag.settings import Settings

DOCS = 12
K = 8
READERS = 8
WRITES = 40


def _record(i: int, version: int) -> TextRecord:
    body = (
        f"Version {version} of note {i}. QLoRA quantizes the frozen base model to 4-bit NF4 "
        f"and trains LoRA adapters on top; note {i} revision {version} says so."
    )
    return TextRecord(f"note-{i}", f"note {i} v{version}", body)


def test_readers_see_whole_generations_while_a_writer_ingests(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"HOME": str(tmp_path)}, store_dir=tmp_path / "kb", embedder="hashing", graph="off"
    )
    engine = Engine(settings, embedder=HashingEmbedder(), generator=ScriptedGenerator("NF4 [1]"))
    engine.ingest_texts([_record(i, 0) for i in range(DOCS)])
    errors: list[str] = []
    reads = [0] * READERS
    done = threading.Event()

    def read(n: int) -> None:
        methods = ("hybrid", "dense", "bm25")
        while not done.is_set():
            method = methods[(n + reads[n]) % 3]
            try:
                if n % 4 == 3:  # some readers ask: retrieval + the (serialised) generator
                    answer = engine.ask(
                        "How does QLoRA quantize the base model?", k=K, method=method
                    )  # type: ignore[arg-type]
                    pairs = [(s.title, s.text) for s in answer.sources]
                else:
                    hits = engine.retrieve("QLoRA quantizes NF4", k=K, method=method)  # type: ignore[arg-type]
                    pairs = [(h.document.title, h.chunk.text) for h in hits]
            except Exception as e:  # any error in a reader is a failure of the test
                errors.append(f"reader {n}: {e!r}")
                return
            titles = [t for t, _ in pairs]
            if len(pairs) != K or len(set(titles)) != K:
                errors.append(f"reader {n} ({method}): {len(pairs)} hits, {len(set(titles))} docs")
            for title, text in pairs:
                version = title.rsplit(" v", 1)[1]
                if f"Version {version} of" not in text:  # chunk and document of one write
                    errors.append(f"reader {n}: {title!r} with text of another version")
            reads[n] += 1

    threads = [threading.Thread(target=read, args=(n,)) for n in range(READERS)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 120
        for w in range(1, WRITES + 1):
            report = engine.ingest_texts([_record(w % DOCS, w), _record((w + 5) % DOCS, w)])
            assert report.count("updated") == 2, report.summary()
            if time.monotonic() > deadline:
                break
    finally:
        done.set()
        for t in threads:
            t.join(timeout=30)
    engine.close()
    assert not errors, errors[:5]
    assert all(r > 0 for r in reads), reads  # every reader really ran beside the writer
    assert sum(reads) >= READERS * 3


def test_graph_readers_while_the_graph_is_rebuilt(tmp_path: Path) -> None:
    """Graph mode reloads its index when the graph changes; a load mid-rebuild must see one
    whole graph (a snapshot), and every answer still finds the entity the question names."""
    settings = Settings.from_env(
        {"HOME": str(tmp_path)}, store_dir=tmp_path / "kb", embedder="hashing", graph="fast"
    )
    engine = Engine(settings, embedder=HashingEmbedder(), generator=ScriptedGenerator("NF4 [1]"))
    engine.ingest_texts([_record(i, 0) for i in range(DOCS)])
    errors: list[str] = []
    reads = [0] * 4
    done = threading.Event()

    def read(n: int) -> None:
        while not done.is_set():
            try:
                ctx = engine.context("What does QLoRA quantize?", mode="graph", k=4)
            except Exception as e:
                errors.append(f"reader {n}: {e!r}")
                return
            names = {e["name"] for e in ctx.trace[0]["entities"]}
            if len(ctx.hits) != 4 or "QLoRA" not in names:
                errors.append(f"reader {n}: {len(ctx.hits)} hits, entities {sorted(names)}")
            reads[n] += 1

    threads = [threading.Thread(target=read, args=(n,)) for n in range(len(reads))]
    for t in threads:
        t.start()
    try:
        for w in range(1, 9):
            engine.ingest_texts([_record(w % DOCS, w)])
    finally:
        done.set()
        for t in threads:
            t.join(timeout=30)
    engine.close()
    assert not errors, errors[:5]
    assert all(r > 0 for r in reads), reads
