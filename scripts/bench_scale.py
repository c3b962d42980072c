"""How retrieval latency, ingest time, store size and memory grow with the number of chunks:
ours (dense, BM25, hybrid) and a plain LlamaIndex VectorStoreIndex, at 1k / 10k / 100k chunks.

The corpus is the three ../shared/datasets sets, their passages interleaved, chunked by our
chunker and repeated until there are enough chunks; every repeat gets its own id and a title
that says which copy it is ("… (copy 3)"), so each copy's chunks have their own ids, text hashes
and vectors (our store embeds a repeated text only once). Both sides embed with the hashing
embedder at 384 dimensions, e5-small's width, so the vector search costs what e5's would while
embedding 100k chunks takes seconds instead of an hour on two cores; the query embedding is
then cheap, which makes the latencies mostly search. Each (side, scale) runs in its own process,
so peak RSS is that side's alone.

    python scripts/bench_scale.py                        # 1k, 10k, 100k; writes the JSON and PNG
    python scripts/bench_scale.py --scales 1000 --queries 20 --json /tmp/s.json --png /tmp/s.png
    python scripts/bench_scale.py --replot docs/bench-scale.json   # the PNG and table again

Not run by CI: the full count takes about half an hour on the project's 2-core machine.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATASETS = ("musique_train100", "hotpotqa_train100", "rgb_zh")
DIM = 384  # multilingual-e5-small's width
SIDES = ("ours", "llamaindex")
ONE_THREAD = "ours dense, FAISS 1 thread"  # a diagnostic path, not the shipped setting
PATHS = ("ours dense", "ours bm25", "ours hybrid", "llamaindex dense", ONE_THREAD)


def scaled_records(folders: list[Path], n_chunks: int, chunk_tokens: int) -> list[Any]:
    """Passages of every folder, interleaved, repeated as distinct copies until they hold at
    least `n_chunks` chunks (our chunker's count)."""
    from ingest.chunking import ChunkingConfig
    from ingest.embedding import HashingEmbedder
    from ingest.pipeline import TextRecord
    from rag.bench import load_corpora
    from rag.bench_measure import chunk_records

    per_folder = [load_corpora([f])[0] for f in folders]
    mixed = [r for group in itertools.zip_longest(*per_folder) for r in group if r is not None]
    counter = HashingEmbedder(DIM).count_tokens
    chunking = ChunkingConfig(chunk_tokens, chunk_tokens // 8)
    counts: dict[str, int] = {}
    for c in chunk_records(mixed, counter, chunking):
        counts[c.passage] = counts.get(c.passage, 0) + 1
    out: list[TextRecord] = []
    total = 0
    for copy in itertools.count():
        for r in mixed:
            if total >= n_chunks:
                return out
            if copy == 0:
                out.append(r)
            else:
                title = f"{r.title} (copy {copy})".strip()
                out.append(TextRecord(f"{r.key}#copy{copy}", title, r.text))
            total += counts.get(r.key, 0)
    raise AssertionError("unreachable")


def faiss_one_thread(run: Any) -> Any:
    """`run` with FAISS searching on one OpenMP thread, the shipped setting put back after. A
    diagnostic, not a setting the product has: FAISS's default (a thread per core) spends far
    longer waking its threads than a flat search of one query vector takes."""
    import faiss

    def one(question: str) -> Any:
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            return run(question)
        finally:
            faiss.omp_set_num_threads(threads)

    return one


@contextmanager
def per_document_gc(on: bool) -> Iterator[None]:
    """With `on` False, the store's per-document sweep of unreferenced vectors is skipped.

    The sweep (`SqliteChunkStore.gc_embeddings`, run in every document's transaction) scans the
    whole embeddings table, so a shipped ingest costs O(documents × chunks): at 100k chunks it
    would run for hours here. On a fresh store of distinct texts it deletes nothing (the child
    checks with one sweep at the end, and times it), so skipping it leaves the same store."""
    from ingest.store.chunks import SqliteChunkStore

    if on:
        yield
        return
    sweep = SqliteChunkStore.__dict__["gc_embeddings"]
    SqliteChunkStore.gc_embeddings = staticmethod(lambda db, hashes: None)  # type: ignore[method-assign]
    try:
        yield
    finally:
        SqliteChunkStore.gc_embeddings = sweep  # type: ignore[method-assign]


def time_one_gc(store: Path) -> tuple[float, int]:
    """One sweep of the store's unreferenced vectors, as each document's write runs it: its
    milliseconds and the rows it deleted."""
    from ingest.store.chunks import SqliteChunkStore

    con = sqlite3.connect(store / "store.sqlite")
    try:
        before = con.total_changes
        t0 = time.perf_counter()
        with con:  # every text hash: the whole-table sweep each write ran before it was scoped
            hashes = [r[0] for r in con.execute("SELECT text_hash FROM embeddings")]
            SqliteChunkStore.gc_embeddings(con, hashes)
        return round((time.perf_counter() - t0) * 1000, 2), con.total_changes - before
    finally:
        con.close()


def rss_mb() -> float:
    import psutil

    return round(psutil.Process().memory_info().rss / 2**20, 1)


def child(side: str, n_chunks: int, queries: int, chunk_tokens: int, datasets: Path,
          skip_gc: bool = False) -> dict[str, Any]:  # fmt: skip
    """One side at one scale, in this process: ingest, time queries, measure disk and memory."""
    from ingest.chunking import ChunkingConfig
    from ingest.embedding import HashingEmbedder
    from rag.bench import load_corpora
    from rag.bench_against import llamaindex_side
    from rag.bench_measure import (
        EMBED_BATCH,
        TimedEmbedder,
        chunk_records,
        dir_bytes,
        latency,
        ours_ranked,
        peak_rss_mb,
        time_paths,
    )
    from rag.engine import Engine
    from rag.evaluation import RANK_DEPTH
    from rag.settings import Settings

    folders = [datasets / d for d in DATASETS]
    records = scaled_records(folders, n_chunks, chunk_tokens)
    _, rows = load_corpora(folders)
    step = max(1, len(rows) // queries)
    questions = [str(q["question"]) for q in rows[::step][:queries]]
    embedder = TimedEmbedder(HashingEmbedder(DIM))
    embedder.warm([r.text for r in records])
    scratch = Path(tempfile.mkdtemp(prefix=f"scale-{side}-"))
    rss_before, load_before = rss_mb(), os.getloadavg()[0]
    result: dict[str, Any] = {"side": side, "target": n_chunks, "documents": len(records),
                              "queries": len(questions), "k": RANK_DEPTH, "embedder": embedder.name}  # fmt: skip
    try:
        if side == "ours":
            settings = Settings.from_env(
                store_dir=scratch / "store", cache_dir=scratch, embedder="hashing", graph="off",
                chunk_tokens=chunk_tokens, chunk_overlap=chunk_tokens // 8,
            )  # fmt: skip
            engine = Engine(settings, embedder=embedder)
            t0 = time.perf_counter()
            with per_document_gc(not skip_gc):
                report = engine.ingest_texts(records)
            ingest_s = time.perf_counter() - t0
            result["gc_skipped"] = skip_gc
            result["chunks"] = engine.counts().chunks
            paths = {f"ours {m}": ours_ranked(engine, m) for m in ("dense", "bm25", "hybrid")}
            paths[ONE_THREAD] = faiss_one_thread(ours_ranked(engine, "dense"))
            result["chunks_written"] = report.chunks_written
        else:
            li = llamaindex_side()
            t0 = time.perf_counter()
            chunking = ChunkingConfig(chunk_tokens, chunk_tokens // 8)
            chunks = chunk_records(records, embedder.count_tokens, chunking)
            index = li.LlamaIndexSide(chunks, embedder, batch=EMBED_BATCH, k=RANK_DEPTH)
            ingest_s = time.perf_counter() - t0
            result["chunks"] = len(index)
            paths = {"llamaindex dense": index.retrieve}
        result["ingest"] = {"seconds": round(ingest_s, 2), "embed_s": round(embedder.passage_s, 2)}
        result["rss_after_ingest_mb"] = rss_mb()
        result["rss_growth_mb"] = round(result["rss_after_ingest_mb"] - rss_before, 1)
        timed = time_paths(paths, questions, embedder)
        result["retrieval"] = {
            name: {"first_ms": t["first_ms"], **latency(t["total"]),
                   **{f"search_{k}": v for k, v in latency(t["search"]).items()}}
            for name, t in timed.items()
        }  # fmt: skip
        if side == "ours":
            engine.close()
            result["gc_once_ms"], deleted = time_one_gc(scratch / "store")
            assert deleted == 0, f"the embedding gc deleted {deleted} vectors of a fresh store"
            result["disk_bytes"] = dir_bytes(scratch / "store")
        else:
            t1 = time.perf_counter()
            index.persist(scratch / "persist")
            result["persist_s"] = round(time.perf_counter() - t1, 2)
            result["disk_bytes"] = dir_bytes(scratch / "persist")
        result["peak_rss_mb"] = peak_rss_mb()
        result["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return result


def growth(rows: list[dict[str, Any]], get: Any) -> float | None:
    """The exponent b in cost ∝ chunks^b between the two largest scales (at 1k, fixed costs
    and noise swamp what grows)."""
    if len(rows) < 2:
        return None
    lo, hi = rows[-2], rows[-1]
    a, b = get(lo), get(hi)
    if not a or not b:
        return None
    return round(math.log(b / a) / math.log(hi["chunks"] / lo["chunks"]), 2)


def by_side(results: list[dict[str, Any]], side: str) -> list[dict[str, Any]]:
    return sorted((r for r in results if r["side"] == side), key=lambda r: r["chunks"])


def markdown(results: list[dict[str, Any]]) -> str:
    lines = ["| chunks | path | p50 ms | p95 ms | p99 ms | first query ms |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for side in SIDES:
        for r in by_side(results, side):
            for name, s in r["retrieval"].items():
                lines.append(f"| {r['chunks']:,} | {name} | {s['p50_ms']} | {s['p95_ms']} | "
                             f"{s['p99_ms']} | {s['first_ms']} |")  # fmt: skip
    lines += ["", "| chunks | side | ingest s | of which embedding s | on disk MB | peak RSS MB | RSS growth MB | one vector sweep ms |",
              "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for side in SIDES:
        for r in by_side(results, side):
            disk = f"{r['disk_bytes'] / 2**20:.1f}"
            if side == "llamaindex":
                disk += f" (persist {r['persist_s']} s)"
            ingest = f"{r['ingest']['seconds']}" + (" ²" if r.get("gc_skipped") else "")
            lines.append(f"| {r['chunks']:,} | {side} | {ingest} | {r['ingest']['embed_s']} | "
                         f"{disk} | {r['peak_rss_mb']} | {r['rss_growth_mb']} | {r.get('gc_once_ms', '–')} |")  # fmt: skip
    lines += ["", "| cost | b in cost ∝ chunks^b, two largest scales |", "|---|---|"]
    for path in PATHS:
        side = "llamaindex" if path.startswith("llamaindex") else "ours"
        b = growth(by_side(results, side), lambda r, p=path: r["retrieval"][p]["p50_ms"])
        lines.append(f"| {path} p50 | {b} |")
    for side in SIDES:
        rows = by_side(results, side)
        shipped = [r for r in rows if not r.get("gc_skipped")]
        for label, get in (("ingest s", lambda r: r["ingest"]["seconds"]),
                           ("on disk", lambda r: r["disk_bytes"]),
                           ("RSS growth", lambda r: r["rss_growth_mb"])):  # fmt: skip
            # a run without the per-document sweep is not the shipped ingest: left out of its growth
            picked = shipped if label == "ingest s" else rows
            lines.append(f"| {side} {label} | {growth(picked, get)} |")
    return "\n".join(lines)


def plot(results: list[dict[str, Any]], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 8.5))
    colours = dict(
        zip(PATHS, ("tab:blue", "tab:green", "tab:purple", "tab:red", "tab:gray"), strict=True)
    )
    ax = axes[0][0]
    for path in PATHS:
        rows = by_side(results, "llamaindex" if path.startswith("llamaindex") else "ours")
        xs = [r["chunks"] for r in rows]
        ax.plot(xs, [r["retrieval"][path]["p50_ms"] for r in rows], "o-", color=colours[path], label=f"{path} p50")  # fmt: skip
        if path != ONE_THREAD:
            ax.plot(xs, [r["retrieval"][path]["p99_ms"] for r in rows], "x--", color=colours[path], alpha=0.6, label=f"{path} p99")  # fmt: skip
    ax.set_title(f"retrieval latency, k={results[0]['k']} (ms)")
    ax.legend(fontsize=6.5, ncol=2, loc="upper left")
    panels = (
        (axes[0][1], "ingest (s)", lambda r: r["ingest"]["seconds"]),
        (axes[1][0], "on disk (MB): our store / LlamaIndex persisted", lambda r: r["disk_bytes"] / 2**20),
        (axes[1][1], "peak RSS of the process (MB)", lambda r: r["peak_rss_mb"]),
    )  # fmt: skip
    for ax, title, get in panels:
        ingest = title.startswith("ingest")
        for side, colour in (("ours", "tab:blue"), ("llamaindex", "tab:red")):
            rows = by_side(results, side)
            # the ingest line joins shipped runs only; a run without the sweep is its own mark
            shipped = [r for r in rows if not (ingest and r.get("gc_skipped"))]
            ax.plot([r["chunks"] for r in shipped], [get(r) for r in shipped], "o-", color=colour, label=side)  # fmt: skip
            skipped = [r for r in rows if ingest and r.get("gc_skipped")]
            if skipped:
                ax.plot([r["chunks"] for r in skipped], [get(r) for r in skipped], "o", color="white",
                        markeredgecolor=colour, label="ours, per-document vector sweep skipped")  # fmt: skip
            if ingest and side == "llamaindex":
                ax.plot([r["chunks"] for r in rows], [get(r) + r["persist_s"] for r in rows], "x--",
                        color=colour, alpha=0.6, label="llamaindex, then persisted")  # fmt: skip
        ax.set_title(title)
        ax.legend(fontsize=8)
    for ax in axes.flat:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("chunks")
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(f"Ours vs LlamaIndex VectorStoreIndex (SimpleVectorStore) by corpus size; "
                 f"embedder {results[0]['embedder']}", fontsize=11)  # fmt: skip
    fig.tight_layout()
    fig.savefig(png, dpi=110)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scales", type=int, nargs="+", default=[1000, 10000, 30000, 100000])
    p.add_argument("--skip-gc-from", type=int, default=100000, metavar="CHUNKS",
                   help="from this many chunks on, skip the per-document vector sweep (see per_document_gc)")  # fmt: skip
    p.add_argument("--queries", type=int, default=100)
    p.add_argument("--chunk-tokens", type=int, default=64)
    p.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    p.add_argument("--json", type=Path, default=ROOT / "docs" / "bench-scale.json")
    p.add_argument("--png", type=Path, default=ROOT / "docs" / "bench-scale.png")
    p.add_argument("--replot", type=Path, metavar="JSON", help="plot and tabulate a saved run")
    p.add_argument("--child", nargs=2, metavar=("SIDE", "CHUNKS"), help=argparse.SUPPRESS)
    p.add_argument("--skip-gc", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        side, n = args.child[0], int(args.child[1])
        found = child(side, n, args.queries, args.chunk_tokens, args.datasets, args.skip_gc)
        print(json.dumps(found))
        return 0
    if args.replot:
        results = json.loads(args.replot.read_text())["results"]
    else:
        results = []
        for n in args.scales:
            for side in SIDES:
                cmd = [sys.executable, __file__, "--child", side, str(n), "--queries",
                       str(args.queries), "--chunk-tokens", str(args.chunk_tokens),
                       "--datasets", str(args.datasets)]  # fmt: skip
                if side == "ours" and n >= args.skip_gc_from:
                    cmd.append("--skip-gc")
                t0 = time.perf_counter()
                out = subprocess.run(cmd, capture_output=True, text=True, check=False)
                if out.returncode != 0:
                    print(out.stderr, file=sys.stderr)
                    return 1
                results.append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(f"{side} at {n}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        meta = {"command": " ".join(sys.argv), "queries": args.queries,
                "chunk_tokens": args.chunk_tokens}  # fmt: skip
        args.json.write_text(json.dumps({**meta, "results": results}, indent=1) + "\n")
    plot(results, args.png)
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
