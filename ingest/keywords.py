"""Keyword tokens for BM25: jieba words for Chinese, lower-cased words for other scripts.

The same function tokenises chunks at ingest and questions at query time, so both sides of
the keyword index agree.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Callable
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
    """Tokens for the keyword index, in order (`KEYWORD_TOKENISER`)."""
    return _DEFAULT(text)


def word_tokens(text: str) -> list[str]:
    """Lower-cased words and jieba's search-mode words, unstemmed: the hashing embedder's
    features, which must not move when the keyword index's tokeniser does."""
    return _tokens(text, "jieba-search", stem=False, stop=True)


# Tokenisers compared by scripts/tune_retrieval.py: "<Chinese>/<other scripts>".
TOKENISERS = (
    "jieba-search/plain",
    "jieba/plain",
    "bigram/plain",
    "unibigram/plain",
    "jieba+bigram/plain",
    "jieba-search/stem",
    "bigram/stem",
    "jieba+bigram/stem",
    "jieba-search/nostop",
)


def tokeniser(name: str) -> Callable[[str], list[str]]:
    zh, _, en = name.partition("/")
    return lambda text: _tokens(text, zh, stem=en == "stem", stop=en != "nostop")


# The keyword index's tokeniser, chosen leave-one-dataset-out (docs/benchmarks.md). A store
# records the one its rows were made with and is re-tokenised when it differs.
KEYWORD_TOKENISER = "jieba-search/plain"
_DEFAULT = tokeniser(KEYWORD_TOKENISER)


def _tokens(text: str, zh: str, *, stem: bool, stop: bool) -> list[str]:
    text = text.lower()
    tokens: list[str] = []
    pos = 0
    for m in _CJK_RUN.finditer(text):
        tokens.extend(_latin_tokens(text[pos : m.start()], stem, stop))
        tokens.extend(_cjk_tokens(m.group(), zh, stop))
        pos = m.end()
    tokens.extend(_latin_tokens(text[pos:], stem, stop))
    return tokens


def _cjk_tokens(run: str, how: str, stop: bool) -> list[str]:
    out: list[str] = []
    if how.startswith("jieba"):
        cut = (
            jieba_module().cut_for_search if how.startswith("jieba-search") else jieba_module().cut
        )
        out.extend(w for w in cut(run) if not (stop and w in _ZH_STOP))
    if "bigram" in how:
        if how.startswith("unibigram"):
            out.extend(ch for ch in run if not (stop and ch in _ZH_STOP))
        out.extend([run[i : i + 2] for i in range(len(run) - 1)] if len(run) > 1 else [run])
    return out


@cache
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def _latin_tokens(text: str, stem: bool = False, stop: bool = True) -> list[str]:
    words = [w for w in _WORD.findall(text) if not (stop and w in _EN_STOP)]
    return _stemmer().stemWords(words) if stem else words
