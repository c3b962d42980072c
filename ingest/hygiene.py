"""Boilerplate chunks: tables of contents, index pages, runs of numbers and punctuation.

Such chunks share many words with almost any question (a table of contents names every topic
of the manual) and so crowd real passages out of the top results, for dense and keyword
search alike. They are kept and shown, with a `kind` that says what they are; retrieval ranks
them after every other candidate (`rag.retrieval`). The rules look only at the chunk's own text,
so a re-ingested chunk gets the same mark.
"""

from __future__ import annotations

import re

from ingest.loaders.cleaning import is_cjk

TOC, INDEX, NOISE = "toc", "index", "noise"
BOILERPLATE_KINDS = frozenset({TOC, INDEX, NOISE})

# "Installation ........ 12", "安装 …… 12", "Scope ______ 3": a leader, then a page number
_LEADER = re.compile(r"(?:(?:\.\s?){4,}|(?:·\s?){4,}|…{2,}|_{4,}|-{6,})\s*\d{1,4}\b")
# "2.3 Memory sizing 14": a section number, a short title, a page number
_NUMBERED_ENTRY = re.compile(r"(?<![\d.])\d{1,2}(?:\.\d{1,2}){0,3}\.?\s+[^\d\n]{2,60}?\s+\d{1,4}\b")
# "quantization, 12, 45–47": an index term and its pages
_INDEX_ENTRY = re.compile(
    r"[^\W\d][^,\n\d]{0,40}?,\s*\d{1,4}(?:\s*[-–]\s*\d{1,4})?(?:\s*,\s*\d{1,4}(?:\s*[-–]\s*\d{1,4})?)*"
)
_CONTENTS_TITLE = re.compile(r"^\s*(?:table of contents|contents|目\s*录|目\s*錄)\b", re.I)
_INDEX_TITLE = re.compile(r"^\s*(?:[a-z]+\s+){0,3}(?:index|索\s*引)\b", re.I)
_SENTENCE_END = re.compile(r"[。！？，、；!?]|\.(?=\s|$)")
_MIN_LETTERS = 0.4  # prose has far more letters than digits and punctuation; noise has not
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def boilerplate_kind(text: str, kind: str = "paragraph") -> str | None:
    """The boilerplate `kind` a chunk of this text is, or None for a real passage.

    `kind` is what the chunker made of it: a table of figures is data, not noise.
    """
    stripped = text.strip()
    if not stripped:
        return None
    leaders = len(_LEADER.findall(stripped))
    if leaders >= 3 or (leaders >= 1 and _CONTENTS_TITLE.match(stripped)):
        return INDEX if _INDEX_TITLE.match(stripped) else TOC
    entries = len(_INDEX_ENTRY.findall(stripped))
    if entries >= 5 and _coverage(_INDEX_ENTRY, stripped) >= 0.6:
        return INDEX
    if entries >= 2 and _INDEX_TITLE.match(stripped) and _number_share(stripped) >= 0.2:
        return INDEX
    numbered = len(_NUMBERED_ENTRY.findall(stripped))
    if (
        numbered >= 4
        and _coverage(_NUMBERED_ENTRY, stripped) >= 0.6
        and len(_SENTENCE_END.findall(stripped)) <= numbered // 4  # prose ends its sentences
    ):
        return TOC
    if kind == "table":  # figures in a table are data
        return None
    if _letter_share(stripped) < _MIN_LETTERS:
        return NOISE
    return None


def _letter_share(text: str) -> float:
    """Letters' share of the visible characters, a Chinese character counting as two letters
    (one carries about what a short English word does), so Chinese prose with figures in it
    is not mistaken for a run of numbers."""
    visible = [ch for ch in text if not ch.isspace()]
    cjk = sum(ch.isalpha() and is_cjk(ch) for ch in visible)
    letters = sum(ch.isalpha() for ch in visible) - cjk
    weighted = letters + 2 * cjk
    return weighted / max(1, weighted + len(visible) - letters - cjk)


def _coverage(pattern: re.Pattern[str], text: str) -> float:
    """Share of the text's visible characters inside matches of `pattern`."""
    inside = sum(len(m.group().replace(" ", "")) for m in pattern.finditer(text))
    return inside / max(1, len(text.replace(" ", "").replace("\n", "")))


def _number_share(text: str) -> float:
    words = text.split()
    return sum(bool(_NUMBER.fullmatch(w.strip(",;"))) for w in words) / max(1, len(words))
