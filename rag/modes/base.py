"""What every mode shares: the query it answers, the context it returns, the services it uses.

A mode is a function of (services, query) → Context. It gets retrieval, chunk lookups by id,
the graph index, the embedder and the generator through `Services`, never the Engine, so the
Engine can dispatch to modes without the two importing each other (an import-linter contract
keeps it so), and a web view or a test can run a mode over any implementation of the services.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

from ingest.embedding import Embedder
from ingest.ports import Scored
from ingest.types import ChunkHit, SearchFilter
from rag.choices import GraphStrategy, ModeName, RetrievalMethod
from rag.generation.base import Generator

if TYPE_CHECKING:
    from graph.search import GraphIndex


MAX_K = 100
"""The most passages a request from outside may ask for (REST, /v1, MCP): a cap on one caller's
cost, not a limit of the modes."""


class QueryOptions(TypedDict, total=False):
    """The keyword form of `Query`'s fields, for `Engine.ask(question, **options)`."""

    mode: ModeName
    strategy: GraphStrategy | None
    k: int | None
    method: RetrievalMethod | None
    filters: SearchFilter | None


@dataclass(frozen=True)
class Query:
    """A question and how to answer it; None means the store's settings decide."""

    question: str
    mode: ModeName = "rag"
    strategy: GraphStrategy | None = None  # graph mode only
    k: int | None = None  # passages for the answer
    method: RetrievalMethod | None = None  # retrieval method of plain retrieval steps
    filters: SearchFilter | None = None

    @classmethod
    def of(cls, question: str | Query, **options: Any) -> Query:
        if isinstance(question, Query):
            if options:
                raise TypeError("pass either a Query or keyword options, not both")
            return question
        return cls(question, **{k: v for k, v in options.items() if v is not None})


@dataclass
class Context:
    """What a mode hands to generation: ranked chunks, unnumbered background notes, a trace."""

    hits: list[ChunkHit]
    notes: list[str] = field(default_factory=list)  # graph facts and reports, not citable
    trace: list[dict[str, Any]] = field(default_factory=list)


class Services(Protocol):
    """What modes may use. `rag.services.StoreServices` is the real one."""

    @property
    def embedder(self) -> Embedder: ...

    @property
    def generator(self) -> Generator: ...

    @property
    def top_k(self) -> int:
        """Passages for an answer when the query does not say."""
        ...

    def retrieve(
        self,
        question: str,
        *,
        k: int | None = None,
        method: RetrievalMethod | None = None,
        filters: SearchFilter | None = None,
        translate: bool = True,
    ) -> list[ChunkHit]:
        """The top k chunks; also searched in translation (`translation`) unless `translate` is
        False (KAG's step queries: one model call each would cost more than it finds)."""
        ...

    def translation(self, question: str) -> str | None:
        """The question in the store's other language, when it is searched in it too."""
        ...

    def passing(self, chunk_ids: Iterable[str], flt: SearchFilter | None) -> set[str]:
        """Those of `chunk_ids` that exist and pass the filter."""
        ...

    def hits(self, ranked: Sequence[Scored], k: int, flt: SearchFilter | None) -> list[ChunkHit]:
        """The first k of `ranked` (chunk id, score) that exist and pass the filter, as hits."""
        ...

    def graph_index(self) -> GraphIndex: ...
