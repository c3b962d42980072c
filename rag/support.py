"""Checked citations: every sentence of an answer against the passages it was given.

The model writes citation numbers as it likes, and the 1.5B default often cites a wrong
passage (5 of 17 sentences of the demo answers). After generation each answer sentence is
scored against every passage in the prompt:

- **lexical**: the share of the sentence's words that the passage contains, counting only the
  words the question did not already bring (a sentence that restates the question and adds a
  wrong number should not pass on the restated words);
- **semantic**: the cosine between the sentence and the passage's stored vector (so only the
  answer's few sentences are embedded), mapped to 0…1 across `SAME_BAND`.

A sentence in its passage's language scores `LEXICAL_WEIGHT` × lexical + the rest × semantic.
Across languages it scores by the lexical share alone: the names and numbers a Chinese
passage writes in Latin letters. Cosines between an English sentence and Chinese passages did
not tell the supporting passage from the others (0.80–0.84 for all five). So a cross-lingual
sentence with no such anchor is flagged even when it is right.

A score of `SUPPORTED` or more supports. A sentence is **supported** when some passage
supports it. When the passages it cites do not, or it cites none, `corrected` names the one
that does: a wrong or missing citation is fixed, not only flagged. A sentence that no passage
supports is flagged. A refusal ("I don't know") has nothing to check. The answer's `support`
is the share of its checked sentences that are supported. The band and weight were set on
the 14 demo answers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ingest.embedding import Embedder, embed_small_batches
from ingest.keywords import word_tokens
from ingest.language import language_of
from ingest.sentences import split_sentences
from rag.prompting import CITATION, parse_citations
from rag.types import Source

SUPPORTED = 0.5
LEXICAL_WEIGHT = 0.7
# e5 cosines of a sentence to a passage's vector crowd into 0.8–0.95: this band maps to 0…1
SAME_BAND = (0.85, 0.95)
_LEADING = re.compile(rf"(?:\s*(?:{CITATION.pattern}))+[\s.。]*")
# the words of a sentence that only points at a passage ("This option is mentioned in [1].")
_META_WORDS = frozenset([
    "this", "that", "these", "it", "option", "metric", "approach", "method", "information",
    "answer", "fact", "mentioned", "stated", "supported", "described", "shown", "found",
    "explained", "given", "listed", "according", "passage", "passages", "context", "source",
    "sources", "资料", "文中", "参见", "提到", "见",
])  # fmt: skip
_REFUSAL = re.compile(r"^\W*(i don'?t know|i do not know|我不知道|不知道)", re.IGNORECASE)


@dataclass(frozen=True)
class SentenceCheck:
    text: str
    citations: list[int]  # as the model wrote them
    supported: bool
    score: float  # the cited passages' best support, or the corrected one's
    best: int | None  # the passage that supports it best, if any does
    corrected: list[int] | None  # the citation it should have, when it differs

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def is_refusal(answer: str) -> bool:
    return bool(_REFUSAL.match(answer.strip()))


def unsupported(checks: Sequence[SentenceCheck], sources: Sequence[Source]) -> bool:
    """Whether the answer should be withheld: no sentence is supported, and each could have
    been (a passage in its own language was in the prompt; across languages only shared names
    and numbers count, so an unsupported cross-lingual sentence proves little)."""
    if not checks or any(c.supported for c in checks):
        return False
    langs = {_language(src.text) for src in sources}
    return all(_language(c.text) in langs for c in checks)


def answer_sentences(answer: str) -> list[str]:
    """The answer's sentences, a citation written after a sentence's full stop kept with it."""
    out: list[str] = []
    for piece in split_sentences(answer):
        lead = _LEADING.match(piece)
        if out and lead:  # "… full stop. [1] Next sentence": the [1] is the last sentence's
            out[-1] = f"{out[-1]} {lead[0].strip()}"
            piece = piece[lead.end() :]
        if out and CITATION.search(piece) and set(_words(piece)) <= _META_WORDS:
            # "This is mentioned in [1].": no claim of its own, a citation for the last one
            cites = " ".join(m[0] for m in CITATION.finditer(piece))
            out[-1] = f"{out[-1]} {cites}".strip()
        elif piece.strip(" .。,，;；"):
            out.append(piece)
    return out


def _words(text: str) -> list[str]:
    return [
        w.lower()
        for w in word_tokens(CITATION.sub(" ", text))
        if len(w) > 1 or w.isdigit() or ord(w) > 127
    ]


# a number the answer writes in digits that the passage spells out ("4 models", "four networks");
# English only: a Chinese numeral (一, 二) is part of too many words to count as one
_NUMBERS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
            "ten", "eleven", "twelve"]  # fmt: skip
_SPELLED = {str(n): word for n, word in enumerate(_NUMBERS)}


def _lexical(words: list[str], passage: str) -> float:
    if not words:
        return 0.0
    hay = passage.lower()
    return sum(w in hay or _SPELLED.get(w, "\0") in hay for w in words) / len(words)


def _language(text: str) -> str:
    """The language of a sentence or passage, its citation markers left out."""
    return language_of(CITATION.sub(" ", text))


def check(
    question: str,
    answer: str,
    sources: Sequence[Source],
    embedder: Embedder | None = None,
    vectors: Sequence[np.ndarray | None] = (),
) -> tuple[list[SentenceCheck], float | None]:
    """Each sentence's support and the answer's (None for a refusal or an empty answer).

    `vectors` are the sources' stored embeddings, in order; without them (or an embedder)
    the check is lexical only."""
    if not answer.strip() or is_refusal(answer) or not sources:
        return [], None
    worded = [(s, w) for s in answer_sentences(answer) if (w := _words(s))]
    if not worded:
        return [], None
    sentences = [s for s, _ in worded]
    asked = set(_words(question))
    valid = {s.n for s in sources}
    lexical = np.zeros((len(sentences), len(sources)))
    for i, (_, words) in enumerate(worded):
        novel = [w for w in words if w not in asked] or words
        for j, src in enumerate(sources):
            lexical[i, j] = _lexical(novel, src.text)
    have = list(vectors) if len(vectors) == len(sources) else [None] * len(sources)
    cos = _cosines(sentences, have, embedder)
    semantic = embedder is not None and any(v is not None for v in have)
    source_langs = [_language(src.text) for src in sources]
    same = np.array([[_language(s) == lang for lang in source_langs] for s in sentences])
    within = LEXICAL_WEIGHT * lexical + (1 - LEXICAL_WEIGHT) * _band(cos, SAME_BAND)
    across = lexical  # across languages the cosines do not tell support apart (see above)
    scores = np.where(same, within, across) if semantic else lexical
    col = {src.n: j for j, src in enumerate(sources)}
    checks = []
    for i, sent in enumerate(sentences):
        cited = parse_citations(sent, valid)
        score = max((float(scores[i, col[n]]) for n in cited), default=0.0)
        j_best = int(np.argmax(scores[i]))
        best = sources[j_best].n if scores[i, j_best] >= SUPPORTED else None
        corrected = None
        if score < SUPPORTED and best is not None:  # a wrong or missing citation
            corrected, score = [best], float(scores[i, j_best])
        supported = best is not None
        checks.append(SentenceCheck(sent, cited, supported, round(score, 3), best, corrected))
    return checks, round(sum(c.supported for c in checks) / len(checks), 3)


def _band(cos: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    low, high = band
    return np.clip((cos - low) / (high - low), 0.0, 1.0)


def _cosines(
    sentences: list[str], vectors: Sequence[np.ndarray | None], embedder: Embedder | None
) -> np.ndarray:
    """Each sentence's cosine to each passage's stored vector (zeros where there is none).

    The passages' vectors are the store's own, so only the answer's few sentences are
    embedded, a few at a time: no bulk runtime is loaded at answer time."""
    out = np.zeros((len(sentences), len(vectors)))
    if embedder is None or all(v is None for v in vectors):
        return out
    sv = embed_small_batches(embedder, [CITATION.sub(" ", s) for s in sentences])
    for j, v in enumerate(vectors):
        if v is not None:
            out[:, j] = sv @ np.asarray(v, dtype=np.float32)
    return out
