"""Reciprocal rank fusion: Σ 1/(k + rank) over the rankings, scores ignored."""

from __future__ import annotations

import pytest

from rag.fusion import reciprocal_rank_fusion


def test_fused_scores_match_hand_computation() -> None:
    dense = [(1, 0.91), (2, 0.85), (3, 0.40)]
    keyword = [(3, 12.5), (1, 7.0), (4, 3.2)]
    fused = dict(reciprocal_rank_fusion([dense, keyword], k=60))
    assert fused == pytest.approx({1: 1 / 61 + 1 / 62, 2: 1 / 62, 3: 1 / 63 + 1 / 61, 4: 1 / 63})


def test_result_is_sorted_by_fused_score() -> None:
    dense = [(1, 0.91), (2, 0.85), (3, 0.40)]
    keyword = [(3, 12.5), (1, 7.0), (4, 3.2)]
    assert [key for key, _ in reciprocal_rank_fusion([dense, keyword])] == [1, 3, 2, 4]


def test_item_ranked_well_by_both_beats_items_first_in_only_one() -> None:
    dense = [(10, 0.9), (30, 0.8)]
    keyword = [(20, 9.0), (30, 8.0)]
    fused = reciprocal_rank_fusion([dense, keyword], k=60)
    assert fused[0] == (30, pytest.approx(2 / 62))


def test_raw_scores_do_not_matter_only_ranks() -> None:
    a = reciprocal_rank_fusion([[(5, 100.0), (6, 0.1)]])
    b = reciprocal_rank_fusion([[(5, 0.2), (6, 0.1)]])
    assert a == b


def test_ties_are_broken_by_key() -> None:
    fused = reciprocal_rank_fusion([[(7, 0.9)], [(3, 5.0)], [(5, 1.0)]])
    assert [key for key, _ in fused] == [3, 5, 7]
    assert fused[0][1] == fused[2][1]


def test_weighted_fusion_adds_scaled_keyword_scores() -> None:
    from rag.fusion import weighted_fusion

    dense = [(1, 0.90), (2, 0.88), (3, 0.80)]
    keyword = [(2, 10.0), (4, 5.0)]
    fused = dict(weighted_fusion(dense, keyword, 0.05))
    assert fused[2] == pytest.approx(0.88 + 0.05)  # best keyword score scales to 1
    assert fused[1] == pytest.approx(0.90)
    assert fused[4] == pytest.approx(0.80 + 0.025)  # keyword-only: dense floor + half weight
    assert [k for k, _ in weighted_fusion(dense, keyword, 0.05)] == [2, 1, 4, 3]
    assert weighted_fusion([], [], 0.05) == []


def test_weights_scale_each_ranking() -> None:
    hybrid = [(1, 0.9), (2, 0.8)]
    pagerank = [(2, 0.3), (1, 0.1)]
    # equal weights tie; weighting the first ranking 2:1 lets its order decide
    equal = dict(reciprocal_rank_fusion([hybrid, pagerank]))
    assert equal[1] == pytest.approx(equal[2])
    weighted = reciprocal_rank_fusion([hybrid, pagerank], weights=(2.0, 1.0))
    assert weighted == [(1, pytest.approx(2 / 61 + 1 / 62)), (2, pytest.approx(2 / 62 + 1 / 61))]
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([hybrid, pagerank], weights=(1.0,))
