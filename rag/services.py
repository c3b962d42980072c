"""`StoreServices`: what modes may use, over one store, its embedder and generator.

The Engine builds one and hands it to modes; modes never see the Engine (rag.modes.base).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from ingest.embedding import Embedder
from ingest.language import Language, language_of, other_language, store_languages
from ingest.ports import Scored, Store
from ingest.types import ChunkHit, SearchFilter
from rag.choices import RetrievalMethod
from rag.crosslingual import MIN_OTHER_SHARE, Translator
from rag.generation.base import Generator
from rag.retrieval import BOILERPLATE_MARGIN, content_first, make_retriever
from rag.settings import Settings

if TYPE_CHECKING:
    from graph.search import GraphIndex


class StoreServices:
    def __init__(
        self,
        settings: Settings,
        store: Callable[[], Store],
        embedder: Callable[[], Embedder],
        generator: Callable[[], Generator],
        graph_index: Callable[[], GraphIndex],
        translator: Translator | None = None,
    ) -> None:
        self._settings = settings
        self._store, self._embedder, self._generator = store, embedder, generator
        self._graph_index = graph_index
        self._translator = translator
        self._languages: tuple[int, int, Counter[Language]] | None = None  # store, generation
        self._languages_lock = threading.Lock()

    @property
    def embedder(self) -> Embedder:
        return self._embedder()

    @property
    def generator(self) -> Generator:
        return self._generator()

    @property
    def top_k(self) -> int:
        return self._settings.top_k

    def retrieve(
        self,
        question: str,
        *,
        k: int | None = None,
        method: RetrievalMethod | None = None,
        filters: SearchFilter | None = None,
        translate: bool = True,
    ) -> list[ChunkHit]:
        s = self._settings
        retriever = make_retriever(
            method or s.retrieval, self._store(), self._embedder(), s.bm25_weight, s.candidates,
            s.fusion,
        )  # fmt: skip
        translation = self.translation(question) if translate else None
        return retriever.retrieve(question, k or s.top_k, filters, translation)

    def translation(self, question: str) -> str | None:
        """The question in the store's other language, when the store holds a real share of
        it (`MIN_OTHER_SHARE`) and a translator is set; else None. Cached by the translator, so
        the modes that retrieve for one question several times pay for it once."""
        off = self._settings.translate_queries == "off"
        if off or self._translator is None or not question.strip():
            return None
        source = language_of(question)
        target = other_language(source)
        counts = self.languages()
        total = sum(counts.values())
        if not total or counts[target] / total < MIN_OTHER_SHARE:
            return None
        return self._translator.translate(question, target)

    def languages(self) -> Counter[Language]:
        """Chunks per language in a sample of the store (`ingest.language.store_languages`),
        read again only when the store's generation moves."""
        store = self._store()
        generation = store.chunks.generation()
        with self._languages_lock:
            cached = self._languages
            if cached is not None and cached[:2] == (id(store), generation):
                return cached[2]
        with store.reading():
            counts = store_languages(store.chunks)
        with self._languages_lock:
            self._languages = (id(store), generation, counts)
        return counts

    def passing(self, chunk_ids: Iterable[str], flt: SearchFilter | None) -> set[str]:
        return self._store().chunks.passing(chunk_ids, flt)

    def hits(self, ranked: Sequence[Scored], k: int, flt: SearchFilter | None) -> list[ChunkHit]:
        store = self._store()
        with store.reading():
            ok = store.chunks.passing([cid for cid, _ in ranked], flt)
            passing = [(c, s) for c, s in ranked if c in ok][: k + BOILERPLATE_MARGIN]
            return content_first(store.chunks.hits(passing), k)

    def graph_index(self) -> GraphIndex:
        return self._graph_index()
