"""Every surface's filter comes from rag.filters: the same request means the same documents."""

from __future__ import annotations

from typing import Any

import pytest

from ingest.errors import UsageError
from ingest.types import DocumentInfo, SearchFilter
from rag.filters import filter_from_json, make_filter, parse_where


def doc(doc_id: str, source: str, **metadata: str) -> DocumentInfo:
    return DocumentInfo(
        doc_id, source, source.rsplit("/", 1)[-1], "", "md", "", 0, 0, 0.0, metadata
    )


def test_where_words_and_json_build_the_same_filter() -> None:
    words = make_filter(metadata=parse_where(["team=ml", "team=infra", "year=2024"]))
    body = filter_from_json({"metadata": {"team": ["ml", "infra"], "year": 2024}})
    assert (
        words
        == body
        == SearchFilter(metadata=(("team", "ml"), ("team", "infra"), ("year", "2024")))
    )
    assert parse_where(["expr=a=b", "empty="]) == (("expr", "a=b"), ("empty", ""))
    assert filter_from_json({"metadata": {"ok": True}}) == SearchFilter(metadata=(("ok", "true"),))
    assert filter_from_json({}) is None and filter_from_json(None) is None
    assert make_filter(["d1"], "*.pdf") == SearchFilter(("d1",), "*.pdf")


def test_admits_applies_every_part() -> None:
    a = doc("a", "/x/a.md", team="ml", year="2024")
    b = doc("b", "/y/b.md", team="infra")
    flt = SearchFilter(metadata=(("team", "ml"), ("team", "infra")))
    assert flt.admits(a) and flt.admits(b)
    assert not SearchFilter(metadata=(("team", "ml"), ("year", "1999"))).admits(a)
    assert not SearchFilter(path_glob="/x/*", metadata=(("team", "infra"),)).admits(b)
    assert SearchFilter(path_glob="b.md").admits(b) and not SearchFilter(doc_ids=("a",)).admits(b)


@pytest.mark.parametrize(
    "raw, message",
    [
        ([], "filters must be an object"),
        ({"tags": "x"}, "unknown filter 'tags'"),
        ({"doc_ids": "d1"}, "doc_ids must be a list"),
        ({"path_glob": 3}, "path_glob must be a string"),
        ({"metadata": ["team"]}, "metadata must be an object"),
        ({"metadata": {"team": []}}, "lists no values"),
        ({"metadata": {"team": {"a": 1}}}, "must be a string, number or boolean"),
    ],
)
def test_a_bad_filter_names_what_is_wrong(raw: Any, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        filter_from_json(raw)


@pytest.mark.parametrize("word", ["team", "=ml", ""])
def test_a_where_word_without_a_key_is_refused(word: str) -> None:
    with pytest.raises(UsageError, match="key=value"):
        parse_where([word])
