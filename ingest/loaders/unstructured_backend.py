"""Optional parser backend built on `unstructured`, for layouts the built-in loaders read poorly.

`unstructured` is large and pulls in many models and system tools, so it is an extra
(`pip install 'rag-kg[unstructured]'`) imported only when this backend is asked for.
"""

from __future__ import annotations

import importlib.util
from itertools import groupby
from pathlib import Path
from typing import Any

from ingest.errors import MissingDependency
from ingest.loaders.builder import BlockBuilder
from ingest.types import ParsedDocument

_SKIPPED = frozenset({"Header", "Footer", "PageBreak", "PageNumber"})  # page furniture
NOT_INSTALLED = "the 'unstructured' parser is not installed: pip install 'rag-kg[unstructured]'"


def require_unstructured() -> None:
    """Raise MissingDependency unless `unstructured` can be imported, without importing it
    (that takes seconds): a batch checks once, before its first file."""
    if importlib.util.find_spec("unstructured") is None:
        raise MissingDependency(NOT_INSTALLED)


def load_with_unstructured(path: Path) -> ParsedDocument:
    """Partition the file with `unstructured` and map its elements onto our blocks."""
    try:
        from unstructured.partition.auto import partition
    except ImportError as exc:
        raise MissingDependency(NOT_INSTALLED) from exc
    elements = [e for e in partition(filename=str(path)) if _category(e) not in _SKIPPED]
    out = BlockBuilder()
    # unstructured yields one element per list item; consecutive items make one list block.
    for (is_item, page), run in groupby(
        elements, key=lambda e: (_category(e) == "ListItem", _page(e))
    ):
        if is_item:
            out.add_list([element.text for element in run], page)
            continue
        for element in run:
            _add_element(out, element, page)
    title = out.first_top_heading or path.stem
    fmt = path.suffix.lower().lstrip(".")
    return ParsedDocument(str(path), title, fmt, out.blocks, {"parser": "unstructured"})


def _category(element: Any) -> str:
    return str(getattr(element, "category", ""))


def _page(element: Any) -> int | None:
    page = getattr(getattr(element, "metadata", None), "page_number", None)
    return page if isinstance(page, int) else None


def _add_element(out: BlockBuilder, element: Any, page: int | None) -> None:
    category = _category(element)
    metadata = getattr(element, "metadata", None)
    if category == "Title":
        depth = getattr(metadata, "category_depth", None)
        out.heading((depth if isinstance(depth, int) else 0) + 1, element.text, page)
    elif category == "Table" and (html := getattr(metadata, "text_as_html", None)):
        out.add_table(_html_rows(str(html)), page)
    else:
        out.add("table" if category == "Table" else "paragraph", element.text, page)


def _html_rows(html: str) -> list[list[str]]:
    """unstructured gives a table's text as one line; its HTML keeps the rows apart."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "lxml")
    return [[cell.get_text() for cell in tr.find_all(["td", "th"])] for tr in soup.find_all("tr")]
