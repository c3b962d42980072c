"""Text clean-up shared by every loader, so chunks and their hashes do not depend on the format.

Two documents holding the same sentence should give the same chunk text whether it came from a
PDF, a Word file or a web page: invisible characters, Unicode composition and runs of spaces are
what differ between them, so those are normalised here and nothing else. Full-width and
half-width forms are left alone on purpose: folding them changes what a Chinese reader sees.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# Zero-width space/joiners, word joiner, BOM and soft hyphen: invisible, but they split words
# for a tokenizer and change content hashes.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
# Only runs that change: a lone space (most matches, in prose) is left alone, which spares
# re.sub a piece per word (a 5 MB line cost 70 MB in pieces).
_SPACES = re.compile(r"[ \t\u00a0\f\v]{2,}|[\t\u00a0\f\v]")
_BLANK_RUNS = re.compile(r"\n{3,}")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")


def normalize_unicode(text: str) -> str:
    """NFC-compose, drop invisible characters and unify line endings; spacing is kept.

    Code blocks use this alone, since their indentation carries meaning.
    """
    text = unicodedata.normalize("NFC", text).translate(_INVISIBLE)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def collapse_spaces(text: str) -> str:
    """Runs of spaces, tabs, no-break spaces and form feeds become one space."""
    return _SPACES.sub(" ", text)


def clean_text(text: str) -> str:
    """Normalise Unicode, collapse spaces and tabs, strip each line, keep paragraph breaks."""
    lines = (collapse_spaces(line).strip() for line in normalize_unicode(text).split("\n"))
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()


def split_paragraphs(text: str) -> list[str]:
    """Split cleaned text on blank lines, dropping empty pieces."""
    return [p.strip() for p in _PARAGRAPH_BREAK.split(text) if p.strip()]


def is_cjk(char: str) -> bool:
    """True for Chinese/Japanese characters and CJK punctuation, which are written unspaced."""
    code = ord(char)
    return (
        0x3000 <= code <= 0x30FF  # CJK punctuation, kana
        or 0x3400 <= code <= 0x4DBF
        or 0x4E00 <= code <= 0x9FFF
        or 0xF900 <= code <= 0xFAFF
        or 0xFF00 <= code <= 0xFFEF  # full-width forms
        or 0x20000 <= code <= 0x3134F
    )


def join_lines(lines: Iterable[str]) -> str:
    """Join wrapped lines into one line: a space between words, none between CJK characters.

    A plain `" ".join` would put spaces inside Chinese sentences at every PDF line wrap.
    """
    out = ""
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if out and not (is_cjk(out[-1]) and is_cjk(line[0])):
            out += " "
        out += line
    return out


def one_line(text: str) -> str:
    """Clean `text` and fold it onto a single line (headings, table cells, list items)."""
    return join_lines(clean_text(text).split("\n"))
