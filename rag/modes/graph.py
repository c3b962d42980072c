"""Graph RAG: local neighbourhoods, global community reports, personalised PageRank, hybrid.

Every strategy ends in chunks, so answers still cite passages; relations and community
reports go into the prompt as background notes, and the trace says what was matched and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from graph.search import EntityMatch, GraphIndex
from ingest.types import SearchFilter
from rag.fusion import reciprocal_rank_fusion
from rag.generation.base import Message, complete
from rag.modes.base import Context, Query, Services
from rag.modes.registry import DEFAULT_GRAPH_STRATEGY, check_strategy

GLOBAL_CANDIDATES = 6
# hybrid chunk ranking : PageRank. PageRank alone ranks below hybrid retrieval on two of the
# three benchmark sets, so it re-ranks rather than leads (docs/benchmarks.md has the runs).
HYBRID_WEIGHTS = (2.0, 1.0)
RATE_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["score"],
    "properties": {"score": {"enum": list(range(11))}},
}  # fmt: skip


def _match_trace(matches: Sequence[EntityMatch]) -> dict[str, Any]:
    return {
        "step": "match_entities",
        "entities": [
            {"name": m.entity.name, "score": round(m.score, 3), "how": m.how} for m in matches
        ],
    }


def _relation_notes(index: GraphIndex, relations: Sequence[Any], limit: int) -> list[str]:
    ents = index.kg.entities
    return [
        f"{ents[r.source].name} — {ents[r.target].name}: {r.description}" for r in relations[:limit]
    ]


def context(services: Services, query: Query) -> Context:
    strategy = check_strategy(query.strategy or DEFAULT_GRAPH_STRATEGY)
    return graph_context(
        services, query.question, strategy, query.k or services.top_k, query.filters
    )


def graph_context(
    services: Services, question: str, strategy: str, k: int, flt: SearchFilter | None
) -> Context:
    index = services.graph_index()
    qvec = services.embedder.embed_query(question)
    matches = index.match_entities(question, qvec)
    trace: list[dict[str, Any]] = [_match_trace(matches)]
    if strategy == "global":
        return _global(services, index, question, qvec, k, flt, trace)
    local = index.local_search(matches)
    notes = _relation_notes(index, local.relations, 8)
    notes += [f"[{c.title}] {c.summary}" for c in local.reports[:2]]
    if strategy == "local":
        hits = services.hits(local.chunk_scores, k, flt)
        if len(hits) < k:  # too few graph chunks: fill with plain retrieval
            seen = {h.chunk.id for h in hits}
            hits += [
                h for h in services.retrieve(question, k=k, filters=flt) if h.chunk.id not in seen
            ][: k - len(hits)]
        trace.append(
            {
                "step": "local",
                "relations": len(local.relations),
                "chunks": [h.chunk.id for h in hits],
            }
        )
        return Context(hits, notes, trace)
    dense = services.retrieve(question, k=20, method="dense", filters=flt)
    ppr = index.ppr_rank(matches, [(h.chunk.id, h.score) for h in dense])
    trace.append(
        {"step": "ppr", "seeds": len(matches) + len(dense), "top": [c for c, _ in ppr[:k]]}
    )
    if strategy == "ppr":
        return Context(services.hits(ppr, k, flt), notes[:4], trace)
    chunk_rank = [
        (h.chunk.id, h.score)
        for h in services.retrieve(question, k=50, method="hybrid", filters=flt)
    ]
    fused = reciprocal_rank_fusion([chunk_rank, ppr[:50]], weights=HYBRID_WEIGHTS)
    hits = services.hits(fused, k, flt)
    trace.append(
        {"step": "fuse", "with": "hybrid chunk retrieval", "chunks": [h.chunk.id for h in hits]}
    )
    return Context(hits, notes[:4], trace)


def _global(
    services: Services, index: GraphIndex, question: str, qvec: Any, k: int,
    flt: SearchFilter | None, trace: list[dict[str, Any]],
) -> Context:  # fmt: skip
    """Map: rate the nearest community reports for relevance; reduce: answer from the best."""
    candidates = index.rank_reports(qvec, GLOBAL_CANDIDATES)
    rated: list[tuple[float, Any]] = []
    for report, sim in candidates:
        messages: list[Message] = [
            {"role": "system", "content": "Rate from 0 to 10 how useful this report is for answering "
             "the question. Answer with JSON."},
            {"role": "user", "content": f"Question: {question}\nReport: {report.summary}"},
        ]  # fmt: skip
        score = _score(
            complete(services.generator, messages, max_tokens=16, json_schema=RATE_SCHEMA)
        )
        rated.append((score + sim, report))
    rated.sort(key=lambda t: (-t[0], t[1].id))
    best = [r for s, r in rated[:3] if s > 0]
    trace.append(
        {
            "step": "global_map",
            "reports": [{"title": r.title, "score": round(s, 3)} for s, r in rated],
        }
    )
    members = {eid for r in best for eid in r.entity_ids}
    votes: dict[str, float] = {}
    for eid in members:
        for cid in index.kg.entities[eid].chunk_ids:
            votes[cid] = votes.get(cid, 0.0) + 1.0
    hits = services.hits(sorted(votes.items(), key=lambda kv: (-kv[1], kv[0])), k, flt)
    return Context(hits, [f"[{r.title}] {r.summary}" for r in best], trace)


def _score(reply: str) -> float:
    import json

    try:
        return float(json.loads(reply)["score"])
    except (ValueError, KeyError, TypeError):
        return 0.0
