"""Markdown files, read with a small line-based parser rather than a Markdown library.

A renderer would give HTML that we would then have to take apart again; what retrieval needs is
only the block structure: headings (for the heading path), fenced code (kept verbatim and never
read as headings), pipe tables, lists and paragraphs.
"""

from __future__ import annotations

import re
from pathlib import Path

from ingest.loaders.builder import BlockBuilder
from ingest.loaders.cleaning import join_lines, normalize_unicode
from ingest.loaders.text import decode_with_encoding
from ingest.types import ParsedDocument

_ATX = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_LIST_ITEM = re.compile(r"([ \t]*)(?:[-*+]|\d{1,9}[.)])[ \t]+(.*)")
_THEMATIC_BREAK = re.compile(r" {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_SETEXT = re.compile(r" {0,3}(=+|-+)[ \t]*$")
_TABLE_SEPARATOR = re.compile(r"[ \t]*\|?[ \t]*:?-+:?[ \t]*(\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$")
_FRONT_MATTER_TITLE = re.compile(r"title[ \t]*:[ \t]*(.+)")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")


def load_markdown(path: Path) -> ParsedDocument:
    """Parse a Markdown file; title from front matter, else the first H1, else the file name."""
    text, encoding = decode_with_encoding(path.read_bytes(), path.name)
    lines = normalize_unicode(text).split("\n")
    front_title, start = _front_matter(lines)
    builder = _Parser(lines[start:]).parse()
    title = front_title or builder.first_top_heading or path.stem
    return ParsedDocument(str(path), title, "md", builder.blocks, {"encoding": encoding})


def _front_matter(lines: list[str]) -> tuple[str | None, int]:
    """Return the YAML front matter's title and the index of the first line after it."""
    if not lines or lines[0].strip() != "---":
        return None, 0
    for end in range(1, len(lines)):
        if lines[end].strip() in ("---", "..."):
            titles = (_FRONT_MATTER_TITLE.fullmatch(line.strip()) for line in lines[1:end])
            title = next((m[1].strip().strip("\"'") for m in titles if m), None)
            return title or None, end + 1
    return None, 0  # an unclosed "---" is a thematic break, not front matter


def _inline(text: str) -> str:
    """Keep the words of links, images and bold text, drop their markup."""
    return _STRONG.sub(r"\2", _LINK.sub(r"\1", _IMAGE.sub(r"\1", text)))


def _cells(row: str) -> list[str]:
    row = row.strip().removeprefix("|").removesuffix("|")
    return [_inline(cell.replace("\\|", "|")) for cell in re.split(r"(?<!\\)\|", row)]


class _Parser:
    """A one-pass state machine over lines: open paragraph, open list, or a block being read."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.out = BlockBuilder()
        self.paragraph: list[str] = []
        self.items: list[str] = []
        self.indents: list[int] = []  # indentation of the open list levels

    def parse(self) -> BlockBuilder:
        i = 0
        while i < len(self.lines):
            i = self._step(i)
        self._flush()
        return self.out

    def _step(self, i: int) -> int:
        """Consume the line at `i` (and any it starts) and return the next index."""
        line = self.lines[i]
        if fence := _FENCE.match(line):
            return self._code(i, fence[1])
        if not line.strip():
            self._flush_paragraph()  # a blank line may sit between items of one list
            return i + 1
        if heading := _ATX.match(line):
            self._flush()
            self.out.heading(len(heading[1]), _inline(heading[2] or ""))
            return i + 1
        if len(self.paragraph) == 1 and (setext := _SETEXT.match(line)):
            text = self.paragraph.pop()
            self._flush()
            self.out.heading(1 if setext[1][0] == "=" else 2, _inline(text))
            return i + 1
        if _THEMATIC_BREAK.match(line):
            self._flush()
            return i + 1
        if "|" in line and self._is_table_separator(i + 1):
            return self._table(i)
        if item := _LIST_ITEM.match(line):
            self._flush_paragraph()
            self.items.append("  " * self._depth(len(item[1].expandtabs(4))) + _inline(item[2]))
            return i + 1
        if self.items and (line[:1].isspace() or self.lines[i - 1].strip()):
            self.items[-1] += " " + _inline(line.strip())  # continuation of the last item
            return i + 1
        self._flush_list()
        self.paragraph.append(_inline(line.strip().removeprefix(">").strip()))
        return i + 1

    def _depth(self, indent: int) -> int:
        """Nesting level of an item: however many spaces a writer uses per level."""
        while self.indents and self.indents[-1] > indent:
            self.indents.pop()
        if not self.indents or self.indents[-1] < indent:
            self.indents.append(indent)
        return len(self.indents) - 1

    def _is_table_separator(self, i: int) -> bool:
        line = self.lines[i] if i < len(self.lines) else ""
        return "|" in line and _TABLE_SEPARATOR.match(line) is not None

    def _code(self, i: int, marker: str) -> int:
        self._flush()
        end = i + 1
        # The closing fence uses the same character, at least as long; unclosed runs to the end.
        while end < len(self.lines):
            close = _FENCE.match(self.lines[end])
            bare = not self.lines[end].strip().lstrip(marker[0])  # closing fences take no info
            if close and close[1][0] == marker[0] and len(close[1]) >= len(marker) and bare:
                break
            end += 1
        self.out.add("code", "\n".join(self.lines[i + 1 : end]).strip("\n"), clean=False)
        return end + 1

    def _table(self, i: int) -> int:
        self._flush()
        rows = [_cells(self.lines[i])]
        end = i + 2  # skip the |---| separator row
        while end < len(self.lines) and "|" in self.lines[end] and self.lines[end].strip():
            rows.append(_cells(self.lines[end]))
            end += 1
        self.out.add_table(rows)
        return end

    def _flush_paragraph(self) -> None:
        if self.paragraph:
            self.out.add("paragraph", join_lines(self.paragraph))
            self.paragraph = []

    def _flush_list(self) -> None:
        if self.items:
            self.out.add_list(self.items)
            self.items, self.indents = [], []

    def _flush(self) -> None:
        self._flush_paragraph()
        self._flush_list()
