"""Content-hash ids: everything in the store is keyed by a truncated sha256 of normalised text."""

from __future__ import annotations

import hashlib
import unicodedata
from pathlib import Path


def normalise(text: str) -> str:
    """NFC, trimmed, inner whitespace collapsed: the form hashed for ids."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def content_id(*parts: str, length: int = 16) -> str:
    """sha256 over the normalised parts joined by a separator no text contains."""
    h = hashlib.sha256("\x1f".join(normalise(p) for p in parts).encode("utf-8"))
    return h.hexdigest()[:length]


def file_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_digest_of(path: Path, block: int = 1 << 20) -> str:
    """`file_digest` of a file's bytes, read a block at a time."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while data := fh.read(block):
            h.update(data)
    return h.hexdigest()
