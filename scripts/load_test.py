"""Load on a real `rag serve` while other processes ingest into the same store (issue 20).

    python scripts/load_test.py                      # 8 clients x 200 requests, e5, smoke model
    python scripts/load_test.py --embedder hashing   # the same load, the fast fake embedder

Starts the demo store, `rag serve` on a free loopback port, a writer running `rag ingest` again
and again and an uploader posting through the API, then the clients; checks every response and,
afterwards, the store (tests/load_harness.py says what is checked and why). Prints a table of
requests/s and p50/p95/p99 per endpoint; exits 1 on any error or lost document. Not run by CI:
tests/integration/test_load.py runs a bounded version.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere in the checkout

from tests.load_harness import LoadConfig, run_load


def main() -> int:
    d = LoadConfig(embedder="e5", graph="fast")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=d.clients)
    p.add_argument("--requests", type=int, default=d.requests, help="per client")
    p.add_argument("--ask-every", type=int, default=d.ask_every, metavar="N",
                   help="every N-th request of a client is an /ask, 0 for none (default %(default)s)")  # fmt: skip
    p.add_argument("--embedder", choices=("e5", "hashing"), default=d.embedder)
    p.add_argument("--graph", choices=("off", "fast"), default=d.graph,
                   help="the writers' knowledge graph (default %(default)s)")  # fmt: skip
    p.add_argument("--generator", choices=("smoke", "scripted"), default=d.generator,
                   help="smoke: the registry's smoke model; scripted: a fake OpenAI endpoint")  # fmt: skip
    p.add_argument("--uploads", type=int, default=d.uploads)
    p.add_argument(
        "--workdir", type=Path, help="keep the store and logs here (default: a temp dir)"
    )
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the report as JSON")
    args = p.parse_args()
    cfg = LoadConfig(
        clients=args.clients, requests=args.requests, ask_every=args.ask_every,
        embedder=args.embedder, graph=args.graph, generator=args.generator, uploads=args.uploads,
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="rag-load-") as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        report = run_load(work, cfg)
    print(report.table())
    if args.json:
        args.json.write_text(json.dumps({
            "config": asdict(cfg), "wall_s": report.wall_s, "endpoints": report.endpoints(),
            "errors": report.errors, "lost": report.lost, "store": report.store,
            "writer_runs": report.writer_runs, "uploaded": report.uploaded,
            "reported_docs": report.reported_docs, "generator": report.generator,
        }, indent=2), "utf-8")  # fmt: skip
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
