"""Which of the two languages the product serves a text is written in: Chinese or not.

Cross-lingual search (rag.crosslingual) scores each chunk with the version of the question in
the chunk's own language, so it needs a chunk's language and the store's mix of languages. The
test is deliberately coarse: Chinese when twice its Chinese characters are at least its Latin
words. Chinese technical prose carries English terms ("vLLM 用 PagedAttention 管理 KV cache" is
Chinese: 3 characters, 4 words), and a Chinese word is one to three characters, so the rule puts
mixed text on the side its grammar is written in.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Literal

from ingest.ports import ChunkStore

Language = Literal["zh", "en"]  # "en": any language written in Latin letters

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]+")

SAMPLE_DOCUMENTS = 200  # documents read for a store's language mix, spread over the store
SAMPLE_CHUNKS_PER_DOCUMENT = 3


def language_of(text: str) -> Language:
    """ "zh" when twice its Chinese characters are at least its Latin words (and it has one)."""
    han = len(_HAN.findall(text))
    return "zh" if han and 2 * han >= len(_WORD.findall(text)) else "en"


def other_language(lang: Language) -> Language:
    return "en" if lang == "zh" else "zh"


def store_languages(chunks: ChunkStore) -> Counter[Language]:
    """Chunks per language in a sample of the store: the first few chunks of up to
    `SAMPLE_DOCUMENTS` documents taken evenly across it, so a million-chunk store costs the same
    as a small one (at most 200 documents' first pages of chunks)."""
    docs = chunks.documents()
    step = max(1, len(docs) // SAMPLE_DOCUMENTS)
    counts: Counter[Language] = Counter()
    for doc in docs[::step][:SAMPLE_DOCUMENTS]:
        for i, chunk in enumerate(chunks.iter_chunks_of(doc.id)):
            if i == SAMPLE_CHUNKS_PER_DOCUMENT:
                break
            counts[language_of(chunk.text)] += 1
    return counts
