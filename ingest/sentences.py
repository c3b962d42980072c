"""Sentence splitting for Chinese and English text, shared by chunking and extraction."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

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


# A held text is split once it is this long; a sentence longer than SENTENCE_CAP characters is
# cut at a space (or anywhere) so that memory stays bounded on text that never ends a sentence.
LOOK_AHEAD = 1 << 16
SENTENCE_CAP = 1 << 20


def split_sentence_stream(
    fragments: Iterable[str], look: int = LOOK_AHEAD, cap: int = SENTENCE_CAP
) -> Iterator[str]:
    """`split_sentences` of the concatenated fragments, holding a bounded tail of the text.

    The text is cut only where cutting changes nothing: at the end of a sentence break that is
    followed by a character that is neither a space (the break's `\\s+` could go on) nor a digit
    (the piece after the cut would start a line there, where "1." does not end a sentence).
    Such a cut splits the text exactly as the whole would be split, so `split_sentences(text)`
    equals this on any fragmenting of `text` that has no sentence over `cap` characters.
    A longer run without a break is cut at its last space before `cap`, or at `cap`.
    """
    text = ""
    parts: list[str] = []
    size = 0
    need = look
    for fragment in fragments:
        parts.append(fragment)
        size += len(fragment)
        if len(text) + size < need:
            continue
        text += "".join(parts)
        parts, size = [], 0
        pos = 0
        while len(text) - pos >= look:
            end = min(len(text), pos + cap)
            cut = _exact_cut(text, pos, end)
            if cut is None:
                if len(text) - pos < cap:
                    break  # wait for more text: the break may come
                cut = _forced_cut(text, pos, end)
            yield from split_sentences(text[pos:cut])
            pos = cut
        text = text[pos:]
        # a text searched in vain is searched again only once it has doubled (linear overall),
        # or reached the cap (what is left at the end is then under the cap too)
        need = min(max(look, 2 * len(text)), max(look, cap))
    yield from split_sentences(text + "".join(parts))


def _exact_cut(text: str, pos: int, end: int) -> int | None:
    """The last position in (pos, end) where `text` may be cut without changing its split."""
    cut = None
    for m in _SENTENCE_END.finditer(text, pos, end):
        after = m.end()
        if pos < after < end and not text[after].isspace() and not text[after].isdigit():
            cut = after
    return cut


def _forced_cut(text: str, pos: int, end: int) -> int:
    space = text.rfind(" ", pos + 1, end)
    return space if space > pos else end
