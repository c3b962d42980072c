"""Filters from what callers send: `key=value` words (CLI), JSON objects (REST, MCP, the
OpenAI-compatible endpoint), keyword arguments (Python, the LlamaIndex retriever).

Every surface builds its `SearchFilter` here, so one request means the same documents whichever
way it arrives; the stores then push the filter down (ingest.store.database.filter_sql).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ingest.errors import UsageError
from ingest.types import MAX_METADATA_CHARS, MAX_METADATA_KEYS, SearchFilter, check_metadata

FILTER_FIELDS = ("doc_ids", "path_glob", "metadata")

# The characters str.strip() removes, for a JSON Schema `pattern` class: a key that strips to
# "" is refused (U+3000 is the last of them).
SPACE_CLASS = "".join(f"\\u{ord(c):04x}" for c in map(chr, range(0x3001)) if c.isspace())
_SCALAR = {"type": ["string", "number", "boolean"], "maxLength": MAX_METADATA_CHARS}
METADATA_KEY = {"type": "string", "maxLength": 100, "pattern": f"[^{SPACE_CLASS}]"}
METADATA_SCHEMA: dict[str, Any] = {
    "type": "object", "maxProperties": MAX_METADATA_KEYS, "propertyNames": METADATA_KEY,
    "additionalProperties": _SCALAR,
}  # fmt: skip
"""What ingest.types.check_metadata keeps with a document, as JSON Schema."""

FILTER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "doc_ids": {"type": ["array", "null"], "items": {"type": "string"},
                    "description": "only these document ids"},
        "path_glob": {"type": ["string", "null"],
                      "description": "a glob on the source path or file name"},
        "metadata": {
            "type": ["object", "null"],
            "description": "documents whose metadata has each key with the value, or with one "
                           "of the listed values",
            "propertyNames": METADATA_KEY,
            "additionalProperties": {
                "anyOf": [_SCALAR, {"type": "array", "items": _SCALAR, "minItems": 1}]
            },
        },
    },
}  # fmt: skip
"""What `filter_from_json` accepts, as JSON Schema: the OpenAPI document and the MCP tools'
input schemas both publish it."""


def parse_where(items: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """`key=value` words as metadata pairs (`--where team=infra --where lang=en`)."""
    pairs: list[tuple[str, str]] = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"where takes key=value, not {item!r}")
        pairs.append((key.strip(), value))
    return tuple(pairs)


def metadata_pairs(raw: Mapping[str, Any] | None) -> tuple[tuple[str, str], ...]:
    """A JSON metadata filter as pairs: each key maps to a value or a list of accepted values."""
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise UsageError('filters.metadata must be an object, e.g. {"team": "infra"}')
    pairs: list[tuple[str, str]] = []
    for key, value in raw.items():
        values = value if isinstance(value, list) else [value]
        if not values:
            raise UsageError(f"filters.metadata {key!r} lists no values")
        for v in values:  # the same rules as the metadata stored with a document
            pairs += check_metadata({key: v}).items()
    return tuple(pairs)


def make_filter(
    doc_ids: Iterable[str] = (),
    path_glob: str | None = None,
    metadata: Iterable[tuple[str, str]] | Mapping[str, Any] | None = None,
) -> SearchFilter | None:
    """The filter, or None when it restricts nothing."""
    pairs = metadata_pairs(metadata) if isinstance(metadata, Mapping) else tuple(metadata or ())
    flt = SearchFilter(tuple(doc_ids), path_glob or None, pairs)
    return None if flt.empty else flt


def filter_from_json(raw: Any) -> SearchFilter | None:
    """`{"doc_ids": [...], "path_glob": "*.pdf", "metadata": {"team": "infra"}}`, every part
    optional; unknown parts and wrong types are a UsageError that names them."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise UsageError("filters must be an object with doc_ids, path_glob and/or metadata")
    unknown = set(raw) - set(FILTER_FIELDS)
    if unknown:
        raise UsageError(
            f"unknown filter {sorted(unknown)[0]!r}; filters take {', '.join(FILTER_FIELDS)}"
        )
    ids = raw.get("doc_ids")
    ids = [] if ids is None else ids  # not `or []`: `false` is a wrong type, not "no ids"
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise UsageError("filters.doc_ids must be a list of document ids")
    glob = raw.get("path_glob")
    if glob is not None and not isinstance(glob, str):
        raise UsageError("filters.path_glob must be a string")
    return make_filter(ids, glob, metadata_pairs(raw.get("metadata")))
