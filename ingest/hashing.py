"""Content-hash ids: everything in the store is keyed by a truncated sha256 of normalised text."""

from __future__ import annotations

import hashlib
import unicodedata


def normalise(text: str) -> str:
    """NFC, trimmed, inner whitespace collapsed: the form hashed for ids."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def content_id(*parts: str, length: int = 16) -> str:
    """sha256 over the normalised parts joined by a separator no text contains."""
    h = hashlib.sha256("\x1f".join(normalise(p) for p in parts).encode("utf-8"))
    return h.hexdigest()[:length]


def file_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
