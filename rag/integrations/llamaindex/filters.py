"""LlamaIndex `MetadataFilters` as our `SearchFilter`, or a UsageError that says why not.

A `SearchFilter` says: these documents (ids), this path glob, and for each metadata key one of
its accepted values, every part holding at once. So what translates is EQ and IN on a key,
AND across different keys, and OR among alternatives of one key. Everything else (NE, GT, NIN,
text match, NOT, OR across keys, a key twice under AND) raises, naming what it met: a filter the
retriever cannot honour must never be dropped silently, or the caller would see documents it
meant to exclude.

Keys that name our own fields, as the retriever's nodes carry them:

    doc_id, document_id, ref_doc_id   → SearchFilter.doc_ids (the document's id)
    path, source, document            → SearchFilter.path_glob (a glob on the source path or
                                        the file name; a plain name or path matches itself)
    chunk_id, mode, page, section, location
                                      → refused: they describe a chunk, and filters select
                                        documents
    anything else                     → the document's metadata (what it was ingested with),
                                        values compared as text the way they were stored
                                        (2024 → "2024", True → "true")
"""

from __future__ import annotations

from typing import Any

from llama_index.core.vector_stores.types import (
    ExactMatchFilter,
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)

from ingest.errors import UsageError
from ingest.types import SearchFilter, check_metadata
from rag.filters import make_filter

DOC_ID, PATH = "doc_id", "path"
ALIASES = {
    "doc_id": DOC_ID, "document_id": DOC_ID, "ref_doc_id": DOC_ID,
    "path": PATH, "source": PATH, "document": PATH,
}  # fmt: skip
CHUNK_KEYS = frozenset({"chunk_id", "mode", "page", "section", "location"})
SUPPORTED = "EQ and IN, combined with AND (or with OR among values of one key)"

# key → its accepted values; a whole filter tree reduces to one of these or raises
Clause = dict[str, tuple[str, ...]]


def to_search_filter(filters: MetadataFilters | SearchFilter | None) -> SearchFilter | None:
    """The SearchFilter that selects what `filters` does (None when it selects everything)."""
    if filters is None or isinstance(filters, SearchFilter):
        return None if filters is None or filters.empty else filters
    if not isinstance(filters, MetadataFilters):
        raise UsageError(
            f"filters must be MetadataFilters or a SearchFilter, not {type(filters).__name__}"
        )
    clause = _clause(filters)
    doc_ids = clause.pop(DOC_ID, ())
    paths = clause.pop(PATH, ())
    if len(paths) > 1:
        raise UsageError(f"one path glob at most, not {len(paths)}: {', '.join(paths)}")
    pairs = [(key, value) for key, values in clause.items() for value in values]
    return make_filter(doc_ids, paths[0] if paths else None, pairs)


def _clause(node: MetadataFilters | MetadataFilter | ExactMatchFilter) -> Clause:
    if not isinstance(node, MetadataFilters):
        return _leaf(node)
    parts = [_clause(f) for f in node.filters]
    condition = node.condition or FilterCondition.AND
    if condition == FilterCondition.AND:
        return _all(parts)
    if condition == FilterCondition.OR:
        return _any(parts)
    raise UsageError(
        f"FilterCondition.{condition.name} is not supported; the retriever takes {SUPPORTED}"
    )


def _leaf(f: MetadataFilter | ExactMatchFilter) -> Clause:
    operator = getattr(f, "operator", FilterOperator.EQ)  # ExactMatchFilter has none: EQ
    if f.key in CHUNK_KEYS:
        raise UsageError(
            f"cannot filter on {f.key!r}: it describes a chunk, and filters select documents "
            "(by doc_id, path or their metadata)"
        )
    if operator == FilterOperator.EQ:
        if isinstance(f.value, list):
            raise UsageError(f"filter on {f.key!r}: EQ takes one value; use IN for a list")
        values: list[Any] = [f.value]
    elif operator == FilterOperator.IN:
        if not isinstance(f.value, list) or not f.value:
            raise UsageError(f"filter on {f.key!r}: IN takes a non-empty list of values")
        values = list(f.value)
    else:
        raise UsageError(
            f"filter operator {operator.name} ({operator.value!r}) on {f.key!r} is not "
            f"supported; the retriever takes {SUPPORTED}"
        )
    key = ALIASES.get(f.key, f.key.strip())
    return {key: tuple(dict.fromkeys(_text(f.key, key, v) for v in values))}


def _text(given: str, key: str, value: Any) -> str:
    if value is None:
        raise UsageError(f"filter on {given!r} needs a value")
    if key in (DOC_ID, PATH):
        if not isinstance(value, str) or not value:
            raise UsageError(f"filter on {given!r} takes a non-empty string")
        return value
    return check_metadata({key: value})[key]  # the stored metadata's text, and its rules


def _all(parts: list[Clause]) -> Clause:
    merged: Clause = {}
    for part in parts:
        for key, values in part.items():
            if key in merged:  # a key's values are alternatives; AND of two has no SearchFilter
                raise UsageError(
                    f"{key!r} is filtered twice under AND; give its accepted values once (IN)"
                )
            merged[key] = values
    return merged


def _any(parts: list[Clause]) -> Clause:
    keys = sorted({key for part in parts for key in part})
    if len(keys) > 1:
        raise UsageError(
            f"OR across different keys ({', '.join(keys)}) is not supported; OR may only list "
            "alternative values of one key"
        )
    if not keys or not all(parts):  # an empty alternative admits everything
        return {}
    values = [value for part in parts for value in part[keys[0]]]
    return {keys[0]: tuple(dict.fromkeys(values))}
