"""HTML pages: the main text in reading order, without navigation, scripts and page chrome.

Every walk over the tree is a loop with its own stack, never a recursion, and the tree is never
edited: a page nested 100,000 elements deep (which a browser shows) keeps its text, and a page
of 50,000 `<br>` or `<script>` siblings costs one pass, where bs4's `replace_with` and
`decompose` would each search the parent's children (quadratic: minutes for a 300 KB page).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain
from pathlib import Path

from bs4 import BeautifulSoup, CData, NavigableString, PageElement, Tag

from ingest.loaders.builder import BlockBuilder
from ingest.loaders.cleaning import normalize_unicode, one_line
from ingest.loaders.text import binary_error, looks_binary
from ingest.types import ParsedDocument

_DROP = frozenset(
    {"script", "style", "nav", "aside", "form", "noscript", "template", "svg", "iframe"}
)
# Page-level header/footer are chrome; inside <main>/<article> they hold the title and byline.
_CHROME = frozenset({"header", "footer"})
_CONTENT = frozenset({"main", "article"})
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_INLINE = frozenset(
    {"a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "del", "dfn", "em", "font", "i"}
    | {"img", "ins", "kbd", "label", "mark", "q", "s", "samp", "small", "span", "strike"}
    | {"strong", "sub", "sup", "time", "tt", "u", "var", "wbr"}
)
_TEXT_TYPES = (NavigableString, CData)  # what get_text() reads: no comments, no doctype
_MAX_LIST_INDENT = 10  # levels of list nesting shown by indentation; deeper items stay at 10


def load_html(path: Path) -> ParsedDocument:
    """Parse an HTML file; bs4 picks the encoding from the BOM, <meta charset> or the bytes."""
    soup = BeautifulSoup(path.read_bytes(), "lxml")
    if looks_binary(soup.get_text()):  # bs4 decodes anything, junk included
        raise binary_error(path.name)
    title = one_line(soup.title.get_text()) if soup.title else ""
    page = _Page(soup)
    walker = _Walker(page)
    walker.walk(page.main)
    walker.flush()
    title = title or walker.out.first_top_heading or path.stem
    metadata = {"encoding": soup.original_encoding or "utf-8"}
    return ParsedDocument(str(path), title, "html", walker.out.blocks, metadata)


def _children(node: Tag) -> Iterator[PageElement]:
    return iter(node.contents)


class _Page:
    """One pass over the tree: what is boilerplate, and where the content is.

    `skipped` holds (by id) the scripts, navigation and other dropped elements anywhere, and
    the header/footer elements outside <main>/<article>; nothing below them is read.
    `main` is <main>, else the page's only <article>, else <body>.
    """

    def __init__(self, soup: BeautifulSoup) -> None:
        self.skipped: set[int] = set()
        first_main: Tag | None = None
        articles: list[Tag] = []
        stack: list[tuple[Iterator[PageElement], bool]] = [(_children(soup), False)]
        while stack:
            children, in_content = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                continue
            if not isinstance(child, Tag):
                continue
            name = child.name
            if name in _DROP or (name in _CHROME and not in_content):
                self.skipped.add(id(child))
                continue
            if name == "main" and first_main is None:
                first_main = child
            elif name == "article":
                articles.append(child)
            stack.append((_children(child), in_content or name in _CONTENT))
        candidates = (first_main, articles[0] if len(articles) == 1 else None, soup.body)
        self.main: Tag = next((c for c in candidates if isinstance(c, Tag)), soup)

    def text(self, tag: Tag, also_skip: frozenset[int] = frozenset()) -> str:
        """`tag.get_text()` of the page as read: <br> is a line break, skipped parts are gone."""
        wanted = tag.interesting_string_types or _TEXT_TYPES
        out: list[str] = []
        stack = [_children(tag)]
        while stack:
            child = next(stack[-1], None)
            if child is None:
                stack.pop()
            elif isinstance(child, Tag):
                if child.name == "br":
                    out.append("\n")
                elif id(child) not in self.skipped and id(child) not in also_skip:
                    stack.append(_children(child))
            elif _is_wanted(child, wanted):
                out.append(str(child))
        return "".join(out)

    def kept(self, tag: Tag) -> bool:
        return id(tag) not in self.skipped


def _is_wanted(node: PageElement, wanted: object) -> bool:
    kind = type(node)
    if isinstance(wanted, type):
        return kind is wanted
    return isinstance(node, NavigableString) and kind in wanted  # type: ignore[operator]


class _Walker:
    """Walks the tree in document order; loose text between blocks becomes a paragraph."""

    def __init__(self, page: _Page) -> None:
        self.page = page
        self.out = BlockBuilder()
        self.inline: list[str] = []

    def walk(self, root: Tag) -> None:
        """Each element is a block, inline text, or a container whose children are walked
        (and whose end ends the loose text inside it)."""
        stack = [_children(root)]
        while stack:
            child = next(stack[-1], None)
            if child is None:
                stack.pop()
                if stack:  # the end of a container below the root
                    self.flush()
            elif isinstance(child, Tag):
                if self.page.kept(child) and self._element(child):
                    stack.append(_children(child))
            elif type(child) is NavigableString:  # not comments, doctypes or CDATA
                self.inline.append(str(child))

    def flush(self) -> None:
        self.out.add("paragraph", one_line("".join(self.inline)))
        self.inline = []

    def _element(self, tag: Tag) -> bool:
        """Handle one element; True for a container to walk into."""
        text = self.page.text
        if tag.name == "br":
            self.inline.append("\n")
            return False
        if tag.name in _INLINE:
            self.inline.append(text(tag))
            return False
        self.flush()
        if tag.name in _HEADINGS:
            self.out.heading(_HEADINGS[tag.name], text(tag))
        elif tag.name in ("p", "blockquote", "li", "dt", "dd", "figcaption", "caption"):
            self.out.add("paragraph", one_line(text(tag)))
        elif tag.name == "pre":
            self.out.add("code", normalize_unicode(text(tag)).strip("\n"), clean=False)
        elif tag.name in ("ul", "ol"):
            self.out.add_list(list(_list_items(self.page, tag)))
        elif tag.name == "table":
            self.out.add_table(_table_rows(self.page, tag))
        else:
            return True
        return False


def _tag_children(page: _Page, tag: Tag, names: frozenset[str]) -> list[Tag]:
    """Direct children of `tag` named one of `names`, as find_all(recursive=False) finds."""
    return [c for c in tag.contents if isinstance(c, Tag) and c.name in names and page.kept(c)]


_LI = frozenset({"li"})
_LISTS = frozenset({"ul", "ol"})
_CELLS = frozenset({"td", "th"})


def _list_items(page: _Page, list_tag: Tag) -> Iterator[str]:
    """Items of a <ul>/<ol>, nested lists indented two spaces per level (up to ten)."""
    stack: list[tuple[Iterator[Tag], int]] = [(iter(_tag_children(page, list_tag, _LI)), 0)]
    while stack:
        items, depth = stack[-1]
        li = next(items, None)
        if li is None:
            stack.pop()
            continue
        nested = _tag_children(page, li, _LISTS)
        own_text = page.text(li, frozenset(map(id, nested)))
        yield "  " * min(depth, _MAX_LIST_INDENT) + one_line(own_text)
        if nested:
            subitems = chain.from_iterable(_tag_children(page, sub, _LI) for sub in nested)
            stack.append((subitems, depth + 1))


def _table_rows(page: _Page, table: Tag) -> list[list[str]]:
    """Rows of this table only: rows of a table nested in a cell are part of that cell's text."""
    rows: list[list[str]] = []
    stack = [_children(table)]
    while stack:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
        elif isinstance(child, Tag) and page.kept(child):
            if child.name == "tr":
                rows.append([page.text(cell) for cell in _tag_children(page, child, _CELLS)])
                # a <tr> inside a <tr> (lxml keeps what it is given) is a row of this table
                stack.append(_children(child))
            elif child.name != "table":
                stack.append(_children(child))
    return rows
