"""Leave-one-dataset-out comparison of keyword tokenisers and hybrid fusions (issue 18).

For each dataset folder (the `rag eval` format) this opens the cached eval store (`rag eval`
builds it), takes every question's dense top N from the store, and builds one in-memory FTS5
index per keyword tokeniser over the same indexed texts, so each tokeniser and each fusion is
scored on identical candidates. Then, for every held-out dataset, the configuration with the best
mean R@5 over the *other* datasets is chosen and reported on the held-out one.

    python scripts/tune_retrieval.py ../shared/datasets/{musique_train100,hotpotqa_train100,rgb_zh} \
        corpora/demo_qa --json out.json

Passages are ranked the way `rag eval` ranks them: the fused chunk ranking, each passage at the
rank of its first chunk.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingest import keywords as kw
from ingest.chunking import indexed_text
from ingest.hygiene import BOILERPLATE_KINDS
from ingest.store.fts5 import fts_query
from rag import fusion
from rag.engine import Engine
from rag.evaluation import eval_store_dir, ingest_with_bar, load_dataset
from rag.metrics import recall_at, reciprocal_rank
from rag.settings import Settings

N = 50  # candidates per retriever, as the product's `candidates`
Ranked = list[tuple[str, float]]


def tokenisers() -> dict[str, Callable[[str], list[str]]]:
    return {name: kw.tokeniser(name) for name in kw.TOKENISERS}


def fts_rank(
    texts: dict[str, str], queries: list[str], tok: Callable[[str], list[str]]
) -> list[Ranked]:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE f USING fts5(id UNINDEXED, tokens, tokenize='unicode61')")
    db.executemany("INSERT INTO f VALUES (?, ?)", [(i, " ".join(tok(t))) for i, t in texts.items()])
    out = []
    for q in queries:
        expr = fts_query(tok(q))
        if not expr:
            out.append([])
            continue
        rows = db.execute(
            "SELECT id, -bm25(f) FROM f WHERE f MATCH ? ORDER BY bm25(f) LIMIT ?", (expr, N)
        ).fetchall()
        out.append([(str(i), float(s)) for i, s in rows])
    return out


def collect(folder: Path, settings: Settings) -> dict[str, Any]:
    records, questions = load_dataset(folder)
    engine = Engine(settings.with_(store_dir=eval_store_dir(folder, settings), graph="off"))
    ingest_with_bar(engine, records, f"ingest {folder.name}", True)
    store = engine.store
    texts: dict[str, str] = {}
    passage: dict[str, str] = {}
    boiler: set[str] = set()
    for doc in store.chunks.documents():
        for c in store.chunks.chunks_of(doc.id):
            texts[c.id] = indexed_text(doc.title, c.heading_path, c.text)
            passage[c.id] = doc.source
            if c.kind in BOILERPLATE_KINDS:
                boiler.add(c.id)
    qs = [q for q in questions if q.get("supporting_ids")]
    dense = [store.dense.search(engine.embedder.embed_query(q["question"]), N) for q in qs]
    keyword = {
        name: fts_rank(texts, [q["question"] for q in qs], tok)
        for name, tok in tokenisers().items()
    }
    return {
        "name": folder.resolve().name,
        "gold": [[str(g) for g in q["supporting_ids"]] for q in qs],
        "passage": passage,
        "dense": dense,
        "keyword": keyword,
        "boiler": boiler,
    }


def scores(
    ranked: Ranked, gold: list[str], passage: dict[str, str], boiler: set[str]
) -> dict[str, float]:
    content = [c for c, _ in ranked if c not in boiler] + [c for c, _ in ranked if c in boiler]
    order = list(dict.fromkeys(passage[c] for c in content))
    return {
        "r2": recall_at(order, gold, 2),
        "r5": recall_at(order, gold, 5),
        "mrr": reciprocal_rank(order, gold),
    }


def methods() -> dict[str, Callable[[Ranked, Ranked], Ranked]]:
    m: dict[str, Callable[[Ranked, Ranked], Ranked]] = {
        "dense": lambda d, k: list(d),
        "bm25": lambda d, k: list(k),
    }
    for w in (0.02, 0.05, 0.1, 0.2, 0.3, 0.5):
        m[f"score w={w}"] = lambda d, k, w=w: fusion.weighted_fusion(d, k, w)
    for wd in (1.0, 1.5, 2.0, 3.0):
        m[f"rrf {wd}:1"] = lambda d, k, wd=wd: fusion.reciprocal_rank_fusion(
            [d, k], weights=[wd, 1.0]
        )
    for a in (0.5, 0.6, 0.7, 0.8, 0.9):
        m[f"minmax a={a}"] = lambda d, k, a=a: fusion.normalised_fusion(d, k, a, "minmax")
        m[f"zscore a={a}"] = lambda d, k, a=a: fusion.normalised_fusion(d, k, a, "zscore")
        m[f"dbsf a={a}"] = lambda d, k, a=a: fusion.normalised_fusion(d, k, a, "dbsf")
    for a in (0.5, 0.6, 0.7):
        m[f"agree a={a}"] = lambda d, k, a=a: fusion.agreement_fusion(d, k, a)
    return m


def evaluate(data: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """{config: {dataset: {r2, r5, mrr}}} for every tokeniser × method."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for tok in kw.TOKENISERS:
        for name, fuse in methods().items():
            if name == "dense" and tok != kw.TOKENISERS[0]:
                continue
            cfg = "dense" if name == "dense" else f"{tok} | {name}"
            out[cfg] = {}
            for d in data:
                per = [
                    scores(fuse(dn, kn)[:20], g, d["passage"], d["boiler"])
                    for dn, kn, g in zip(d["dense"], d["keyword"][tok], d["gold"], strict=True)
                ]
                out[cfg][d["name"]] = {m: statistics.fmean(p[m] for p in per) for m in per[0]}
    return out


def margin(table: dict[str, dict[str, dict[str, float]]], cfg: str, name: str) -> float:
    """R@5 of a hybrid config minus the better of dense and BM25 (with its tokeniser)."""
    tok = cfg.split(" | ")[0]
    best_single = max(table["dense"][name]["r5"], table[f"{tok} | bm25"][name]["r5"])
    return table[cfg][name]["r5"] - best_single


def leave_one_out(
    table: dict[str, dict[str, dict[str, float]]],
    names: Sequence[str],
    pred: Callable[[str], bool],
    worst_margin: bool = False,
) -> dict[str, tuple[str, float, float]]:
    """For each held-out set, the config (among those `pred` keeps) best on the others: by mean
    R@5, or by its worst margin over the better single retriever (`margin`), then mean R@5."""
    chosen = {}
    for held in names:
        others = [n for n in names if n != held]

        def key(c: str, others: list[str] = others) -> tuple[float, ...]:
            mean = statistics.fmean(table[c][n]["r5"] for n in others)
            if worst_margin:
                return (round(min(margin(table, c, n) for n in others), 3), mean, -len(c))
            return (mean, -len(c))

        best = max((c for c in table if pred(c)), key=key)
        extra = margin(table, best, held) if worst_margin else 0.0
        chosen[held] = (best, table[best][held]["r5"], extra)
    return chosen


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("datasets", nargs="+", type=Path)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    settings = Settings.from_env()
    data = [collect(f, settings) for f in args.datasets]
    table = evaluate(data)
    names = [d["name"] for d in data]
    print("config | " + " | ".join(names))
    for cfg, row in sorted(
        table.items(), key=lambda kv: -statistics.fmean(v["r5"] for v in kv[1].values())
    ):
        print(
            cfg,
            "|",
            " | ".join(f"{row[n]['r2']:.3f}/{row[n]['r5']:.3f}/{row[n]['mrr']:.3f}" for n in names),
        )
    hybrid = lambda c: c != "dense" and "| bm25" not in c  # noqa: E731
    for label, pred, worst in [
        ("bm25 tokeniser, by mean R@5", lambda c: "| bm25" in c, False),
        ("hybrid, by mean R@5", hybrid, False),
        ("hybrid, by worst margin over max(dense, BM25)", hybrid, True),
    ]:
        print(f"\nleave-one-dataset-out, {label}:")
        for held, (cfg, r5, m) in leave_one_out(table, names, pred, worst).items():
            print(
                f"  {held}: chose {cfg!r} → R@5 {r5:.3f}" + (f" (margin {m:+.3f})" if worst else "")
            )
    if args.json:
        args.json.write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
