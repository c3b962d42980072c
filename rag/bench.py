"""`rag bench`: ingest throughput, peak memory and retrieval latency on real QA corpora.

All given datasets go into one store (cached under the cache directory, keyed by their
content and the chunk size), so a second run measures retrieval only. Small chunks make a
store of 10k+ chunks out of the ~5k passages in ../shared/datasets.
"""

from __future__ import annotations

import hashlib
import resource
import statistics
import time
from pathlib import Path
from typing import Any

from ingest.pipeline import TextRecord
from rag.engine import Engine
from rag.evaluation import ingest_with_bar, load_dataset
from rag.modes.registry import check_method
from rag.retrieval import METHODS
from rag.settings import Settings


def percentile(xs: list[float], p: float) -> float:
    """The nearest-rank `p` quantile (0 < p < 1) of `xs`, rounded to 2 decimals."""
    return round(sorted(xs)[min(len(xs) - 1, int(p * len(xs)))], 2)


def load_corpora(folders: list[Path]) -> tuple[list[TextRecord], list[dict[str, Any]]]:
    """The passages and questions of every dataset folder, in order.

    Passage ids are unique only within a dataset, so with several folders each key (and each
    question's supporting ids) gets the folder's name in front; one dataset keeps `rag eval`'s
    keys, so `--store` can point at its cached store."""
    records: list[TextRecord] = []
    questions: list[dict[str, Any]] = []
    for folder in folders:
        recs, qs = load_dataset(folder)
        prefix = f"{folder.name}/" if len(folders) > 1 else ""
        records += [TextRecord(prefix + r.key, r.title, r.text) for r in recs]
        questions += [
            {**q, "supporting_ids": [prefix + str(g) for g in q.get("supporting_ids", [])]}
            for q in qs
        ]
    return records, questions


def run_bench(
    folders: list[Path],
    settings: Settings,
    *,
    store: Path | None = None,
    progress: bool = True,
    limit: int | None = None,
) -> dict[str, Any]:
    """Ingest the corpora, time retrieval (on the first `limit` questions, default all); with
    settings.graph fast|llm, also the graph build."""
    records, rows = load_corpora(folders)
    rows = rows[:limit] if limit else rows
    questions = [str(q["question"]) for q in rows]
    h = hashlib.sha256(f"{settings.embedder}|{settings.chunk_tokens}".encode())
    for folder in folders:
        h.update((folder / "corpus.jsonl").read_bytes())
    store = store or settings.cache_dir / "bench" / h.hexdigest()[:12]
    engine = Engine(settings.with_(store_dir=store, graph="off"))
    report = ingest_with_bar(engine, records, "ingest", progress)
    chunks = engine.counts().chunks
    # translation (rag.crosslingual) first, timed on its own: the methods below then search in
    # both languages with the translation cached, so their times are the searches' own
    translated: list[float] = []
    for q in questions:
        t0 = time.perf_counter()
        if engine.services.translation(q) is not None:
            translated.append((time.perf_counter() - t0) * 1000)
    latency: dict[str, dict[str, float]] = {}
    for method in map(check_method, METHODS):
        engine.retrieve(questions[0], method=method)  # warm: models, index, jieba
        times = []
        for q in questions:
            t0 = time.perf_counter()
            engine.retrieve(q, k=settings.top_k, method=method)
            times.append((time.perf_counter() - t0) * 1000)
        latency[method] = {
            "p50_ms": percentile(times, 0.5),
            "p95_ms": percentile(times, 0.95),
            "mean_ms": round(statistics.fmean(times), 2),
        }
    written = report.chunks_written
    graph: dict[str, Any] | None = None
    if settings.graph != "off":
        with Engine(settings.with_(store_dir=store), embedder=engine.embedder) as with_graph:
            sync = with_graph.sync_graph()
            assert sync is not None
            graph = {
                "mode": settings.graph, "documents_added": sync.added,
                "extract_s": round(sync.extract_s, 2), "resolve_s": round(sync.resolve_s, 2),
                "per_1000_chunks_s": round((sync.extract_s + sync.resolve_s) * 1000 / max(chunks, 1), 2),
                "entities": sync.entities, "relations": sync.relations, "communities": sync.communities,
            }  # fmt: skip
    engine.close()
    return {
        "datasets": [f.name for f in folders],
        "documents": len(records),
        "chunks": chunks,
        "chunk_tokens": settings.chunk_tokens,
        "ingest": {
            "seconds": round(report.seconds, 2),
            "chunks_written": written,
            "chunks_per_s": round(written / report.seconds, 1) if written else None,
        },
        "graph": graph,
        "queries": len(questions),
        "translation": {
            "questions": len(translated),
            "p50_ms": percentile(translated, 0.5),
            "p95_ms": percentile(translated, 0.95),
        }
        if translated
        else None,
        "retrieval": latency,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "store": str(store),
    }
