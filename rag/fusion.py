"""Ways to merge a dense and a keyword ranking into one (hybrid retrieval, graph hybrid, KAG).

Dense cosines and BM25 scores live on different scales: cosines of e5 crowd into 0.75–0.9
whatever the question, BM25 grows with the question's length and the rarity of its words. A fusion
either ignores the scores (reciprocal rank fusion) or puts both on one scale first.
docs/benchmarks.md has the measurements that chose the default.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import TypeVar

from ingest.ports import Scored

K = TypeVar("K", int, str)


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[tuple[K, float]]],
    k: int = 60,
    weights: Sequence[float] | None = None,
) -> list[tuple[K, float]]:
    """Fuse ranked lists by Σ w/(k + rank): robust to the retrievers' incomparable scores."""
    scores: dict[K, float] = {}
    for ranking, w in zip(rankings, weights or [1.0] * len(rankings), strict=True):
        for rank, (key, _score) in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + w / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def weighted_fusion(
    dense: Sequence[Scored], keyword: Sequence[Scored], weight: float
) -> list[Scored]:
    """Cosine plus `weight` × BM25 scaled to [0, 1] by the best keyword score.

    A candidate only one retriever found gets the other's floor (the lowest dense score among
    the candidates, or 0 for BM25), so it can still win on the score it has.
    """
    dense_s = dict(dense)
    floor = min(dense_s.values(), default=0.0)
    kw = dict(keyword)
    top = max(kw.values(), default=0.0) or 1.0
    fused = {
        i: dense_s.get(i, floor) + weight * kw.get(i, 0.0) / top for i in dense_s.keys() | kw.keys()
    }
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))


def normalise(ranking: Sequence[Scored], how: str) -> tuple[dict[str, float], float]:
    """A ranking's scores on a common scale, and the score a candidate it lacks gets.

    `minmax` maps the list onto [0, 1]; `zscore` subtracts its mean and divides by its spread;
    `dbsf` (distribution-based score fusion) maps mean ± 3 standard deviations onto [0, 1].
    Each list is scaled by its own distribution, so a question whose BM25 scores stand out from
    their neighbours counts for more than one whose scores are all alike.
    """
    values = [s for _, s in ranking]
    if not values:
        return {}, 0.0
    lo, hi = min(values), max(values)
    if how == "minmax":
        span = hi - lo
        return {i: (s - lo) / span if span else 1.0 for i, s in ranking}, 0.0
    mean = statistics.fmean(values)
    sd = statistics.pstdev(values) if len(values) > 1 else 0.0
    if how == "zscore":
        z = {i: (s - mean) / sd if sd else 0.0 for i, s in ranking}
        return z, min(z.values())
    if how == "dbsf":
        low, span = mean - 3 * sd, 6 * sd
        return {i: min(1.0, max(0.0, (s - low) / span)) if span else 1.0 for i, s in ranking}, 0.0
    raise ValueError(f"unknown normalisation {how!r}")


def normalised_fusion(
    dense: Sequence[Scored], keyword: Sequence[Scored], alpha: float, how: str = "minmax"
) -> list[Scored]:
    """alpha × normalised dense + (1 − alpha) × normalised keyword score."""
    d, d_floor = normalise(dense, how)
    k, k_floor = normalise(keyword, how)
    fused = {
        i: alpha * d.get(i, d_floor) + (1 - alpha) * k.get(i, k_floor) for i in d.keys() | k.keys()
    }
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))


def agreement(dense: Sequence[Scored], keyword: Sequence[Scored], depth: int = 10) -> float:
    """Share of the two top-`depth` lists that are the same candidates (0 to 1)."""
    top_d, top_k = {i for i, _ in dense[:depth]}, {i for i, _ in keyword[:depth]}
    return len(top_d & top_k) / depth if top_d and top_k else 0.0


def agreement_fusion(
    dense: Sequence[Scored], keyword: Sequence[Scored], alpha: float, how: str = "minmax"
) -> list[Scored]:
    """`normalised_fusion` whose keyword share grows with how much the two rankings agree.

    Where BM25's top candidates are also dense's, its scores refine the order; where they share
    nothing, BM25 has most likely matched the question's common words and is damped."""
    a = agreement(dense, keyword)
    return normalised_fusion(dense, keyword, 1 - (1 - alpha) * (0.5 + a), how)
