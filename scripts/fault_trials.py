"""kill -9 of `rag ingest` at many points: trials survived / run per phase (not run by CI).

Each trial copies a small store, starts `rag ingest` of a second folder into it, and kills it
with SIGKILL — at a random call of one phase's boundary (parsing, embedding, index write, graph
write, FAISS save; see tests/fault_injection.py) or after a random delay — then checks what
is left and re-runs the ingest to completion (tests/kill_trials.py says what "survived" means).
CI runs 25 of these (tests/integration/test_faults.py); this runs as many as asked:

    python scripts/fault_trials.py --trials 100 [--seed 1] [--random-share 0.2] [--json FILE]

Needs the seed datasets (../shared/datasets). A failed trial keeps its files under --work.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fault_injection import PHASES  # noqa: E402
from tests.kill_trials import Bench, Outcome, run_trial  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--random-share", type=float, default=0.2,
                    help="share of trials killed after a random delay (default 0.2)")  # fmt: skip
    ap.add_argument("--corpus", type=Path,
                    default=ROOT.parent / "shared/datasets/hotpotqa_train100/corpus.jsonl")  # fmt: skip
    ap.add_argument("--work", type=Path, help="folder for the stores (default: a temp folder)")
    ap.add_argument("--json", type=Path, help="also write every trial's outcome here")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="fault-trials-"))
    work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    t0 = time.perf_counter()
    bench = Bench.prepare(work / "bench", args.corpus)
    print(f"bench: {len(bench.ref_docs)} documents, boundary calls {bench.calls}, "
          f"uninterrupted ingest {bench.seconds:.1f} s", flush=True)  # fmt: skip
    outcomes: list[Outcome] = []
    for i, fault in enumerate(bench.schedule(args.trials, rng, args.random_share)):
        o = run_trial(bench, fault, work / f"trial-{i:04d}", rng)
        outcomes.append(o)
        mark = "ok  " if o.survived else "FAIL"
        extra = f" doctor before re-run: {','.join(o.resumable)}" if o.resumable else ""
        print(f"{mark} {i:4d} {o.phase:10s} {o.label:22s} {o.present:3d} docs kept{extra}",
              flush=True)  # fmt: skip
        for p in o.problems:
            print(f"       {p}", flush=True)
    print(table(outcomes))
    print(f"{len(outcomes)} trials in {time.perf_counter() - t0:.0f} s; stores under {work}")
    if args.json:
        args.json.write_text(json.dumps([o.__dict__ for o in outcomes], indent=1), "utf-8")
    return 0 if all(o.survived for o in outcomes) else 1


def table(outcomes: list[Outcome]) -> str:
    """Markdown: per phase, trials survived / run, split into chosen-point and random kills."""
    rows = ["| phase | chosen point | random delay | all |", "|---|---|---|---|"]
    order = ["startup", *PHASES]
    phases = sorted({o.phase for o in outcomes}, key=lambda p: order.index(p) if p in order else 99)

    def cell(group: list[Outcome]) -> str:
        return f"{sum(o.survived for o in group)} / {len(group)}" if group else "–"

    for phase in [*phases, "all"]:
        mine = [o for o in outcomes if phase in ("all", o.phase)]
        chosen = [o for o in mine if not o.label.startswith("random")]
        randoms = [o for o in mine if o.label.startswith("random")]
        rows.append(f"| {phase} | {cell(chosen)} | {cell(randoms)} | {cell(mine)} |")
    lag = Counter(code for o in outcomes for code in o.resumable)
    if lag:
        rows.append("")
        rows.append("`rag doctor` right after the kill reported only what the re-run resumes: "
                    + ", ".join(f"{c} in {n}" for c, n in sorted(lag.items())) + " trials")  # fmt: skip
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
