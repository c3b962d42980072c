"""`StoreServices`: what modes may use, over one store, its embedder and generator.

The Engine builds one and hands it to modes; modes never see the Engine (rag.modes.base).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from ingest.embedding import Embedder
from ingest.ports import Scored, Store
from ingest.types import ChunkHit, SearchFilter
from rag.choices import RetrievalMethod
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
    ) -> None:
        self._settings = settings
        self._store, self._embedder, self._generator = store, embedder, generator
        self._graph_index = graph_index

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
    ) -> list[ChunkHit]:
        s = self._settings
        retriever = make_retriever(
            method or s.retrieval, self._store(), self._embedder(), s.bm25_weight, s.candidates,
            s.fusion,
        )  # fmt: skip
        return retriever.retrieve(question, k or s.top_k, filters)

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
