"""Time to first token in one long-lived process, as a server or a chat sees it (issue 19, item 1).

The 14 demo questions (and, with --abstain, the 44 of corpora/demo_abstain) asked in turn with
`Engine.ask` over the demo store, after a warm-up question, translation included; the raw prefill
rate (512 tokens through `llm.eval`) measured in the same process, so the figure can be read as
"tokens' worth of prefill" on a faster or slower machine. Settings overrides as key=value:

    rag ingest corpora/demo
    python scripts/measure_ttft.py [--abstain] [top_k=3 ...]

Prints one line per question and a summary; writes the rows as JSON to ttft_<args>.json in the
current folder. On 2 cores: about 4 minutes for the 14, 16 for all 58.
"""

import json
import re
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from rag.engine import Engine
from rag.settings import Settings
from rag.support import is_refusal

ROOT = Path(__file__).resolve().parent.parent


def _summary(rows: list[dict[str, Any]]) -> str:
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    ttft = sorted(r["ttft"] for r in rows)
    return (
        f"{len(rows)} questions: right {sum(r['right'] for r in answerable)}/{len(answerable)}, "
        f"answered {sum(not r['refused'] for r in answerable)}/{len(answerable)}, "
        f"refused {sum(r['refused'] for r in unanswerable)}/{len(unanswerable)}; "
        f"TTFT p50 {statistics.median(ttft):.2f} s p95 {ttft[max(0, int(0.95 * len(ttft)) - 1)]:.2f} s; "
        f"retrieval p50 {statistics.median(r['retrieval'] for r in rows):.2f} s; "
        f"prompt p50 {statistics.median(r['prompt_tokens'] for r in rows):.0f} tokens; "
        f"total p50 {statistics.median(r['total'] for r in rows):.2f} s"
    )


def main(argv: list[str]) -> None:
    abstain = "--abstain" in argv
    overrides: dict[str, Any] = {}
    for kv in (a for a in argv if a != "--abstain"):
        key, value = kv.split("=", 1)
        overrides[key] = int(value) if value.isdigit() else value
    files = [ROOT / "corpora/demo/questions.jsonl"]
    if abstain:
        files.append(ROOT / "corpora/demo_abstain/questions.jsonl")
    questions = [json.loads(line) for f in files for line in f.open(encoding="utf-8")]
    rows: list[dict[str, Any]] = []
    with Engine(Settings.from_env(**overrides)) as engine:
        gen: Any = engine.generator
        llm = gen.inner._llm if hasattr(gen, "inner") else gen._llm
        text = ("The quick brown fox jumps over the lazy dog. " * 80).encode()
        tokens = llm.tokenize(text, add_bos=False)[:512]
        llm.reset()
        t0 = time.perf_counter()
        llm.eval(tokens)
        rate = len(tokens) / (time.perf_counter() - t0)
        llm.reset()
        engine.ask("What is LoRA?")  # warm-up: model, indexes, the kept prompt prefixes
        for q in questions:
            a = engine.ask(q["question"])
            refused = is_refusal(a.answer)
            right = any(r.lower() in a.answer.lower() for r in q["answers"])
            rows.append({
                "id": q["id"], "answerable": bool(q["answers"]), "right": right,
                "refused": refused, "ttft": a.timings["first_token_s"],
                "retrieval": a.timings["retrieval_s"], "total": a.timings["total_s"],
                "prompt_tokens": a.prompt_tokens, "answer": a.answer, "support": a.support,
            })  # fmt: skip
            print(q["id"], "right" if right else ("refused" if refused else "wrong"),
                  a.prompt_tokens, f"{a.timings['first_token_s']:.2f}", repr(a.answer[:80]),
                  flush=True)  # fmt: skip
    print(f"prefill {rate:.1f} tokens/s (700 tokens' worth: {700 / rate:.2f} s); "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")  # fmt: skip
    print("demo:", _summary(rows[:14]))
    if abstain:
        print("demo_abstain:", _summary(rows[14:]))
    name = "ttft_" + re.sub(r"[^\w=-]+", "_", "_".join(argv) or "default") + ".json"
    Path(name).write_text(json.dumps({"rate": rate, "rows": rows}, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main(sys.argv[1:])
