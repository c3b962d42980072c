"""Word (.docx) files: headings, paragraphs, lists and tables in the order the body holds them."""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from docx import Document
from docx.document import Document as DocxDocument
from docx.oxml.ns import qn
from docx.table import Table
from docx.text.paragraph import Paragraph

from ingest.errors import CorruptDocument, EncryptedDocument, UnsupportedFormat
from ingest.loaders.builder import BlockBuilder
from ingest.types import ParsedDocument

_HEADING_STYLE = re.compile(r"(?:heading|标题)\s*(\d)", re.IGNORECASE)
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


# python-docx and python-pptx read every part of the package into memory, unpacked, and parse
# its XML whole: a zip bomb (2 GB of zeros is 2 MB deflated) would take that and more. Each
# member's declared size bounds what zipfile unpacks (a member that lies fails its CRC), so the
# sizes in the central directory are checked first. A 50 MB Word file of text unpacks to
# about 500 MB of XML; real ones, pictures included, stay far below.
MAX_UNPACKED = 512 * 2**20


def check_office_container(path: Path, kind: str) -> None:
    """Explain files the zip-based parsers would only call "not a zip file", and refuse
    packages that unpack to more than MAX_UNPACKED bytes.

    Office writes password-protected .docx/.pptx, and old .doc/.ppt, as OLE compound files.
    """
    if zipfile.is_zipfile(path):
        _check_members(path, kind)
        return
    with path.open("rb") as fh:
        head = fh.read(8)
    if head == _OLE_MAGIC:
        if "EncryptedPackage".encode("utf-16-le") in path.read_bytes():
            raise EncryptedDocument(f"{path.name}: is password-protected; remove the password")
        raise UnsupportedFormat(f"{path.name}: is an old binary Office file; save it as {kind}")
    raise CorruptDocument(f"{path.name}: is damaged or not a {kind} file (not a valid zip archive)")


def _check_members(path: Path, kind: str) -> None:
    """Sizes first (cheap), then every member unpacked once in small reads against its CRC:
    a damaged member is named here rather than surfacing as a seek error inside the parser."""
    name = path.name
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
            if unpacked > MAX_UNPACKED:
                raise CorruptDocument(
                    f"{name}: unpacks to {unpacked / 2**20:,.0f} MB, over the "
                    f"{MAX_UNPACKED >> 20} MB a {kind} file may hold (a zip bomb?)"
                )
            bad = archive.testzip()
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError) as exc:
        raise CorruptDocument(f"{name}: is damaged or not a {kind} file ({exc})") from exc
    except OSError as exc:  # a seek past the end or before the start: offsets that lie
        raise CorruptDocument(f"{name}: is damaged or not a {kind} file ({exc})") from exc
    if bad is not None:
        raise CorruptDocument(f"{name}: is damaged: its part {bad} fails its checksum")


def load_docx(path: Path) -> ParsedDocument:
    """Parse a .docx; title from its properties, else the first Title/Heading 1, else the name."""
    check_office_container(path, ".docx")
    doc = Document(str(path))
    out = BlockBuilder()
    items: list[str] = []
    for block in _body_items(doc):
        item = _list_item(block) if isinstance(block, Paragraph) else None
        if item is not None:
            items.append(item)  # consecutive list paragraphs make one list block
            continue
        out.add_list(items)
        items = []
        if isinstance(block, Table):
            out.add_table(_table_rows(block))
        elif (level := _heading_level(block)) is not None:
            out.heading(level, block.text)
        else:
            out.add("paragraph", block.text)
    out.add_list(items)
    title = (doc.core_properties.title or "").strip() or out.first_top_heading or path.stem
    return ParsedDocument(str(path), title, "docx", out.blocks)


def _body_items(doc: DocxDocument) -> Iterator[Paragraph | Table]:
    """Paragraphs and tables interleaved as in the body, including those in content controls."""
    pending = list(doc.element.body.iterchildren())
    while pending:
        child = pending.pop(0)
        if child.tag == qn("w:p"):
            yield Paragraph(child, doc)
        elif child.tag == qn("w:tbl"):
            yield Table(child, doc)
        elif child.tag == qn("w:sdt"):  # e.g. a table of contents wraps its paragraphs
            pending[:0] = child.xpath("./w:sdtContent/*")


def _heading_level(paragraph: Paragraph) -> int | None:
    """1 for Title/Heading 1, n for Heading n; a custom style counts as the style it is based on."""
    style = paragraph.style
    for _ in range(5):
        if style is None:
            break
        name = (style.name or "").strip()
        if name.lower() == "title":
            return 1
        if match := _HEADING_STYLE.fullmatch(name):
            return int(match[1])
        style = style.base_style
    outline = paragraph._p.xpath("./w:pPr/w:outlineLvl/@w:val")
    if outline and str(outline[0]).isdigit() and int(outline[0]) < 9:  # 9 means body text
        return int(outline[0]) + 1
    return None


def _list_item(paragraph: Paragraph) -> str | None:
    """The item text, indented by its level, if the paragraph is a list item; else None."""
    numbered = paragraph._p.xpath("./w:pPr/w:numPr")
    styled = paragraph.style is not None and "List" in (paragraph.style.name or "")
    if not (numbered or styled) or _heading_level(paragraph) is not None:
        return None
    level = paragraph._p.xpath("./w:pPr/w:numPr/w:ilvl/@w:val")
    depth = int(level[0]) if level and str(level[0]).isdigit() else 0
    return "  " * depth + paragraph.text


def _table_rows(table: Table) -> list[list[str]]:
    """Cell texts per row; python-docx repeats a horizontally merged cell, so keep it once."""
    rows = []
    for row in table.rows:
        cells = []
        previous = None
        for cell in row.cells:
            if previous is None or cell._tc is not previous._tc:
                cells.append(cell.text)
            previous = cell
        rows.append(cells)
    return rows
