"""`rag eval`: ingest a QA dataset's corpus into a cached store, then score each question.

Dataset format (see ../shared/datasets/README.md): `corpus.jsonl` with id/title/text and
`questions.jsonl` with id/question/answers/supporting_ids. A passage is ingested as a document
whose source is its id, so retrieved chunks map straight back to passage ids.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from ingest.errors import RagError
from ingest.pipeline import IngestEvent, IngestReport, TextRecord
from ingest.types import ChunkHit
from rag.engine import Engine
from rag.metrics import exact_match, f1_score, recall_at, reciprocal_rank
from rag.modes.registry import check_mode, check_strategy
from rag.settings import Settings
from rag.support import is_refusal

RANK_DEPTH = 20  # chunks retrieved to rank passages for recall and MRR


class DatasetError(RagError):
    code = "bad_dataset"
    http_status = 422


def _read_jsonl(path: Path, required: tuple[str, ...]) -> list[dict[str, Any]]:
    if not path.is_file():
        raise DatasetError(
            f"{path} is missing (a dataset folder holds corpus.jsonl and questions.jsonl)"
        )
    rows = []
    for n, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DatasetError(f"{path.name} line {n}: not JSON ({e.msg})") from e
        missing = [k for k in required if k not in row]
        if missing:
            raise DatasetError(f"{path.name} line {n}: missing {', '.join(missing)}")
        rows.append(row)
    return rows


def load_dataset(folder: Path) -> tuple[list[TextRecord], list[dict[str, Any]]]:
    corpus = _read_jsonl(folder / "corpus.jsonl", ("id", "text"))
    questions = _read_jsonl(folder / "questions.jsonl", ("id", "question", "answers"))
    records = [TextRecord(str(r["id"]), str(r.get("title", "")), str(r["text"])) for r in corpus]
    return records, questions


def eval_store_dir(folder: Path, settings: Settings) -> Path:
    """A store per dataset, corpus content, embedder and chunking: reused across runs."""
    h = hashlib.sha256((folder / "corpus.jsonl").read_bytes())
    h.update(f"{settings.embedder}|{settings.chunk_tokens}|{settings.chunk_overlap}".encode())
    return settings.cache_dir / "eval" / f"{folder.resolve().name}-{h.hexdigest()[:12]}"


def ingest_with_bar(
    engine: Engine, records: list[TextRecord], desc: str, progress: bool
) -> IngestReport:
    """Ingest benchmark passages with a progress bar on stderr (none when `progress` is off)."""
    from tqdm import tqdm

    with tqdm(total=len(records), desc=desc, unit="doc", disable=not progress,
              file=sys.stderr) as bar:  # fmt: skip

        def tick(ev: IngestEvent) -> None:
            bar.update(ev.done - bar.n)

        return engine.ingest_texts(records, progress=tick)


def _passages(hits: list[ChunkHit]) -> list[str]:
    return list(dict.fromkeys(h.document.source for h in hits))


def run_eval(
    folder: Path,
    settings: Settings,
    *,
    retrieve_only: bool = False,
    limit: int | None = None,
    k: int = 5,
    mode: str = "rag",
    strategy: str | None = None,
    progress: bool = True,
    store: Path | None = None,
    engine: Engine | None = None,
) -> dict[str, Any]:
    """Score retrieval (and answers unless `retrieve_only`) on a dataset folder.

    The corpus goes into `store`, by default a cached store under the cache directory keyed by
    the corpus content, so a second run skips ingestion.
    """
    from tqdm import tqdm

    records, questions = load_dataset(folder)
    if limit:
        questions = questions[:limit]
    if engine is None:
        # plain RAG needs no graph: skip building one for the benchmark corpus
        graph = settings.graph if mode != "rag" else "off"
        engine = Engine(
            settings.with_(store_dir=store or eval_store_dir(folder, settings), graph=graph)
        )
    report = ingest_with_bar(engine, records, "ingest corpus", progress)
    scores: dict[str, list[float]] = {
        m: [] for m in ("recall@2", "recall@5", "hit@1", "mrr", "em", "f1")
    }
    retrieval_ms: list[float] = []
    answer_s: list[float] = []
    first_token_s: list[float] = []
    prompt_tokens: list[float] = []
    support: list[float] = []
    # questions without a reference answer: the answer should be a refusal (issue 19, item 4)
    refusals = {"unanswerable": 0, "refused": 0, "answerable": 0, "answered": 0}
    end_to_end_s: list[float] = []
    items: list[dict[str, Any]] = []
    mode_name = check_mode(mode)
    strategy_name = check_strategy(strategy) if strategy else None
    for q in tqdm(questions, desc="questions", unit="q", disable=not progress, file=sys.stderr):
        gold = [str(g) for g in q.get("supporting_ids", [])]
        t0 = time.perf_counter()
        ctx = engine.context(q["question"], mode=mode_name, strategy=strategy_name, k=RANK_DEPTH)
        ranked = _passages(ctx.hits)
        retrieval_ms.append((time.perf_counter() - t0) * 1000)
        item: dict[str, Any] = {"id": q.get("id"), "question": q["question"],
                                "answers": q["answers"], "ranked": ranked[:5]}  # fmt: skip
        if translation := next((t["translation"] for t in ctx.trace if "translation" in t), None):
            item["translation"] = translation
        if gold:
            scores["recall@2"].append(recall_at(ranked, gold, 2))
            scores["recall@5"].append(recall_at(ranked, gold, 5))
            scores["hit@1"].append(float(bool(ranked) and ranked[0] in gold))
            scores["mrr"].append(reciprocal_rank(ranked, gold))
        if not retrieve_only:
            t1 = time.perf_counter()
            ctx.hits = ctx.hits[:k]  # the answer sees the top k of the same retrieval
            answer = engine.ask(q["question"], mode=mode_name, k=k, brief=True, context=ctx)
            answer_s.append(time.perf_counter() - t1)
            end_to_end_s.append(time.perf_counter() - t0)
            first_token_s.append(answer.timings.get("first_token_s", 0.0) + t1 - t0)
            prompt_tokens.append(float(answer.prompt_tokens))
            if answer.support is not None:
                support.append(answer.support)
            refused = is_refusal(answer.answer)
            item.update(prediction=answer.answer, refused=refused, support=answer.support)
            if q["answers"]:
                refusals["answerable"] += 1
                refusals["answered"] += not refused
                scores["em"].append(exact_match(answer.answer, q["answers"]))
                scores["f1"].append(f1_score(answer.answer, q["answers"]))
                item.update(em=scores["em"][-1], f1=scores["f1"][-1])
            else:
                refusals["unanswerable"] += 1
                refusals["refused"] += refused
        items.append(item)

    def mean(xs: list[float]) -> float | None:
        return round(statistics.fmean(xs), 4) if xs else None

    def pct(xs: list[float], p: float) -> float | None:
        return round(sorted(xs)[min(len(xs) - 1, int(p * len(xs)))], 2) if xs else None

    return {
        "dataset": folder.resolve().name,
        "questions": len(questions),
        "passages": len(records),
        "mode": mode,
        "retrieval": settings.retrieval if mode == "rag" else None,
        "fusion": settings.fusion if mode == "rag" and settings.retrieval == "hybrid" else None,
        "strategy": (strategy or "hybrid") if mode == "graph" else None,
        "generator": None if retrieve_only else engine.generator.name,
        "translated": sum("translation" in i for i in items),  # searched in translation too
        **{m: mean(v) for m, v in scores.items()},
        "support": mean(support),  # the share of answer sentences their passages support
        "refusals": refusals if refusals["unanswerable"] else None,
        "timing": {
            "ingest_s": round(report.seconds, 2),
            "ingested_chunks": report.chunks_written,
            "retrieval_ms_p50": pct(retrieval_ms, 0.5),
            "retrieval_ms_p95": pct(retrieval_ms, 0.95),
            "answer_s_p50": pct(answer_s, 0.5),
            "first_token_s_p50": pct(first_token_s, 0.5),
            "first_token_s_p95": pct(first_token_s, 0.95),
            "prompt_tokens_p50": pct(prompt_tokens, 0.5),
            "end_to_end_s_p50": pct(end_to_end_s, 0.5),
        },
        "store": str(engine.settings.store_dir),
        "items": items,
    }


def format_report(r: dict[str, Any]) -> str:
    lines = [f"{r['dataset']}: {r['questions']} questions, {r['passages']} passages, "
             f"mode={r['mode']} retrieval={r['retrieval']} strategy={r['strategy']}"]  # fmt: skip
    for m in ("recall@2", "recall@5", "hit@1", "mrr", "em", "f1"):
        if r[m] is not None:
            lines.append(f"  {m:9} {r[m]:.4f}")
    if r.get("support") is not None:
        lines.append(f"  support   {r['support']:.4f} (share of answer sentences supported)")
    if rf := r.get("refusals"):
        lines.append(
            f"  refused {rf['refused']} of {rf['unanswerable']} unanswerable questions; "
            f"answered {rf['answered']} of {rf['answerable']} answerable ones"
        )
    if r.get("translated"):
        lines.append(
            f"  {r['translated']} of {r['questions']} questions also searched in translation"
        )
    t = r["timing"]
    lines.append(
        f"  ingest {t['ingest_s']}s ({t['ingested_chunks']} new chunks); retrieval p50 "
        f"{t['retrieval_ms_p50']} ms, p95 {t['retrieval_ms_p95']} ms"
        + (
            f"; first token p50 {t['first_token_s_p50']} s (p95 {t['first_token_s_p95']} s, "
            f"prompt p50 {t['prompt_tokens_p50']:.0f} tokens); answer p50 {t['answer_s_p50']} s, "
            f"end to end p50 {t['end_to_end_s_p50']} s"
            if t["answer_s_p50"] is not None
            else ""
        )
    )
    return "\n".join(lines)
