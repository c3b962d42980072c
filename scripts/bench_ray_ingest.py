"""`rag ingest --workers N` (Ray) against a serial ingest of the same files, in one run: wall
time of each, and whether the two stores agree (same documents and chunk ids; the largest
difference between the two vectors of any chunk; the same dense top 5 on the datasets'
questions).

The files: the demo corpus (PDF, DOCX, PPTX, HTML, Markdown, text) and the passages of the
../shared/datasets sets written as Markdown files of `--per-file` passages each. The embedder
is the default (e5) unless `--embedder hashing`; the graph is off (it is built after the
ingest by the writer either way). Each ingest runs in its own process on a fresh store.

    python scripts/bench_ray_ingest.py --workers 2 --datasets hotpotqa_train100 rgb_zh

Not run by CI (about 10 minutes with e5 on the project's 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def write_files(out: Path, datasets: Path, names: list[str], per_file: int) -> int:
    import shutil

    shutil.copytree(
        ROOT / "corpora" / "demo", out / "demo", ignore=shutil.ignore_patterns("*.jsonl")
    )
    n = 0
    for name in names:
        rows = [
            json.loads(line) for line in (datasets / name / "corpus.jsonl").open(encoding="utf-8")
        ]
        folder = out / name
        folder.mkdir()
        for i in range(0, len(rows), per_file):
            part = rows[i : i + per_file]
            body = "\n\n".join(f"## {r['title']}\n\n{r['text']}" for r in part)
            (folder / f"{name}-{i // per_file:04d}.md").write_text(
                f"# {name} {i}\n\n{body}\n", "utf-8"
            )
            n += 1
    return n


def ingest(files: Path, store: Path, embedder: str, workers: int) -> float:
    env = {**os.environ, "RAG_EMBEDDER": embedder}
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "rag.cli.main", "ingest", str(files), "--store", str(store),
         "--graph", "off", "--json", "--workers", str(workers)],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"ingest with {workers} workers failed:\n{done.stderr[-3000:]}")
    return seconds


def compare(a: Path, b: Path, embedder: str, questions: list[str]) -> dict[str, Any]:
    from ingest.store import EmbeddedStore
    from ingest.store.manifest import read_embedder
    from rag.engine import Engine
    from rag.settings import Settings

    snaps = []
    engines = []
    for path in (a, b):
        engines.append(Engine(Settings.from_env(store_dir=path, embedder=embedder, graph="off")))
        name, dim = read_embedder(path)
        store = EmbeddedStore(path, embedder_name=name, dim=dim)
        chunks = {
            c.id: c.text_hash
            for d in store.chunks.documents()
            for c in store.chunks.chunks_of(d.id)
        }
        snaps.append((chunks, store.chunks.vectors(set(chunks.values()))))
        store.close()
    (ca, va), (cb, vb) = snaps
    diff = max(float(np.abs(va[h] - vb[h]).max()) for h in va) if va.keys() == vb.keys() else None
    same_top = sum(
        [h.chunk.id for h in engines[0].retrieve(q, k=5, method="dense")]
        == [h.chunk.id for h in engines[1].retrieve(q, k=5, method="dense")]
        for q in questions
    )
    for e in engines:
        e.close()
    return {"chunks": len(ca), "same_chunk_ids": ca == cb, "same_vector_keys": va.keys() == vb.keys(),
            "max_abs_vector_diff": diff, "same_dense_top5": f"{same_top}/{len(questions)}"}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--datasets", nargs="+", default=["hotpotqa_train100", "rgb_zh"])
    p.add_argument("--datasets-dir", type=Path, default=ROOT.parent / "shared" / "datasets")
    p.add_argument("--per-file", type=int, default=20)
    p.add_argument("--embedder", default="e5", choices=["e5", "hashing"])
    p.add_argument("--questions", type=int, default=50)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    n_files = write_files(scratch / "files", args.datasets_dir, args.datasets, args.per_file)
    serial_s = ingest(scratch / "files", scratch / "serial", args.embedder, 1)
    fanned_s = ingest(scratch / "files", scratch / "fanned", args.embedder, args.workers)
    questions = []
    for name in args.datasets:
        rows = [
            json.loads(line)
            for line in (args.datasets_dir / name / "questions.jsonl").open(encoding="utf-8")
        ]
        questions += [r["question"] for r in rows[: args.questions // len(args.datasets)]]
    out = {
        "files": n_files + 10, "embedder": args.embedder, "workers": args.workers,
        "serial_s": round(serial_s, 1), "fanned_s": round(fanned_s, 1),
        "speedup": round(serial_s / fanned_s, 2),
        **compare(scratch / "serial", scratch / "fanned", args.embedder, questions),
    }  # fmt: skip
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1), "utf-8")


if __name__ == "__main__":
    main()
