"""Sentence splitting for Chinese and English text, shared by chunking and extraction."""

from __future__ import annotations

import re

# A sentence ends at Chinese full stops (。！？；), or at . ! ? followed by space — but not
# after an initial ("J. Smith"), an abbreviation ("e.g."), an ellipsis, or a list number at
# the start of a line ("1. First"). Acronyms and numbers do end sentences ("14 GB. The").
_SENTENCE_END = re.compile(
    r"(?<=[。！？；!?])(?=[^”’」』)\]）])"
    r"|(?<=[.!?])(?<!\b[A-Z]\.)(?<!\.[a-z]\.)(?<!\.\.)(?<!^\d\.)(?<!^\d\d\.)\s+"
    r"|(?<=[。！？；][”’」』）)])"
    r"|\n+",
    re.MULTILINE,
)


def split_sentences(text: str) -> list[str]:
    """Split into sentences, keeping the end punctuation with its sentence."""
    parts = (s.strip() for s in _SENTENCE_END.split(text))
    return [p for p in parts if p]
