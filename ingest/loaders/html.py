"""HTML pages: the main text in reading order, without navigation, scripts and page chrome."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from bs4 import BeautifulSoup, NavigableString, Tag

from ingest.loaders.builder import BlockBuilder
from ingest.loaders.cleaning import normalize_unicode, one_line
from ingest.loaders.text import binary_error, looks_binary
from ingest.types import ParsedDocument

_DROP = ["script", "style", "nav", "aside", "form", "noscript", "template", "svg", "iframe"]
# Page-level header/footer are chrome; inside <main>/<article> they hold the title and byline.
_CHROME = ["header", "footer"]
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_INLINE = frozenset(
    {"a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "del", "dfn", "em", "font", "i"}
    | {"img", "ins", "kbd", "label", "mark", "q", "s", "samp", "small", "span", "strike"}
    | {"strong", "sub", "sup", "time", "tt", "u", "var", "wbr"}
)


def load_html(path: Path) -> ParsedDocument:
    """Parse an HTML file; bs4 picks the encoding from the BOM, <meta charset> or the bytes."""
    soup = BeautifulSoup(path.read_bytes(), "lxml")
    if looks_binary(soup.get_text()):  # bs4 decodes anything, junk included
        raise binary_error(path.name)
    title = one_line(soup.title.get_text()) if soup.title else ""
    _strip_boilerplate(soup)
    walker = _Walker()
    walker.walk(_main_element(soup))
    walker.flush()
    title = title or walker.out.first_top_heading or path.stem
    metadata = {"encoding": soup.original_encoding or "utf-8"}
    return ParsedDocument(str(path), title, "html", walker.out.blocks, metadata)


def _strip_boilerplate(soup: BeautifulSoup) -> None:
    for tag in soup.find_all(_DROP):
        tag.decompose()
    for tag in soup.find_all(_CHROME):
        if not tag.decomposed and tag.find_parent(["main", "article"]) is None:
            tag.decompose()
    for br in soup.find_all("br"):
        br.replace_with("\n")  # else get_text() glues the lines on either side together


def _main_element(soup: BeautifulSoup) -> Tag:
    """<main>, else the page's only <article>, else <body>: where the content is."""
    articles = soup.find_all("article")
    for candidate in (soup.find("main"), articles[0] if len(articles) == 1 else None, soup.body):
        if isinstance(candidate, Tag):
            return candidate
    return soup


class _Walker:
    """Walks the tree in document order; loose text between blocks becomes a paragraph."""

    def __init__(self) -> None:
        self.out = BlockBuilder()
        self.inline: list[str] = []

    def walk(self, node: Tag) -> None:
        for child in node.children:
            if isinstance(child, Tag):
                self._element(child)
            elif type(child) is NavigableString:  # not comments, doctypes or CDATA
                self.inline.append(str(child))

    def flush(self) -> None:
        self.out.add("paragraph", one_line("".join(self.inline)))
        self.inline = []

    def _element(self, tag: Tag) -> None:
        if tag.name in _INLINE:
            self.inline.append(tag.get_text())
            return
        self.flush()
        if tag.name in _HEADINGS:
            self.out.heading(_HEADINGS[tag.name], tag.get_text())
        elif tag.name in ("p", "blockquote", "li", "dt", "dd", "figcaption", "caption"):
            self.out.add("paragraph", one_line(tag.get_text()))
        elif tag.name == "pre":
            self.out.add("code", normalize_unicode(tag.get_text()).strip("\n"), clean=False)
        elif tag.name in ("ul", "ol"):
            self.out.add_list(list(_list_items(tag, 0)))
        elif tag.name == "table":
            self.out.add_table(_table_rows(tag))
        else:
            self.walk(tag)
            self.flush()


def _list_items(list_tag: Tag, depth: int) -> Iterator[str]:
    """Items of a <ul>/<ol>, nested lists indented two spaces per level."""
    for li in list_tag.find_all("li", recursive=False):
        nested = [sub.extract() for sub in li.find_all(["ul", "ol"], recursive=False)]
        yield "  " * depth + one_line(li.get_text())
        for sub in nested:
            yield from _list_items(sub, depth + 1)


def _table_rows(table: Tag) -> list[list[str]]:
    """Rows of this table only: rows of a table nested in a cell are part of that cell's text."""
    return [
        [cell.get_text() for cell in tr.find_all(["td", "th"], recursive=False)]
        for tr in table.find_all("tr")
        if tr.find_parent("table") is table
    ]
