"""Retrieval and answer metrics: recall@k, hit@1, MRR; SQuAD EM/F1 (character-level for Chinese)."""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Sequence

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_PUNCT = (
    set(string.punctuation)
    | {chr(c) for c in range(0x3000, 0x3040)}
    | set("，。！？；：“”‘’（）《》【】、…—·")
)
_CITATION = re.compile(r"[\[【]\s*\d+(?:\s*[,，、]\s*\d+)*\s*[\]】]")


def recall_at(ranked: Sequence[str], gold: Sequence[str], k: int) -> float:
    """Share of the gold passages found in the top k."""
    if not gold:
        return 0.0
    return len(set(ranked[:k]) & set(gold)) / len(set(gold))


def reciprocal_rank(ranked: Sequence[str], gold: Sequence[str]) -> float:
    wanted = set(gold)
    for i, pid in enumerate(ranked, start=1):
        if pid in wanted:
            return 1.0 / i
    return 0.0


def strip_citations(text: str) -> str:
    return _CITATION.sub("", text)


def _is_chinese(text: str) -> bool:
    return bool(_CJK.search(text))


def normalise_en(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def normalise_zh(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if ch not in _PUNCT and not ch.isspace())


def _tokens(text: str, chinese: bool) -> list[str]:
    return list(normalise_zh(text)) if chinese else normalise_en(text).split()


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    pred = strip_citations(prediction)
    for gold in answers:
        norm = normalise_zh if _is_chinese(gold) else normalise_en
        if norm(pred) == norm(gold) and norm(gold):
            return 1.0
    return 0.0


def f1_score(prediction: str, answers: Sequence[str]) -> float:
    """Best token-overlap F1 over the gold answers (characters when the gold is Chinese)."""
    pred = strip_citations(prediction)
    best = 0.0
    for gold in answers:
        zh = _is_chinese(gold)
        p, g = _tokens(pred, zh), _tokens(gold, zh)
        common = sum((Counter(p) & Counter(g)).values())
        if not p or not g or not common:
            continue
        precision, recall = common / len(p), common / len(g)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best
