"""Keyword tokens for BM25: jieba words for Chinese, lower-cased words for other scripts.

The same function tokenises chunks at ingest and questions at query time, so both sides of
the keyword index agree.
"""

from __future__ import annotations

import logging
import re
import warnings
from functools import cache
from typing import Any

_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_WORD = re.compile(r"[0-9a-z\u00c0-\u024f]+(?:[.'+\-][0-9a-z\u00c0-\u024f]+)*")

_EN_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "been",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "their",
        "them",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "whose",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "we",
        "our",
        "he",
        "she",
        "his",
        "her",
        "not",
        "no",
        "yes",
        "than",
        "then",
        "so",
        "such",
        "also",
        "about",
        "after",
        "before",
        "other",
        "any",
        "all",
        "each",
        "which",
        "many",
        "much",
        "more",
        "most",
        "some",
    ]
)
_ZH_STOP = frozenset(
    [
        "的",
        "了",
        "是",
        "在",
        "和",
        "与",
        "及",
        "或",
        "也",
        "都",
        "而",
        "并",
        "被",
        "把",
        "对",
        "从",
        "以",
        "为",
        "于",
        "之",
        "其",
        "这",
        "那",
        "个",
        "有",
        "就",
        "等",
        "中",
    ]
)


@cache
def jieba_module() -> Any:
    """jieba, imported on first use with its start-up chatter silenced (and the deprecation
    warning of the `pkg_resources` it imports, which milvus-lite needs installed)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "pkg_resources is deprecated", UserWarning)
        import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


def keyword_tokens(text: str) -> list[str]:
    """Tokens for the keyword index, in order; Chinese runs go through jieba's search mode."""
    text = text.lower()
    tokens: list[str] = []
    pos = 0
    for m in _CJK_RUN.finditer(text):
        tokens.extend(_latin_tokens(text[pos : m.start()]))
        tokens.extend(w for w in jieba_module().cut_for_search(m.group()) if w not in _ZH_STOP)
        pos = m.end()
    tokens.extend(_latin_tokens(text[pos:]))
    return tokens


def _latin_tokens(text: str) -> list[str]:
    return [w for w in _WORD.findall(text) if w not in _EN_STOP]
