"""The fast extractor: no model calls, a few milliseconds a chunk.

Entities are proper nouns and domain terms: for Chinese, jieba's POS tags (person, place,
organisation, other proper noun, embedded Latin terms, long nouns); for English, runs of
capitalised words (allowing "of", "the"… inside: "Journal of Psychotherapy Integration") and
technical tokens with inner capitals or digits ("QLoRA", "vLLM", "GPT-4"). Relations link
entities that co-occur in a sentence, weighted by how often, described by that sentence —
GraphRAG's "fast" NLP indexing and HippoRAG's passage–entity graph work the same way.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from itertools import combinations
from typing import Any

from graph.names import display_name, name_key
from graph.types import ChunkText, EntityMention, Extraction, RelationMention
from ingest.keywords import jieba_module
from ingest.sentences import split_sentences

MAX_PER_SENTENCE = 8  # pairs grow quadratically; long lists add noise, not knowledge
DESCRIPTION_CHARS = 240

_CJK = re.compile(r"[\u3400-\u9fff]")
_WORD = re.compile(r"[A-Za-z0-9][\w'’\-.+]*[\w+]|[A-Za-z0-9]")
# words allowed inside a name ("Bank of America"); "and"/"in" would glue two names together
_CONNECTORS = frozenset(
    ["of", "the", "de", "del", "della", "di", "da", "van", "von", "der", "la", "le", "du"]
)
_COMMON_CAPS = frozenset(
    [
        "The",
        "A",
        "An",
        "In",
        "On",
        "At",
        "It",
        "Its",
        "This",
        "That",
        "These",
        "Those",
        "He",
        "She",
        "They",
        "We",
        "I",
        "You",
        "His",
        "Her",
        "Their",
        "Our",
        "But",
        "And",
        "Or",
        "If",
        "When",
        "Where",
        "While",
        "After",
        "Before",
        "During",
        "Since",
        "As",
        "By",
        "For",
        "From",
        "With",
        "Without",
        "However",
        "Although",
        "Because",
        "Also",
        "Then",
        "There",
        "Here",
        "What",
        "Which",
        "Who",
        "Whom",
        "Whose",
        "How",
        "Why",
        "Both",
        "Each",
        "Some",
        "Many",
        "Most",
        "Other",
        "Such",
        "Not",
        "No",
        "Yes",
        "One",
        "Two",
        "First",
        "Second",
        "Today",
        "Its",
        "Is",
        "Are",
        "Was",
        "Were",
        "Be",
        "Figure",
        "Table",
        "Section",
        "Chapter",
        "Step",
        "Note",
        "See",
    ]
)
_ZH_TYPES = {"nr": "person", "ns": "place", "nt": "organization", "nz": "concept", "eng": "concept"}
_ZH_GENERIC = frozenset(
    [
        "方法",
        "问题",
        "情况",
        "时候",
        "方面",
        "过程",
        "结果",
        "部分",
        "能力",
        "方式",
        "工作",
        "内容",
        "数据",
        "模型",
    ]
)


@cache
def _posseg() -> Any:
    jieba_module()
    import jieba.posseg

    return jieba.posseg


def _is_term(word: str) -> bool:
    """Technical tokens: inner capitals, or letters then digits ("QLoRA", "NF4", "GPT-4")."""
    if not word[0].isalpha():
        return False
    inner_cap = any(c.isupper() for c in word[1:])
    return inner_cap or (any(c.isdigit() for c in word) and len(word) > 2)


def english_entities(sentence: str) -> list[str]:
    """Runs of capitalised words; a run breaks at punctuation or at a lower-case word."""
    found: list[str] = []
    run: list[str] = []

    def close() -> None:
        while run and run[-1].lower() in _CONNECTORS:
            run.pop()
        while run and (run[0] in _COMMON_CAPS or run[0].lower() in _CONNECTORS):
            run.pop(0)
        if run and (len(run) > 1 or len(run[0]) > 1):
            found.append(" ".join(run))
        run.clear()

    end = 0
    for m in _WORD.finditer(sentence):
        word = m.group().rstrip(".")
        if run and sentence[end : m.start()].strip():  # punctuation between words
            close()
        end = m.end()
        if word[0].isupper() or _is_term(word) or (run and word.lower() in _CONNECTORS):
            run.append(word)
        else:
            close()
    close()
    return found


def chinese_entities(sentence: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for pair in _posseg().cut(sentence):
        word, flag = pair.word.strip(), pair.flag
        if flag == "eng":
            if len(word) > 1 and (word[0].isupper() or _is_term(word)):
                out.append((word, "concept"))
        elif flag in _ZH_TYPES and len(word) >= 2:
            out.append((word, _ZH_TYPES[flag]))
        elif flag in ("n", "vn") and len(word) >= 3 and word not in _ZH_GENERIC:
            out.append((word, "concept"))
    return out


def sentence_entities(sentence: str) -> list[tuple[str, str]]:
    """(name, type) pairs in order of first appearance, one per normalised name."""
    if _CJK.search(sentence):
        pairs = chinese_entities(sentence)
        # multi-word Latin names inside Chinese text ("Graph RAG"): the English pass, with
        # every Chinese character turned into a break
        latin = _CJK.sub("|", sentence)
        phrases = [n for n in english_entities(latin) if " " in n]
        # a lone capitalised word that is part of such a phrase ("Double" of "Double
        # Quantization") is not a name of its own
        inside = {w for p in phrases for w in p.split()}
        pairs = [(n, k) for n, k in pairs if n not in inside or n.isupper() or _is_term(n)]
        pairs += [(n, "concept") for n in phrases]
    else:
        pairs = [(n, "concept") for n in english_entities(sentence)]
    seen: dict[str, tuple[str, str]] = {}
    for name, kind in pairs:
        shown = display_name(name)
        key = name_key(shown)
        if len(key) >= 2 and not key.isdigit():
            seen.setdefault(key, (shown, kind))
    return list(seen.values())


_BRACKET_CHARS = frozenset("()（）")
_BRACKETED = re.compile(r"[（(]\s*([^()（）]*?)\s*[)）]")


def _bracketed(sentence: str) -> frozenset[str]:
    """What the sentence writes in brackets, trimmed: an alias can only be one of these."""
    if "(" not in sentence and "（" not in sentence:
        return frozenset()
    return frozenset(_BRACKETED.findall(sentence))


def _written_as_alias(sentence: str, a: str, b: str, inside: frozenset[str] | None = None) -> bool:
    """E.g. "低秩适配（LoRA）", "Low-Rank Adaptation (LoRA)": one name given in brackets after
    the other. `inside` is `_bracketed(sentence)`, computed once per sentence: a pair whose
    names are not bracketed there needs no pattern (compiling one per pair was most of the
    extractor's time on English text)."""
    inside = _bracketed(sentence) if inside is None else inside
    for x, y in ((a, b), (b, a)):
        if y.strip() not in inside and not _BRACKET_CHARS & set(y):
            continue
        pattern = rf"(?<![A-Za-z0-9]){re.escape(x)}\s*[（(]\s*{re.escape(y)}\s*[)）]"
        if re.search(pattern, sentence):
            return True
    return False


class FastExtractor:
    name = "fast"

    def extract(self, chunks: Sequence[ChunkText]) -> list[Extraction]:
        return [self._one(c) for c in chunks]

    def _one(self, chunk: ChunkText) -> Extraction:
        entities: dict[str, EntityMention] = {}
        relations: dict[tuple[str, str], RelationMention] = {}
        for sentence in split_sentences(chunk.text):
            found = sentence_entities(sentence)[:MAX_PER_SENTENCE]
            evidence = sentence[:DESCRIPTION_CHARS]
            inside = _bracketed(sentence)
            for name, kind in found:
                entities.setdefault(name_key(name), EntityMention(name, kind, evidence))
            for (a, _), (b, _) in combinations(found, 2):
                pair = (name_key(a), name_key(b))
                if _written_as_alias(sentence, a, b, inside):
                    relations[pair] = RelationMention(a, b, evidence, ("alias",))
                    continue
                old = relations.get(pair)
                if old is not None and "alias" in old.keywords:
                    continue
                strength = old.strength + 1.0 if old else 1.0
                relations[pair] = RelationMention(
                    a, b, old.description if old else evidence, (), strength
                )
        return Extraction(
            chunk.chunk_id, list(entities.values()), list(relations.values()), self.name
        )
