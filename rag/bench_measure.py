"""What `rag bench --against` and scripts/bench_scale.py measure with: our chunker's chunks with
the ids our ingest gives them, an embedder that clocks itself, interleaved timing of retrieval
paths, latency percentiles, bytes on disk and peak memory."""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ingest.chunking import ChunkingConfig, chunk_document, indexed_text
from ingest.embedding import Embedder
from ingest.hashing import content_id, file_digest
from ingest.pipeline import IngestConfig, TextRecord
from ingest.types import Block, ParsedDocument
from rag.bench import percentile
from rag.engine import Engine
from rag.evaluation import RANK_DEPTH
from rag.modes.registry import check_method

EMBED_BATCH = IngestConfig().embed_batch  # both sides embed in batches of this many chunks

Ranked = list[tuple[str, str]]  # (chunk id, passage id), best first


@dataclass(frozen=True)
class BenchChunk:
    id: str  # the id our store gives the chunk
    passage: str  # the dataset passage (our document's source)
    text: str  # the text both sides embed: title and section, then the chunk


def chunk_records(
    records: Sequence[TextRecord], count_tokens: Callable[[str], int], chunking: ChunkingConfig
) -> list[BenchChunk]:
    """Our chunker's chunks of text records, with the ids our ingest gives them: the document id
    is the hash of the record's source and content, as `ingest.pipeline` makes it."""
    out: list[BenchChunk] = []
    for r in records:
        doc_id = content_id(r.key, file_digest(f"{r.title}\n{r.text}".encode()))
        parsed = ParsedDocument(r.key, r.title, "text", [Block("paragraph", r.text)])
        for c in chunk_document(parsed, doc_id, count_tokens, chunking):
            out.append(BenchChunk(c.id, r.key, indexed_text(r.title, c.heading_path, c.text)))
    return out


class TimedEmbedder:
    """Passes every call to `inner` and adds up the seconds spent in it, so the embedding both
    sides share can be taken out of what each costs."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.passage_s = self.query_s = 0.0

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dim(self) -> int:
        return self.inner.dim

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        t0 = time.perf_counter()
        try:
            return self.inner.embed_passages(texts)
        finally:
            self.passage_s += time.perf_counter() - t0

    def embed_query(self, text: str) -> np.ndarray:
        t0 = time.perf_counter()
        try:
            return self.inner.embed_query(text)
        finally:
            self.query_s += time.perf_counter() - t0

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def warm(self, texts: Sequence[str]) -> None:
        """Load what the first real texts load (e5's bulk runtime loads on a batch of 16, the
        keyword tokenizer its dictionary) before anything is timed, on neither side's clock."""
        sample = list(texts[:16]) * (16 // max(1, len(texts[:16])))
        self.inner.embed_passages(sample)
        self.inner.embed_query(sample[0])


def dir_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def ours_ranked(engine: Engine, method: str, k: int = RANK_DEPTH) -> Callable[[str], Ranked]:
    checked = check_method(method)

    def run(question: str) -> Ranked:
        hits = engine.retrieve(question, k=k, method=checked)
        return [(h.chunk.id, h.document.source) for h in hits]

    return run


def latency(ms: list[float]) -> dict[str, float]:
    return {"p50_ms": percentile(ms, 0.5), "p95_ms": percentile(ms, 0.95),
            "p99_ms": percentile(ms, 0.99), "mean_ms": round(statistics.fmean(ms), 2)}  # fmt: skip


def time_paths(
    paths: dict[str, Callable[[str], Ranked]], questions: Sequence[str], embedder: TimedEmbedder
) -> dict[str, dict[str, Any]]:
    """Run every path on every question, interleaved (the first path rotating per question) so
    that a busy moment of the machine falls on all paths alike. Each path's first call, which
    loads what it needs (our FAISS index is built then), is timed apart."""
    names = list(paths)
    out: dict[str, dict[str, Any]] = {n: {"total": [], "search": [], "ranked": []} for n in names}
    for n in names:
        t0 = time.perf_counter()
        paths[n](questions[0])
        out[n]["first_ms"] = round((time.perf_counter() - t0) * 1000, 2)
    for i, q in enumerate(questions):
        for n in names[i % len(names) :] + names[: i % len(names)]:
            e0, t0 = embedder.query_s, time.perf_counter()
            ranked = paths[n](q)
            total = time.perf_counter() - t0
            out[n]["total"].append(total * 1000)
            out[n]["search"].append((total - (embedder.query_s - e0)) * 1000)
            out[n]["ranked"].append(ranked)
    return out
