"""Peak memory of `rag ingest` on text files of several sizes and shapes.

Each file is ingested by a fresh `python -m rag.cli.main ingest` into a fresh store, and the
peak RSS is the child's own `ru_maxrss` (os.wait4), so nothing of this script is counted. The
hashing embedder keeps the numbers about ingest itself: e5 on 300k chunks would take hours and
adds a fixed model footprint, not one that grows with the file.

    python scripts/measure_ingest_memory.py --sizes 10,50,200 --graph off,fast
    python scripts/measure_ingest_memory.py --sizes 5,40 --shapes oneline --json
    python scripts/measure_ingest_memory.py --sizes 10,45 --ext md   # parsed whole, under 50 MB

Shapes: `lines` is prose with a paragraph every few lines; `oneline` is the same prose with no
line break at all; `unbroken` is one line of words without a sentence end anywhere (what a
minified dump or a log squashed onto one line looks like), which chunking must cut by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "corpora" / "demo"
SHAPES = ("lines", "oneline", "unbroken")


def vocabulary() -> list[str]:
    """Words of the demo corpus's English Markdown: real words in real proportions."""
    words: list[str] = []
    for path in sorted(DEMO.glob("*.md")):
        words += [w.strip(".,;:()[]`*#|\"'") for w in path.read_text("utf-8").split()]
    return [w for w in words if w.isascii() and w.isalpha()] or ["token"]


def write_text(path: Path, megabytes: float, shape: str, seed: int = 0) -> int:
    """Write about `megabytes` MB of distinct sentences; returns the size in bytes.

    Every sentence starts with its own number, so no two chunks share a text (a repeated
    text would be embedded once and make the file look cheaper than it is)."""
    rng = random.Random(seed)
    words = vocabulary()
    target = int(megabytes * 2**20)
    end = "" if shape == "unbroken" else "."
    line_break = "\n" if shape == "lines" else " "
    written = 0
    n = 0
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        while written < target:
            parts = []
            for _ in range(200):  # a block of sentences per write keeps this fast
                n += 1
                body = " ".join(rng.choices(words, k=rng.randint(8, 24)))
                parts.append(f"Item {n} {body}{end}")
                if shape == "lines" and n % 5 == 0:
                    parts.append("\n")
            text = line_break.join(parts) + line_break
            fh.write(text)
            written += len(text.encode("utf-8"))
    return path.stat().st_size


@dataclass
class Measurement:
    size_mb: float
    shape: str  # and the file's extension
    graph: str
    peak_rss_mb: float
    seconds: float
    chunks: int
    status: str


def ingest_peak(file: Path, store: Path, graph: str, env_extra: dict[str, str]) -> Measurement:
    """Run one ingest in a child process; its own peak RSS comes back from wait4."""
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HOME": str(store.parent / "home"),
        "RAG_EMBEDDER": "hashing",
        "RAG_GRAPH": graph,
        "RAG_STORE": str(store),
        "HF_HUB_OFFLINE": "1",
        **env_extra,
    }
    cmd = [sys.executable, "-m", "rag.cli.main", "ingest", str(file), "--json"]
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak, nobody else's
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = (
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
        )
    try:
        report = json.loads(stdout)
    except json.JSONDecodeError:
        raise SystemExit(
            f"ingest of {file.name} failed (exit {proc.returncode}):\n{stderr[-3000:]}"
        ) from None
    results = report.get("results", [])
    status_text = results[0]["status"] if results else f"exit {proc.returncode}"
    if status_text == "failed":
        status_text = "failed: " + str(results[0].get("error"))
    chunks = sum(int(r.get("n_chunks", 0)) for r in results)
    return Measurement(
        round(file.stat().st_size / 2**20, 1), "", graph, round(usage.ru_maxrss / 1024, 1),
        round(seconds, 1), chunks, status_text,
    )  # fmt: skip


def measure(
    sizes: list[float], shapes: list[str], graphs: list[str], keep: Path | None, ext: str = "txt"
) -> list[Measurement]:
    rows: list[Measurement] = []
    with tempfile.TemporaryDirectory(prefix="rag-mem-", dir=keep) as tmp:
        work = Path(tmp)
        for shape in shapes:
            for size in sizes:
                file = work / f"{shape}-{size:g}mb.{ext}"
                write_text(file, size, shape)
                for graph in graphs:
                    store = work / f"store-{shape}-{size:g}-{graph}"
                    row = ingest_peak(file, store, graph, {})
                    row.shape = shape if ext == "txt" else f"{shape}.{ext}"
                    rows.append(row)
                    print(_line(row), file=sys.stderr, flush=True)
                    _remove_tree(store)
                file.unlink()
    return rows


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _line(r: Measurement) -> str:
    return (
        f"{r.shape:9} {r.size_mb:7.1f} MB  graph={r.graph:4}  peak RSS {r.peak_rss_mb:8.1f} MB  "
        f"{r.chunks:7} chunks  {r.seconds:7.1f} s  {r.status}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10,50,200", help="file sizes in MB, comma-separated")
    ap.add_argument("--shapes", default="lines,oneline,unbroken")
    ap.add_argument("--graph", default="off,fast", help="RAG_GRAPH values to measure")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")
    ap.add_argument("--tmp", type=Path, help="where to write the files (default: system temp)")
    ap.add_argument(
        "--ext", default="txt", choices=["txt", "md"], help="md: read whole, not streamed"
    )
    args = ap.parse_args()
    shapes = [s for s in args.shapes.split(",") if s]
    bad = set(shapes) - set(SHAPES)
    if bad:
        ap.error(f"unknown shapes {sorted(bad)}; choose from {', '.join(SHAPES)}")
    rows = measure(
        [float(s) for s in args.sizes.split(",")],
        shapes,
        [g for g in args.graph.split(",") if g],
        args.tmp,
        args.ext,
    )
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
    else:
        for r in rows:
            print(_line(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
