"""Collects a document's blocks in reading order and tracks the heading path above each one."""

from __future__ import annotations

from ingest.loaders.cleaning import clean_text, one_line
from ingest.types import Block, BlockKind


class BlockBuilder:
    """Appends cleaned, non-empty blocks and stamps each with the current heading path.

    Every structured loader (docx, html, markdown, pptx) needs the same stack logic: a heading
    of level n closes every open heading of level n or deeper.
    """

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self._headings: list[tuple[int, str]] = []
        self.first_top_heading: str | None = None  # a fallback title for the document

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(text for _, text in self._headings)

    def reset_headings(self) -> None:
        """Close every heading: a new slide starts its own path."""
        self._headings.clear()

    def heading(self, level: int, text: str, page: int | None = None) -> None:
        """Open a heading of `level` (1 = top) and record it as a heading block."""
        title = one_line(text)
        if not title:
            return
        while self._headings and self._headings[-1][0] >= level:
            self._headings.pop()
        self._headings.append((level, title))
        if level == 1 and self.first_top_heading is None:
            self.first_top_heading = title
        self.blocks.append(Block("heading", title, self.path, page))

    def add(
        self, kind: BlockKind, text: str, page: int | None = None, *, clean: bool = True
    ) -> None:
        """Add a block under the current headings; blank text is skipped."""
        if clean:
            text = clean_text(text)
        if text.strip():
            self.blocks.append(Block(kind, text, self.path, page))

    def add_list(self, items: list[str], page: int | None = None) -> None:
        """Add list items as one "list" block, one "- item" per line (items already indented)."""
        lines = [f"{item[: len(item) - len(item.lstrip())]}- {one_line(item)}" for item in items]
        self.add(
            "list", "\n".join(line for line in lines if line.strip() != "-"), page, clean=False
        )

    def add_table(self, rows: list[list[str]], page: int | None = None) -> None:
        """Add a table as one block: one row per line, cells joined by " | ", empty rows dropped."""
        lines = [" | ".join(one_line(cell) for cell in row) for row in rows]
        self.add(
            "table",
            "\n".join(line for line in lines if line.replace("|", "").strip()),
            page,
            clean=False,
        )
