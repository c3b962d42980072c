"""Guards on the model's answer text as it streams: no bare citations, no runaway repetition.

A small model sometimes replies with nothing but a citation ("[1]"), or starts with one and
then the sentence ("[2] The GGUF type uses…"), and greedy decoding can loop on one sentence
until the token limit. `Guard` sees every piece of the stream and decides what the reader
gets:

- text is held back while it is only citation markers, so a bare "[1]" never reaches the
  screen; citations written before the first word are moved to the end of the answer;
- an answer whose last stretch repeats itself (the same run of text three times, four when
  it is shorter than 16 characters) is cut after its first copy and the stream stopped.

`bare` says whether the finished answer had no words at all; the answer loop then asks again.
"""

from __future__ import annotations

import re

from rag.prompting import CITATION

# a word: a letter or a Chinese character; in a brief answer (eval) a digit counts too ("4.8")
_WORD = re.compile(r"[^\W\d_]|[\u3400-\u9fff]")
_WORD_OR_DIGIT = re.compile(r"[^\W_]|[\u3400-\u9fff]")
LONGEST_REPEAT = 200  # characters: longer loops are left to the token limit
SHORTEST_REPEAT = 4


def has_words(text: str, brief: bool = False) -> bool:
    """Whether `text` says anything beyond citation markers."""
    return bool((_WORD_OR_DIGIT if brief else _WORD).search(CITATION.sub(" ", text)))


def repeated_tail(text: str) -> int | None:
    """Where to cut `text` when it ends in a loop: the end of the loop's first copy, else None."""
    n = len(text)
    for p in range(SHORTEST_REPEAT, min(LONGEST_REPEAT, n // 3) + 1):
        copies = 3 if p >= 16 else 4
        if p * copies > n:
            break
        unit = text[n - p :]
        if not unit.strip():
            continue
        if all(text[n - (c + 1) * p : n - c * p] == unit for c in range(1, copies)):
            start = n - copies * p  # walk back to where the loop began, keep one turn of it
            while start > 0 and text[start - 1] == text[start - 1 + p]:
                start -= 1
            return start + p
    return None


class Guard:
    """Feed it the stream's pieces; it returns what may be shown now."""

    def __init__(self, brief: bool = False) -> None:
        self._brief = brief
        self._held = ""  # text before the first word, not yet shown
        self._lead: list[str] = []  # citation markers written before the first word
        self.text = ""  # the answer as shown
        self.stopped = False  # a loop was cut: the caller stops the model

    def feed(self, piece: str) -> str:
        if self.stopped:
            return ""
        if not self.text:
            self._held += piece
            if not has_words(self._held, self._brief):
                return ""
            first = _WORD_OR_DIGIT.search(CITATION.sub(lambda m: " " * len(m[0]), self._held))
            start = first.start() if first else 0
            self._lead = [m[0] for m in CITATION.finditer(self._held[:start])]
            piece, self._held = self._held[start:], ""
        before = len(self.text)
        self.text += piece
        cut = repeated_tail(self.text)
        if cut is not None:
            self.stopped = True
            self.text = self.text[:cut].rstrip()
            return self.text[before:] if len(self.text) > before else ""
        return piece

    def finish(self) -> str:
        """What is left to show when the stream ends: the moved leading citations."""
        if not self.text or not self._lead:
            return ""
        have = {m[0] for m in CITATION.finditer(self.text)}
        tail = "".join(c for c in dict.fromkeys(self._lead) if c not in have)
        if not tail:
            return ""
        self.text = self.text.rstrip() + " " + tail
        return " " + tail

    @property
    def bare(self) -> bool:
        return not self.text
