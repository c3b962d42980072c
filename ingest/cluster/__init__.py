"""The cluster backend (`RAG_BACKEND=cluster`): PostgreSQL for documents, chunks and vectors
(the record), Milvus for dense and BM25 search (a derived index), behind the same ports as the
embedded store. Needs the `[cluster]` extra; docs/scale-out.md says when and how.

- `postgres.py` — the schema, per-thread connections, snapshots, the `ChunkStore`
- `milvus.py` — the collection: vectors, indexed text, Milvus's BM25 function
- `store.py` — `ClusterStore`, writing both: PostgreSQL first, Milvus from the outbox
"""

from __future__ import annotations
