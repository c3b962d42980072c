"""Cross-lingual search: a Chinese question over English documents, and the other way round.

Multilingual e5 maps a question and its translation near each other, but it still ranks
passages in the question's own language far above the rest: on corpora/demo_xling (50 questions
whose answer is written in the other language) dense R@5 is 0.20 and hybrid 0.40, where the same
questions asked in the passages' language score 0.94. So when the store holds a real share of
text in the other language, the question is translated (by the generator: `GeneratorTranslator`)
and each candidate chunk is scored by the version of the question written in *its* language
(`by_language`): cosine against cosine, BM25 against BM25, every comparison a same-language one.
No weight is tuned; docs/benchmarks.md has the measurements and what was tried beside it.
"""

from __future__ import annotations

import logging
import re
import statistics
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Literal, Protocol

from ingest.errors import RagError
from ingest.language import Language, language_of
from ingest.ports import Scored
from rag.generation.base import Generator, complete

log = logging.getLogger(__name__)

# the other language's share of a store's chunks from which its questions are translated:
# below it, a stray English abstract in a Chinese corpus would cost every question a model call
MIN_OTHER_SHARE = 0.05

_PROMPTS: dict[Language, str] = {
    "en": "Translate this search question into English. Keep names, technical terms, code and "
    "numbers as they are. Reply with the translation only.\n\n{text}",
    "zh": "把下面的搜索问题翻译成中文。人名、技术术语、代码和数字保持原样。只输出译文。\n\n{text}",
}


class Translator(Protocol):
    def translate(self, text: str, target: Language) -> str | None:
        """`text` in `target`'s language, or None when no usable translation came back."""
        ...


def usable(source: str, translation: str, target: Language) -> str | None:
    """The translation cleaned (first line, no quotes or label), or None when it is not one:
    empty, in the wrong language, the source again, or a runaway (the model answering)."""
    lines = [ln.strip() for ln in translation.strip().splitlines() if ln.strip()]
    if not lines:
        return None
    out = re.sub(r"^(translation|译文|翻译)\s*[:：]\s*", "", lines[0], flags=re.I)
    out = out.strip().strip("\"'“”‘’「」").strip()
    if not out or out == source.strip() or language_of(out) != target:
        return None
    if len(out) > 4 * len(source) + 40:
        return None
    return out


class GeneratorTranslator:
    """Translates with the answer model (the local GGUF or the OpenAI-compatible endpoint):
    about 1.2 s a question on 2 cores with the default 1.5B model (docs/benchmarks.md).
    Translations are kept for the last `cache_size` questions; a model that cannot be loaded
    turns translation off for the process, with one warning, and search goes on in one language.
    """

    def __init__(self, generator: Callable[[], Generator], cache_size: int = 512) -> None:
        self._generator = generator
        self._cache: OrderedDict[tuple[str, Language], str | None] = OrderedDict()
        self._size = cache_size
        self._lock = threading.Lock()
        self._broken: str | None = None

    def translate(self, text: str, target: Language) -> str | None:
        key = (text, target)
        with self._lock:
            if self._broken is not None:
                return None
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        try:
            gen = self._generator()
            reply = complete(
                gen,
                [{"role": "user", "content": _PROMPTS[target].format(text=text)}],
                max_tokens=min(256, 2 * gen.count_tokens(text) + 32),
            )
        except RagError as e:
            with self._lock:
                self._broken = str(e)
            log.warning("cross-lingual search is off: the model cannot translate (%s)", e)
            return None
        out = usable(text, reply, target)
        with self._lock:
            self._cache[key] = out
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return out


class GlossaryTranslator:
    """The deterministic fake: replaces the glossary's phrases (longest first) and keeps the
    rest, so a test decides exactly what a translation holds."""

    def __init__(self, glossary: Mapping[str, str]) -> None:
        self._terms = sorted(glossary.items(), key=lambda kv: -len(kv[0]))
        self.calls: list[tuple[str, Language]] = []

    def translate(self, text: str, target: Language) -> str | None:
        self.calls.append((text, target))
        out = text
        for source, target_text in self._terms:
            out = out.replace(source, f" {target_text} ")
        return usable(text, re.sub(r"\s+", " ", out), target)


CALIBRATION_SKIP = 5  # candidates past which a version's median cosine is taken


def by_language(
    original: Sequence[Scored],
    translated: Sequence[Scored],
    language: Mapping[str, Language],
    question_language: Language,
    kind: Literal["dense", "keyword"],
) -> list[Scored]:
    """One ranking where each chunk carries the score of the question version in its language:
    the original's for chunks in the question's language, the translation's for the rest.

    The two versions' scores are put on one scale first. e5's cosines run higher between two
    Chinese texts than between two English ones, so uncalibrated, a translated English question
    ranks Chinese passages first (dense R@5 on corpora/demo_qa fell from 0.96 to 0.72): each
    version's cosines are taken relative to the median of its own candidates past the first
    `CALIBRATION_SKIP` (the level of a passage it does not answer), and a chunk only the other
    version found is left out (its cosine would be the cross-language one e5 ranks too low).

    BM25 scores are taken as they are: a word match is not biased the way a cosine is, and the
    Latin terms a Chinese question keeps (LoRA, lora_dropout) are real evidence in an English
    passage, so a chunk in the other language takes the better of the two versions' scores.
    (Dividing each version's BM25 by its own best instead cost demo_qa 3 points of hybrid R@5
    and gained demo_xling 3: docs/benchmarks.md.) Ties keep the original's order.
    """

    def ours(c: str) -> bool:
        return language.get(c, question_language) == question_language

    if kind == "dense":
        scores = dict(_relative_to_median([(c, s) for c, s in original if ours(c)]))
        scores.update(_relative_to_median([(c, s) for c, s in translated if not ours(c)]))
    else:
        scores = dict(original)
        for c, s in translated:
            if not ours(c):
                scores[c] = max(s, scores.get(c, s))
    return sorted(scores.items(), key=lambda kv: -kv[1])  # stable: the original's order first


def _relative_to_median(part: list[Scored]) -> list[Scored]:
    values = [s for _, s in part]
    if not values:
        return []
    level = statistics.median(values[CALIBRATION_SKIP:] or values)
    return [(c, s - level) for c, s in part]
