"""The embedded store (SQLite + FAISS + FTS5 in one directory), split by concern.

- `embedded.py` — `EmbeddedStore`, the `ingest.ports.Store` that writes all three together
- `chunks.py` — documents, chunks, the embedding cache (`ChunkStore`)
- `faiss_dense.py` — the FAISS cache of the vectors (`DenseIndex`)
- `fts5.py` — BM25 over FTS5 (`KeywordIndex`)
- `database.py` — the SQLite file: schema, per-thread connections, snapshots, transactions
- `manifest.py` — which embedder built the store
- `memory.py` — an in-memory store, the fake the contract tests hold the real one to
"""

from __future__ import annotations

from ingest.store.embedded import DEFAULT_WAIT_S, EmbeddedStore

__all__ = ["DEFAULT_WAIT_S", "EmbeddedStore"]
