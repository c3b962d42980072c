"""LlamaIndex `Document`s (or any text node) into our store, through `Engine.ingest_texts`.

Each becomes a text document keyed `llamaindex:<its id>`, so ingesting the same Document again
is a no-op and a changed one (text, title or metadata) replaces its old version. Give documents
stable ids: a reader that makes a fresh uuid per load (SimpleDirectoryReader without
`filename_as_id=True`) makes every load a new set of documents.

Metadata is kept as the store keeps it, string keys and scalar values (numbers and booleans as
text). A value the store cannot keep (a list, a dict, a text over 1000 characters) is dropped
from that document with a warning rather than failing the batch: LlamaIndex readers attach such
values freely, and refusing them would make most real Documents unusable. None is left out as
absent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from llama_index.core.schema import BaseNode, MetadataMode

from ingest.errors import UsageError
from ingest.pipeline import IngestReport, Progress, TextRecord
from ingest.types import check_metadata
from rag.engine import Engine
from rag.integrations.llamaindex.filters import ALIASES, CHUNK_KEYS

log = logging.getLogger(__name__)

KEY_PREFIX = "llamaindex:"


def ingest_documents(
    engine: Engine, documents: Iterable[BaseNode], progress: Progress | None = None
) -> IngestReport:
    """Ingest LlamaIndex Documents (or other text nodes) as documents of the engine's store;
    the report says which were added, updated, unchanged or failed.

    A Document without text (readers make such Documents: a scanned PDF page) fails with its
    reason, and the rest go in."""
    return engine.ingest_texts([record_of(doc) for doc in documents], progress)


def record_of(doc: BaseNode) -> TextRecord:
    """The text record a LlamaIndex node becomes: its id as key, title from its metadata's
    `title` or `file_name`, its text without metadata, its metadata as the store keeps it."""
    key = f"{KEY_PREFIX}{doc.node_id}"
    metadata = store_metadata(key, doc.metadata)
    title = metadata.get("title") or metadata.get("file_name") or key
    return TextRecord(key, title, doc.get_content(metadata_mode=MetadataMode.NONE), metadata)


def store_metadata(key: str, raw: Mapping[str, Any]) -> dict[str, str]:
    kept: dict[str, str] = {}
    for name, value in raw.items():
        if value is None:
            continue
        try:
            kept.update(check_metadata({name: value}))
        except UsageError as e:
            log.warning("%s: metadata %r dropped: %s", key, name, e)
            continue
        if name in ALIASES or name in CHUNK_KEYS:  # kept, but the retriever's field wins
            log.warning(
                "%s: metadata %r is kept in the store, but a retrieved node's %r is the "
                "retriever's own field and a filter on it means that field", key, name, name,
            )  # fmt: skip
    return kept
