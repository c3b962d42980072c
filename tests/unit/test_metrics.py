"""Retrieval and answer metrics, checked against values computed by hand."""

from __future__ import annotations

import pytest

from rag.metrics import exact_match, f1_score, recall_at, reciprocal_rank, strip_citations


def test_exact_match_ignores_case_articles_and_punctuation() -> None:
    assert exact_match("The NF4 format.", ["nf4 format"]) == 1.0
    assert exact_match("an NF4 Format!", ["NF4 format"]) == 1.0
    assert exact_match("NF4", ["4-bit NormalFloat"]) == 0.0


def test_exact_match_takes_any_gold_answer() -> None:
    assert exact_match("4-bit", ["NF4", "4-bit"]) == 1.0


def test_citations_are_stripped_before_scoring() -> None:
    assert strip_citations("2 GiB [1] per sequence [2, 3]【4】") == "2 GiB  per sequence "
    assert exact_match("2 GiB [1]", ["2 GiB"]) == 1.0
    assert f1_score("16 bytes [2, 3]", ["16 bytes"]) == 1.0
    assert exact_match("双重量化【2，3】。", ["双重量化"]) == 1.0


def test_english_f1_counts_overlapping_words() -> None:
    # prediction tokens: about 2 gib of memory (5); gold: 2 gib (2); common 2
    # precision 2/5, recall 1 -> F1 = 2 * 0.4 / 1.4 = 4/7
    assert f1_score("About 2 GiB of memory.", ["2 GiB"]) == pytest.approx(4 / 7)


def test_chinese_f1_is_character_level() -> None:
    # 1 2 人 死 亡 vs 1 2 人: precision 3/5, recall 1 -> F1 = 0.75
    assert f1_score("12人死亡", ["12人"]) == pytest.approx(0.75)
    assert exact_match("12人死亡", ["12人"]) == 0.0
    assert exact_match("12 人。", ["12人"]) == 1.0


def test_f1_is_zero_without_overlap_and_best_over_answers() -> None:
    assert f1_score("BF16", ["NF4"]) == 0.0
    assert f1_score("NF4 [1]", ["4-bit", "NF4"]) == 1.0


def test_recall_at_k_counts_gold_in_the_top_k() -> None:
    ranked = ["c3", "c1", "c7", "c2"]
    gold = ["c1", "c2"]
    assert recall_at(ranked, gold, 1) == 0.0
    assert recall_at(ranked, gold, 2) == 0.5
    assert recall_at(ranked, gold, 4) == 1.0
    assert recall_at(ranked, [], 4) == 0.0


def test_reciprocal_rank_is_one_over_the_first_gold_position() -> None:
    assert reciprocal_rank(["c3", "c1", "c7", "c2"], ["c2", "c1"]) == 0.5
    assert reciprocal_rank(["c1", "c3"], ["c1"]) == 1.0
    assert reciprocal_rank(["c3", "c7", "c9"], ["c2"]) == 0.0
