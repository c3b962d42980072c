"""The graph store port: what graph building and graph search ask of the graph's storage.

Two layers, as in `graph/store.py` (the SQLite implementation): per-chunk extractions, the
expensive part, stored as they are made so an interrupted build resumes; and the resolved
graph (entities, relations, communities), replaced whole from the extractions of the done
documents. Plus two caches keyed by content: community reports and vectors of names and
reports. `graph.postgres_store.PostgresGraphStore` serves the cluster backend and
`graph.memory_store.MemoryGraphStore` is the fake; tests/contract/test_graph_store.py holds all
three to the same tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

import numpy as np

from graph.types import Community, Entity, Extraction, Relation, RelationTable


class GraphStore(Protocol):
    # --- extraction layer -------------------------------------------------------------------

    def doc_ids(self) -> set[str]:
        """The documents that are done: all their chunks hold their final extraction."""
        ...

    def unfinished_doc_ids(self) -> set[str]:
        """Documents with stored extractions or planned LLM work that are not done."""
        ...

    def put_extractions(
        self, doc_id: str, extractions: Sequence[Extraction], *, done_by: str | None = None
    ) -> None:
        """Store these chunks' extractions and settle their planned LLM work, atomically; with
        `done_by` (the extractor's name) the document is done in the same write."""
        ...

    def plan_refinement(self, chosen: Mapping[str, Iterable[str]]) -> None:
        """Record, per document, the chunks still to send to the LLM."""
        ...

    def pending_refinement(self, doc_id: str) -> set[str]: ...

    def remove_doc(self, doc_id: str) -> None:
        """Drop a document's extractions, plan and done mark."""
        ...

    def extractions(self) -> list[Extraction]:
        """The extractions of done documents, by chunk id: what the resolved graph is built from."""
        ...

    def iter_extractions(self) -> Iterator[Extraction]:
        """What `extractions()` holds, in the same chunk-id order, read a page at a time: a
        rebuild walks it twice and never holds every extraction of a large corpus at once."""
        ...

    def extractions_of(self, doc_id: str) -> list[Extraction]:
        """Every stored extraction of one document, done or not."""
        ...

    def needs_rebuild(self) -> bool:
        """Documents were finished or removed since the resolved graph was last replaced."""
        ...

    # --- resolved layer ----------------------------------------------------------------------

    def replace_graph(
        self,
        entities: Sequence[Entity],
        relations: RelationTable,
        communities: Sequence[Community],
    ) -> None:
        """Replace the resolved graph whole, raising the generation. `relations` may be a
        table on disk: it is walked once, a relation at a time."""
        ...

    def scratch_dir(self) -> Path | None:
        """Where a rebuild may put the scratch file of its relations (see
        `graph.relation_spill`): beside the store, or None for the system's temp folder."""
        ...

    def generation(self) -> int: ...

    def reading(self) -> AbstractContextManager[None]:
        """One consistent view for several reads (entities, relations and communities of one
        generation while another thread or process replaces the graph)."""
        ...

    def entities(self) -> list[Entity]: ...

    def relations(self) -> list[Relation]: ...

    def communities(self) -> list[Community]: ...

    def entities_of_chunks(self, chunk_ids: Iterable[str]) -> dict[str, list[str]]:
        """Chunk id → ids of the entities it mentions, in id order."""
        ...

    # --- caches keyed by content ---------------------------------------------------------------

    def reports(self, ids: Iterable[str]) -> dict[str, str]: ...

    def put_reports(self, reports: dict[str, tuple[str, str]]) -> None:
        """Community report summaries by content id, with the method that wrote them."""
        ...

    def vectors(self, hashes: Iterable[str]) -> dict[str, np.ndarray]: ...

    def put_vectors(self, vectors: dict[str, np.ndarray]) -> None: ...

    def close(self) -> None: ...
