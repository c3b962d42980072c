"""A long schemathesis run against the REST and OpenAI-compatible APIs (not run by CI).

The same driver as tests/web/test_api_fuzz.py (tests/web/api_fuzz.py): the real Flask app over
a real store of three demo documents, the hashing embedder and a scripted generator, called
in process through WSGI; schema-valid and schema-breaking requests for every operation of
/api/v1/openapi.json, each response held to the document. Prints the requests and statuses of
each operation, then every distinct failure; exits 1 if there was one. `dism`: "invalid data
accepted" verdicts overruled because the query, as sent, was valid (api_fuzz.py says why).

    PYTHONPATH=. python scripts/fuzz_api.py --examples 500          # fresh inputs each run
    PYTHONPATH=. python scripts/fuzz_api.py --examples 200 --key k  # with RAG_API_KEY set
    PYTHONPATH=. python scripts/fuzz_api.py --only /graph/ --seed 1
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

from tests.web.api_fuzz import OperationReport, fuzz, make_fuzz_app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=300,
                        help="requests per operation and generation mode (default 300)")  # fmt: skip
    parser.add_argument("--key", help="run the server with this API key (and send it)")
    parser.add_argument("--only", default="", help="operations whose label contains this")
    parser.add_argument("--seed", type=int, default=None, help="repeat a run (default: fresh)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # the loaders' one-line warnings on random bytes

    def show(r: OperationReport) -> None:
        statuses = " ".join(f"{s}:{n}" for s, n in sorted(r.statuses.items()))
        print(f"{r.label:44} {r.requests:6} {len(r.failures):4} {r.dismissed:4}  "
              f"{r.seconds:6.1f}s  {statuses}", flush=True)  # fmt: skip

    with tempfile.TemporaryDirectory(prefix="rag-fuzz-") as tmp:
        app = make_fuzz_app(Path(tmp), api_key=args.key)
        print(f"{'operation':44} {'reqs':>6} {'fail':>4} {'dism':>4}  {'time':>7}  statuses")
        t0 = time.perf_counter()
        try:
            reports = fuzz(app, args.examples, api_key=args.key, random_seed=args.seed,
                           only=lambda label: args.only in label, progress=show)  # fmt: skip
        finally:
            app.extensions["rag"].close()
    total = sum(r.requests for r in reports)
    errors = sum(n for r in reports for s, n in r.statuses.items() if s >= 500)
    failures = [(r.label, t, full) for r in reports for t, full in r.failures.items()]
    print(f"\n{total} requests over {len(reports)} operations in "
          f"{time.perf_counter() - t0:.0f}s: {errors} 5xx, {len(failures)} distinct failures")  # fmt: skip
    for label, title, full in failures:
        print(f"\n=== {label}: {title}\n{full}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
