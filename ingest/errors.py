"""Typed errors raised by ingestion and the store; the CLI and web layers translate them once.

Each class carries the two things an edge needs: `code`, a stable machine-readable name for the
JSON error body, and `http_status`. The CLI reads neither: it exits 2 for a `UsageError` (the
caller asked for something invalid; fix the command or the setting) and 1 for every other
error (the operation was valid but failed).

    status  errors
    400     UsageError, ConfigError
    404     DocumentNotFound, ChunkNotFound, StoreNotFound, EntityNotFound
    409     StoreLocked (another process is writing), EmbedderMismatch, Cancelled
    413     FileTooLarge
    415     UnsupportedFormat
    422     DocumentError, CorruptDocument, EncryptedDocument, EmptyDocument
    500     RagError (unclassified), StoreError (the store on disk is unusable)
    503     MissingDependency, ModelNotInstalled, GenerationError (rag/generation/base.py):
            the request was fine, this installation cannot serve it yet
    507     DiskFull: a write ran out of disk space; what was committed before it is kept
"""

from __future__ import annotations


class RagError(Exception):
    """Base of every error the product reports to a user as one clear line."""

    code = "error"
    http_status = 500


class UsageError(RagError):
    """The caller asked for something invalid (a bad flag combination or argument)."""

    code = "bad_request"
    http_status = 400


class ConfigError(UsageError):
    """A setting has a value it cannot take; `setting` names the Settings field."""

    code = "bad_config"

    def __init__(self, message: str, *, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


class DocumentError(RagError):
    """A single input file could not be ingested; the rest of the batch goes on."""

    code = "bad_document"
    http_status = 422


class UnsupportedFormat(DocumentError):
    code = "unsupported_format"
    http_status = 415


class CorruptDocument(DocumentError):
    code = "corrupt_document"


class EncryptedDocument(DocumentError):
    code = "encrypted_document"


class EmptyDocument(DocumentError):
    code = "empty_document"


class FileTooLarge(DocumentError):
    code = "file_too_large"
    http_status = 413


class Cancelled(RagError):
    """The caller stopped a long operation (an ingest job); what was finished is kept."""

    code = "cancelled"
    http_status = 409


class MissingDependency(RagError):
    """An optional backend was asked for but its package is not installed."""

    code = "missing_dependency"
    http_status = 503


class ModelNotInstalled(RagError):
    code = "model_not_installed"
    http_status = 503


class StoreError(RagError):
    """The store directory is missing, foreign or of another schema: nothing a request fixes."""

    code = "store_error"
    http_status = 500


class StoreLocked(StoreError):
    code = "store_locked"
    http_status = 409


class EmbedderMismatch(StoreError):
    """The store was built with another embedder; its vectors cannot answer this one's queries."""

    code = "embedder_mismatch"
    http_status = 409


class DiskFull(StoreError):
    """A write ran out of disk space (or quota). The message names the file; everything
    committed before the failed write is kept, and the write can be run again once there is
    space (ingest.atomic turns ENOSPC, SQLITE_FULL and FAISS's write error into this)."""

    code = "disk_full"
    http_status = 507


class DocumentNotFound(StoreError):
    code = "document_not_found"
    http_status = 404


class ChunkNotFound(StoreError):
    """No chunk with that id (a chunk id comes from a search or a document's chunk list)."""

    code = "chunk_not_found"
    http_status = 404


class StoreNotFound(StoreError):
    """No store at the given location yet (ingest creates one)."""

    code = "store_not_found"
    http_status = 404


class EntityNotFound(RagError):
    """No entity in the knowledge graph by that name, alias or id."""

    code = "entity_not_found"
    http_status = 404
