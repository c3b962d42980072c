"""`manifest.json`: what a store directory is and which embedder built it.

Opening a store with another embedder would mix incomparable vectors, so it is refused; a
directory that holds files but no manifest is someone's folder, not a store, and is not taken over.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ingest.atomic import sweep_temp_files, write_json_atomic
from ingest.errors import EmbedderMismatch, StoreError, StoreNotFound

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"


def check_or_create(root: Path, embedder_name: str, dim: int, create: bool) -> None:
    path = root / MANIFEST
    if path.is_file():
        m = json.loads(path.read_text("utf-8"))
        emb = m.get("embedder", {})
        if emb.get("name") != embedder_name or emb.get("dim") != dim:
            raise EmbedderMismatch(
                f"store {root} was built with embedder {emb.get('name')} "
                f"(dim {emb.get('dim')}), not {embedder_name} (dim {dim}); "
                "use the same embedder or ingest into a new --store"
            )
        if m.get("schema_version") != SCHEMA_VERSION:
            raise StoreError(f"store {root} has schema {m.get('schema_version')}")
        return
    if not create:
        raise StoreNotFound(f"no store at {root}; run `rag ingest PATH --store {root}`")
    if root.exists():  # a creation killed mid-write leaves the manifest's temp file behind
        sweep_temp_files(root, f".{MANIFEST}.*.tmp")
    if root.exists() and any(root.iterdir()):
        raise StoreError(f"{root} is not empty and holds no store manifest")
    root.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, {
        "format": "rag-store", "schema_version": SCHEMA_VERSION,
        "embedder": {"name": embedder_name, "dim": dim}, "created_at": time.time(),
    })  # fmt: skip


def read_embedder(root: Path) -> tuple[str, int]:
    """The embedder a store was built with, without loading it (cheap commands need no model)."""
    path = root / MANIFEST
    if not path.is_file():
        raise StoreNotFound(f"no store at {root}; run `rag ingest PATH --store {root}`")
    emb = json.loads(path.read_text("utf-8")).get("embedder", {})
    return str(emb.get("name")), int(emb.get("dim", 0))
