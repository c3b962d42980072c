"""PowerPoint (.pptx) files: one page per slide, the slide title as the heading path."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import groupby
from pathlib import Path

from pptx import Presentation
from pptx.enum.shapes import PP_PLACEHOLDER
from pptx.oxml.ns import qn
from pptx.shapes.base import BaseShape
from pptx.shapes.graphfrm import GraphicFrame
from pptx.shapes.group import GroupShape
from pptx.text.text import TextFrame, _Paragraph

from ingest.loaders.builder import BlockBuilder
from ingest.loaders.cleaning import clean_text
from ingest.loaders.docx import check_office_container
from ingest.types import ParsedDocument

# Body placeholders inherit bullets from the slide master; text boxes do not.
_BULLETED = {
    PP_PLACEHOLDER.BODY,
    PP_PLACEHOLDER.OBJECT,
    PP_PLACEHOLDER.VERTICAL_BODY,
    PP_PLACEHOLDER.VERTICAL_OBJECT,
}
_CHROME = {
    PP_PLACEHOLDER.DATE,
    PP_PLACEHOLDER.FOOTER,
    PP_PLACEHOLDER.HEADER,
    PP_PLACEHOLDER.SLIDE_NUMBER,
}
# What PowerPoint and python-pptx write into an untitled deck's properties.
_PLACEHOLDER_TITLES = {"", "PowerPoint Presentation"}


def load_pptx(path: Path) -> ParsedDocument:
    """Parse a .pptx: per slide its title, text, tables and speaker notes, `page` = slide number."""
    check_office_container(path, ".pptx")
    deck = Presentation(str(path))
    out = BlockBuilder()
    for number, slide in enumerate(deck.slides, start=1):
        out.reset_headings()
        title = slide.shapes.title
        if title is not None:
            out.heading(1, title.text_frame.text, number)
        for shape in _flatten(slide.shapes):
            if title is None or shape.shape_id != title.shape_id:
                _add_shape(out, shape, number)
        notes = slide.notes_slide.notes_text_frame if slide.has_notes_slide else None
        if notes is not None and notes.text.strip():
            out.add("paragraph", "Notes: " + clean_text(notes.text), number)
    title_property = (deck.core_properties.title or "").strip()
    if title_property in _PLACEHOLDER_TITLES:
        title_property = ""
    title_text = title_property or out.first_top_heading or path.stem
    return ParsedDocument(
        str(path), title_text, "pptx", out.blocks, {"slides": str(len(deck.slides))}
    )


def _flatten(shapes: Iterable[BaseShape]) -> Iterator[BaseShape]:
    for shape in shapes:
        if isinstance(shape, GroupShape):
            yield from _flatten(shape.shapes)
        else:
            yield shape


def _add_shape(out: BlockBuilder, shape: BaseShape, page: int) -> None:
    kind = shape.placeholder_format.type if shape.is_placeholder else None
    if kind in _CHROME:
        return
    if isinstance(shape, GraphicFrame) and shape.has_table:
        rows = [[c.text for c in row.cells if not c.is_spanned] for row in shape.table.rows]
        out.add_table(rows, page)
    elif shape.has_text_frame:
        frame: TextFrame = shape.text_frame  # type: ignore[attr-defined]
        _add_text_frame(out, frame, kind in _BULLETED, page)


def _add_text_frame(out: BlockBuilder, frame: TextFrame, in_body: bool, page: int) -> None:
    """Runs of bulleted paragraphs become list blocks, the other runs paragraph blocks."""
    paragraphs = [p for p in frame.paragraphs if p.text.strip()]
    for bulleted, run in groupby(paragraphs, key=lambda p: _is_bulleted(p, in_body)):
        if bulleted:
            out.add_list(["  " * p.level + p.text for p in run], page)
        else:
            out.add("paragraph", "\n".join(p.text for p in run), page)


def _is_bulleted(paragraph: _Paragraph, in_body: bool) -> bool:
    """An explicit bullet or its absence in the paragraph wins over what the placeholder implies."""
    props = paragraph._p.pPr
    if props is not None:
        if props.find(qn("a:buNone")) is not None:
            return False
        if props.find(qn("a:buChar")) is not None or props.find(qn("a:buAutoNum")) is not None:
            return True
    return in_body
