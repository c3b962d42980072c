"""The embedded backend against the cluster backend (PostgreSQL + Milvus) in one run: ingest
throughput and retrieval p50/p95 (dense, BM25, hybrid) at each scale, on the same corpus,
embedder and questions, and how much of each top 5 the two agree on.

The corpus is bench_scale.py's: the three ../shared/datasets sets interleaved and repeated as
distinct copies until there are enough chunks, embedded with the hashing embedder at 384
dimensions (e5-small's width), so the searches cost what e5's would. Each (backend, scale) runs
in its own process; the cluster side uses the servers of `scripts/services.sh up` and a fresh
knowledge base, dropped after.

    python scripts/services.sh up && python scripts/bench_backends.py --scales 10000 100000
    python scripts/bench_backends.py --scales 2000 --queries 20 --json /tmp/b.json

Not run by CI (about 4 minutes at 10k chunks on the project's 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from bench_scale import DATASETS, DIM, scaled_records  # noqa: E402

BACKENDS = ("embedded", "cluster")
METHODS = ("dense", "bm25", "hybrid")


def child(backend: str, n_chunks: int, queries: int, chunk_tokens: int, datasets: Path,
          tops: Path) -> dict[str, Any]:  # fmt: skip
    from ingest.embedding import HashingEmbedder
    from rag.bench import load_corpora
    from rag.bench_measure import TimedEmbedder, latency, ours_ranked, peak_rss_mb, time_paths
    from rag.engine import Engine
    from rag.settings import Settings

    folders = [datasets / d for d in DATASETS]
    records = scaled_records(folders, n_chunks, chunk_tokens)
    _, rows = load_corpora(folders)
    step = max(1, len(rows) // queries)
    questions = [str(q["question"]) for q in rows[::step][:queries]]
    embedder = TimedEmbedder(HashingEmbedder(DIM))
    embedder.warm([r.text for r in records])
    scratch = Path(tempfile.mkdtemp(prefix=f"backends-{backend}-"))
    name = f"bench{uuid.uuid4().hex[:8]}"
    settings = Settings.from_env(
        store_dir=scratch / "store", cache_dir=scratch, embedder="hashing", graph="off",
        chunk_tokens=chunk_tokens, chunk_overlap=chunk_tokens // 8, backend=backend,
        cluster_name=name,
    )  # fmt: skip
    engine = Engine(settings, embedder=embedder)
    try:
        t0 = time.perf_counter()
        report = engine.ingest_texts(records)
        ingest_s = time.perf_counter() - t0
        chunks = engine.counts().chunks
        paths = {m: ours_ranked(engine, m) for m in METHODS}
        timed = time_paths(paths, questions, embedder)
        top5 = {m: [[cid for cid, _ in r[:5]] for r in timed[m]["ranked"]] for m in METHODS}
        tops.write_text(json.dumps(top5), "utf-8")
        return {
            "backend": backend, "target": n_chunks, "chunks": chunks,
            "documents": len(records), "chunks_written": report.chunks_written,
            "ingest_s": round(ingest_s, 2), "embed_s": round(embedder.passage_s, 2),
            "chunks_per_s": round(chunks / max(ingest_s - embedder.passage_s, 1e-9), 1),
            "retrieval": {m: {"first_ms": t["first_ms"], **latency(t["total"])}
                          for m, t in timed.items()},
            "peak_rss_mb": peak_rss_mb(), "queries": len(questions),
        }  # fmt: skip
    finally:
        engine.close()
        if backend == "cluster":
            from ingest.cluster.store import ClusterTarget, drop

            drop(ClusterTarget(settings.postgres_url, settings.milvus_uri, name))
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--scales", type=int, nargs="+", default=[10000, 100000])
    p.add_argument("--queries", type=int, default=100)
    p.add_argument("--chunk-tokens", type=int, default=64)
    p.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument(
        "--child", nargs=3, metavar=("BACKEND", "CHUNKS", "TOPS"), help=argparse.SUPPRESS
    )
    a = p.parse_args()
    if a.child:
        backend, n, tops = a.child
        out = child(backend, int(n), a.queries, a.chunk_tokens, a.datasets, Path(tops))
        print(json.dumps(out))
        return
    results: list[dict[str, Any]] = []
    for n in a.scales:
        tops: dict[str, dict[str, list[list[str]]]] = {}
        for backend in BACKENDS:
            with tempfile.NamedTemporaryFile(suffix=".json") as f:
                run = subprocess.run(
                    [sys.executable, __file__, "--queries", str(a.queries), "--chunk-tokens",
                     str(a.chunk_tokens), "--datasets", str(a.datasets),
                     "--child", backend, str(n), f.name],
                    check=True, capture_output=True, text=True,
                )  # fmt: skip
                results.append(json.loads(run.stdout.strip().splitlines()[-1]))
                tops[backend] = json.loads(Path(f.name).read_text("utf-8"))
            r = results[-1]
            lat = " ".join(
                f"{m} p50 {v['p50_ms']:.1f} p95 {v['p95_ms']:.1f} ms"
                for m, v in r["retrieval"].items()
            )
            print(f"{n:>7} {backend:9} {r['chunks']} chunks, ingest {r['ingest_s']} s "
                  f"({r['chunks_per_s']} chunks/s without embedding), {lat}", flush=True)  # fmt: skip
        agree = {
            m: round(sum(len(set(x) & set(y)) for x, y in zip(tops["embedded"][m], tops["cluster"][m],
                                                            strict=True)) / (5 * len(tops["embedded"][m])), 3)
            for m in METHODS
        }  # fmt: skip
        results.append({"agreement_top5": agree, "target": n})
        print(f"{n:>7} top-5 agreement embedded/cluster: {agree}", flush=True)
    if a.json:
        a.json.write_text(json.dumps(results, indent=1), "utf-8")


if __name__ == "__main__":
    main()
