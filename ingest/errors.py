"""Typed errors raised by ingestion and the store; the CLI and web layers translate them once."""

from __future__ import annotations


class RagError(Exception):
    """Base of every error the product reports to a user as one clear line."""

    code = "error"


class DocumentError(RagError):
    """A single input file could not be ingested; the rest of the batch goes on."""

    code = "bad_document"


class UnsupportedFormat(DocumentError):
    code = "unsupported_format"


class CorruptDocument(DocumentError):
    code = "corrupt_document"


class EncryptedDocument(DocumentError):
    code = "encrypted_document"


class EmptyDocument(DocumentError):
    code = "empty_document"


class FileTooLarge(DocumentError):
    code = "file_too_large"


class MissingDependency(RagError):
    """An optional backend was asked for but its package is not installed."""

    code = "missing_dependency"


class ModelNotInstalled(RagError):
    code = "model_not_installed"


class StoreError(RagError):
    code = "store_error"


class StoreLocked(StoreError):
    code = "store_locked"


class EmbedderMismatch(StoreError):
    code = "embedder_mismatch"


class DocumentNotFound(StoreError):
    code = "document_not_found"


class StoreNotFound(StoreError):
    code = "store_not_found"


class ConfigError(RagError):
    """A setting, flag or API argument has a value the product does not accept."""

    code = "bad_config"
