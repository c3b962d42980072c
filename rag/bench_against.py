"""`rag bench --against llamaindex`: our pipeline beside a plain LlamaIndex `VectorStoreIndex`, in
one process, on the same corpus, with the same embedder and the same chunks.

What each side does, so the reader knows which costs compare:

- **ingest**: ours parses each passage, chunks it, embeds it, and writes the SQLite rows, the
  vectors and the FTS5 keyword index in one transaction per document (durable on disk); the
  FAISS index is built from those rows on the first query. LlamaIndex gets our chunker's chunks
  as TextNodes (chunking timed on its side too), embeds them with the same `Embedder` wrapped as
  a `BaseEmbedding`, in batches of the same size, and keeps them in memory (its default
  `SimpleVectorStore` and docstore); persisting them is timed apart. Embedding is the same work
  on both sides, so it is measured apart (`embed_s`) and `other_s` is what the pipelines add.
- **retrieval**: ours dense (FAISS exact inner product, then the chunk rows from SQLite),
  bm25 (FTS5) and hybrid (the default: dense + BM25 fused), against LlamaIndex's dense
  (SimpleVectorStore: a Python loop of numpy dot products over every stored vector). Dense vs
  dense is like for like; our hybrid vs their dense is each one's default. Both embed the query
  with the same embedder: `search_*` is the time without it. Every path retrieves RANK_DEPTH
  chunks, ranked into passages for recall@5 exactly as `rag eval` does.
"""

from __future__ import annotations

import importlib
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from ingest.chunking import ChunkingConfig
from ingest.errors import MissingDependency, UsageError
from rag.bench import load_corpora
from rag.bench_measure import (
    EMBED_BATCH,
    Ranked,
    TimedEmbedder,
    chunk_records,
    dir_bytes,
    latency,
    ours_ranked,
    peak_rss_mb,
    time_paths,
)
from rag.engine import Engine, build_embedder
from rag.evaluation import RANK_DEPTH, ingest_with_bar
from rag.metrics import recall_at, reciprocal_rank
from rag.settings import Settings

AGAINST = ("llamaindex",)
OUR_METHODS = ("dense", "bm25", "hybrid")
INSTALL = "pip install -e '.[llamaindex]'"


def llamaindex_side() -> ModuleType:
    """rag.bench_llamaindex, or one MissingDependency naming the extra to install."""
    try:
        return importlib.import_module("rag.bench_llamaindex")
    except ModuleNotFoundError as e:  # only a missing llama_index; a broken install stays visible
        if not (e.name or "").startswith("llama_index"):
            raise
        raise MissingDependency(
            f"`rag bench --against llamaindex` needs llama-index-core, which is not installed: "
            f"run `{INSTALL}` in the project directory"
        ) from e


def scores(ranked: list[Ranked], gold: list[list[str]]) -> dict[str, float | None]:
    """recall@5 and MRR over passages, as `rag eval` ranks them (questions with gold only)."""
    r5, rr = [], []
    for hits, g in zip(ranked, gold, strict=True):
        if g:
            passages = list(dict.fromkeys(p for _, p in hits))
            r5.append(recall_at(passages, g, 5))
            rr.append(reciprocal_rank(passages, g))
    return {"recall@5": round(statistics.fmean(r5), 4) if r5 else None,
            "mrr": round(statistics.fmean(rr), 4) if rr else None}  # fmt: skip


def _fresh_store(store: Path | None, settings: Settings) -> tuple[Path, bool]:
    if store is None:
        root = settings.cache_dir / "bench"
        root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="against-", dir=root)), True
    if store.exists() and any(store.iterdir()):
        raise UsageError(
            f"--store {store} is not empty: --against times a fresh ingest, so give a new directory"
        )
    return store, False


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def run_against(
    folders: list[Path],
    settings: Settings,
    against: str = "llamaindex",
    *,
    store: Path | None = None,
    limit: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    if against not in AGAINST:
        raise UsageError(f"--against {against!r}: choose one of {', '.join(AGAINST)}")
    li = llamaindex_side()  # before any work: a missing extra fails in a blink
    load_before = os.getloadavg()[0]
    records, rows = load_corpora(folders)
    rows = rows[:limit] if limit else rows
    if not rows:
        raise UsageError("no questions to time: the datasets' questions.jsonl are empty")
    questions = [str(q["question"]) for q in rows]
    gold = [[str(g) for g in q.get("supporting_ids", [])] for q in rows]
    embedder = TimedEmbedder(build_embedder(settings))
    embedder.warm([r.text for r in records])
    chunking = ChunkingConfig(settings.chunk_tokens, settings.chunk_overlap)
    store_dir, temporary = _fresh_store(store, settings)
    engine = Engine(settings.with_(store_dir=store_dir, graph="off"), embedder=embedder)
    persist_dir = Path(tempfile.mkdtemp(prefix="llamaindex-", dir=store_dir.parent))
    try:
        report = ingest_with_bar(engine, records, "ingest (ours)", progress)
        ours_ingest = {"seconds": report.seconds, "embed_s": embedder.passage_s}
        embedder.passage_s = 0.0
        t0 = time.perf_counter()
        chunks = chunk_records(records, embedder.count_tokens, chunking)
        chunking_s = time.perf_counter() - t0
        theirs = li.LlamaIndexSide(chunks, embedder, batch=EMBED_BATCH, k=RANK_DEPTH)
        their_ingest = {"seconds": time.perf_counter() - t0, "embed_s": embedder.passage_s,
                        "chunking_s": chunking_s}  # fmt: skip
        our_ids = {c.id for d in engine.documents() for c in engine.chunks(d.id)}
        paths = {f"ours {m}": ours_ranked(engine, m) for m in OUR_METHODS}
        paths["llamaindex dense"] = theirs.retrieve
        timed = time_paths(paths, questions, embedder)
        t1 = time.perf_counter()
        theirs.persist(persist_dir)
        persist_s = time.perf_counter() - t1
        engine.close()
        ours_bytes, their_bytes = dir_bytes(store_dir), dir_bytes(persist_dir)
    finally:
        engine.close()
        shutil.rmtree(persist_dir, ignore_errors=True)
        if temporary:
            shutil.rmtree(store_dir, ignore_errors=True)

    def side(name: str) -> dict[str, Any]:
        t = timed[name]
        return {**latency(t["total"]), **{f"search_{k}": v for k, v in latency(t["search"]).items()},
                **scores(t["ranked"], gold)}  # fmt: skip

    def ingest(d: dict[str, float], chunks_written: int) -> dict[str, Any]:
        return {**{k: round(v, 2) for k, v in d.items()}, "other_s": round(d["seconds"] - d["embed_s"], 2),
                "chunks_per_s": round(chunks_written / d["seconds"], 1) if d["seconds"] else None}  # fmt: skip

    ours = {
        "ingest": ingest(ours_ingest, report.chunks_written),
        "first_query_ms": timed["ours dense"]["first_ms"],
        "disk_bytes": ours_bytes,
        "retrieval": {m: side(f"ours {m}") for m in OUR_METHODS},
    }
    llama = {
        "version": li.VERSION,
        "vector_store": "SimpleVectorStore (default, in memory)",
        "ingest": ingest(their_ingest, len(theirs)),
        "first_query_ms": timed["llamaindex dense"]["first_ms"],
        "persist": {"seconds": round(persist_s, 2), "disk_bytes": their_bytes},
        "retrieval": {"dense": side("llamaindex dense")},
    }
    their_dense = llama["retrieval"]["dense"]
    ratios = {"ingest_s": _ratio(ours["ingest"]["seconds"], llama["ingest"]["seconds"]),
              "ingest_other_s": _ratio(ours["ingest"]["other_s"], llama["ingest"]["other_s"]),
              # the same texts through the same embedder: far from 1.0, the machine's load
              # changed between the two ingests, and ingest_other_s is the ratio to read
              "embed_s": _ratio(ours["ingest"]["embed_s"], llama["ingest"]["embed_s"]),
              "disk_bytes": _ratio(ours_bytes, their_bytes)}  # fmt: skip
    for m in ("dense", "hybrid"):
        mine = ours["retrieval"][m]
        for key in ("p50_ms", "p95_ms", "search_p50_ms", "recall@5"):
            ratios[f"{m}_{key}"] = _ratio(mine[key], their_dense[key])
    agree = [
        len({c for c, _ in a[:5]} & {c for c, _ in b[:5]}) / max(1, min(5, len(a), len(b)))
        for a, b in zip(timed["ours dense"]["ranked"], timed["llamaindex dense"]["ranked"], strict=True)
    ]  # fmt: skip
    return {
        "datasets": [f.name for f in folders],
        "documents": len(records),
        "chunk_tokens": settings.chunk_tokens,
        "embedder": embedder.name,
        "queries": len(questions),
        "k": RANK_DEPTH,
        "chunks": {"ours": len(our_ids), "llamaindex": len(theirs), "same_ids": our_ids == {c.id for c in chunks}},
        # share of our dense top 5 that LlamaIndex's dense top 5 also holds: 1.0 when both
        # sides hold the same vectors and search them exactly
        "dense_top5_agreement": round(statistics.fmean(agree), 4),
        "ours": ours,
        "llamaindex": llama,
        "ratios": ratios,
        "peak_rss_mb": peak_rss_mb(),
        # other work on the machine slows both sides: the 1-minute load average before and after
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }  # fmt: skip


def format_against(r: dict[str, Any]) -> str:
    """The run as a few lines of text: each path's latency and recall, then the ratios."""
    o, t = r["ours"], r["llamaindex"]
    lines = [
        f"{', '.join(r['datasets'])}: {r['documents']} documents, {r['chunks']['ours']} chunks "
        f"(LlamaIndex {r['chunks']['llamaindex']}, same ids: {r['chunks']['same_ids']}), "
        f"embedder {r['embedder']}, {r['queries']} queries at k={r['k']}",
        f"ingest  ours {o['ingest']['seconds']} s (embedding {o['ingest']['embed_s']} s)   "
        f"LlamaIndex {t['version']} {t['ingest']['seconds']} s (embedding {t['ingest']['embed_s']} s; persist "
        f"{t['persist']['seconds']} s)",
        f"{'path':18} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'search p50':>10} {'R@5':>6}",
    ]
    rows = [(f"ours {m}", o["retrieval"][m]) for m in OUR_METHODS]
    rows.append(("llamaindex dense", t["retrieval"]["dense"]))
    for name, s in rows:
        lines.append(f"{name:18} {s['p50_ms']:8} {s['p95_ms']:8} {s['p99_ms']:8} "
                     f"{s['search_p50_ms']:10} {s['recall@5']!s:>6}")  # fmt: skip
    lines.append("ours / LlamaIndex: " + ", ".join(f"{k} {v}" for k, v in r["ratios"].items()))
    lines.append(f"dense top-5 agreement {r['dense_top5_agreement']}; peak RSS "
                 f"{r['peak_rss_mb']} MB; load average {r['load_average']}")  # fmt: skip
    return "\n".join(lines)
