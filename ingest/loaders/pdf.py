"""PDF files through pypdf: paragraphs per page, with the clean-up that PDF text always needs.

A PDF holds positioned lines, not paragraphs: words are hyphenated at line ends, page numbers
sit among the text, and pypdf's plain mode rarely leaves blank lines between paragraphs. Plain
mode is still used rather than layout mode because layout mode interleaves the lines of
two-column pages.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError, PyPdfError

from ingest.errors import CorruptDocument, EncryptedDocument
from ingest.loaders.cleaning import is_cjk, normalize_unicode, one_line
from ingest.types import Block, ParsedDocument

log = logging.getLogger(__name__)

_HYPHEN_BREAK = re.compile(r"(\w)-\n[ \t]*(\w)")
_PAGE_NUMBER = re.compile(
    r"(?:page\s*)?[-–—]?\s*\d{1,4}\s*[-–—]?(?:\s*(?:/|of)\s*\d{1,4})?"
    r"|第\s*\d{1,4}\s*页(?:\s*[,，]?\s*共\s*\d{1,4}\s*页)?",
    re.IGNORECASE,
)
_SENTENCE_END = tuple(".!?:;。！？：；")
_FILL = 0.95  # share of the page's longest line that counts as a full line
_EDGE_LINES = 2  # page numbers and running headers: only this many lines from the top or bottom
_RUNNING_MIN_PAGES = 3
_HEADER_CHARS = 80  # a chapter's running header is a short line


def load_pdf(path: Path) -> ParsedDocument:
    """Parse a PDF into paragraph blocks with 1-based page numbers; title from /Title or name."""
    name = path.name
    try:
        reader = PdfReader(path)
        _decrypt(reader, name)
        pages = list(reader.pages)
    except PyPdfError as exc:
        raise CorruptDocument(f"{name}: is damaged or not a PDF ({exc})") from exc
    texts: dict[int, str] = {}
    failures: list[str] = []
    for number, page in enumerate(pages, start=1):
        try:
            texts[number] = page.extract_text() or ""
        except Exception as exc:  # one broken page must not lose the others
            log.warning("%s: skipping page %d: %s", name, number, exc)
            failures.append(str(exc))
    if pages and len(failures) == len(pages):
        raise CorruptDocument(f"{name}: no page could be read ({failures[0]})")
    running = running_lines(list(texts.values()))
    blocks = [
        Block("paragraph", p, page=number)
        for number, text in texts.items()
        for p in clean_page_text(text, running)
    ]
    metadata = {"pages": str(len(pages))}
    if running:
        metadata["running_headers"] = " | ".join(running.values())
    return ParsedDocument(str(path), _title(reader) or path.stem, "pdf", blocks, metadata)


def _decrypt(reader: PdfReader, name: str) -> None:
    """Open PDFs that are encrypted only against editing (empty user password); refuse others."""
    if not reader.is_encrypted:
        return
    try:
        result = reader.decrypt("")
    except DependencyError as exc:
        raise EncryptedDocument(
            f"{name}: is AES-encrypted and reading it needs the 'cryptography' package"
        ) from exc
    if result == PasswordType.NOT_DECRYPTED:
        raise EncryptedDocument(f"{name}: is password-protected; remove the password and retry")


def _title(reader: PdfReader) -> str:
    try:
        title = reader.metadata.title if reader.metadata else None
    except Exception:  # a broken info dictionary is no reason to lose the text
        return ""
    return one_line(str(title)) if title else ""


def running_lines(pages: list[str]) -> dict[str, str]:
    """Headers and footers: lines at the top or bottom of pages that recur, numbers aside.

    A line on at least half the pages is one ("Shared MIME-info Database"). So are lines that
    each recur on a few pages when together they head at least half of them: a chapter's title
    over its own pages ("Chapter 4: Function reference 14"). Keyed by `_running_key`, each with
    its first wording. They are cut from the page text (a header glued to a paragraph belongs to
    no passage) and kept in the document's metadata.
    """
    if len(pages) < _RUNNING_MIN_PAGES:
        return {}
    seen: dict[str, set[int]] = {}
    outermost: dict[str, set[int]] = {}  # the page's very first or last line, if short
    first: dict[str, str] = {}
    for number, text in enumerate(pages):
        lines = [ln for ln in (ln.strip() for ln in normalize_unicode(text).split("\n")) if ln]
        for line in dict.fromkeys(lines[i] for i in sorted(_edges(lines))):
            key = _running_key(line)
            if key and not _PAGE_NUMBER.fullmatch(line):
                seen.setdefault(key, set()).add(number)
                first.setdefault(key, line)
                if line in (lines[0], lines[-1]) and len(line) <= _HEADER_CHARS:
                    outermost.setdefault(key, set()).add(number)
    half = max(_RUNNING_MIN_PAGES, len(pages) / 2)
    recurring = {key: on for key, on in outermost.items() if len(on) >= 2}
    covered = set().union(*recurring.values()) if recurring else set()
    if len(recurring) >= 2 and len(covered) >= half:
        return {key: first[key] for key in recurring}
    return {key: first[key] for key, on in seen.items() if len(on) >= half}


def _running_key(line: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"\d+", "#", line)).strip().lower()


def _edges(lines: list[str]) -> set[int]:
    """Indices of the first and last `_EDGE_LINES` non-empty lines of a page."""
    filled = [i for i, line in enumerate(lines) if line]
    return set(filled[:_EDGE_LINES] + filled[-_EDGE_LINES:])


def clean_page_text(text: str, running: Mapping[str, str] | None = None) -> list[str]:
    """Turn one page of extracted text into clean paragraphs, without its running headers."""
    text = normalize_unicode(text.replace("\u00ad\n", ""))
    lines = [line.strip() for line in text.split("\n")]
    if running:
        edges = _edges(lines)
        lines = [
            "" if i in edges and _running_key(ln) in running else ln for i, ln in enumerate(lines)
        ]
        text = "\n".join(lines)
    # "adap-\ntation" -> "adaptation"; "2020-\n2021" and "Jean-\nPaul" keep their hyphen.
    text = _HYPHEN_BREAK.sub(lambda m: m[1] + ("" if m[2].islower() else "-") + m[2], text)
    lines = _drop_page_numbers([line.strip() for line in text.split("\n")])
    width = max((len(line) for line in lines), default=0)
    groups: list[list[str]] = [[]]
    for line, following in zip(lines, [*lines[1:], ""], strict=True):
        groups[-1].append(line)
        if not line or _ends_paragraph(line, following, width):
            groups.append([])
    return [paragraph for group in groups if (paragraph := one_line("\n".join(group)))]


def _ends_paragraph(line: str, following: str, width: int) -> bool:
    """A sentence-final line with room left for the next line's first word was broken by hand.

    Lines wrapped by the layout are full; the last line of a paragraph usually is not. Character
    counts only approximate widths in proportional fonts, hence the slack.
    """
    if not line.endswith(_SENTENCE_END):
        return False
    first = following.split(" ", 1)[0]
    next_word = first[:1] if first and is_cjk(first[0]) else first
    return len(line) + 1 + len(next_word) < _FILL * width


def _drop_page_numbers(lines: list[str]) -> list[str]:
    """Blank out lines holding only a page number, near the top or bottom of the page.

    Only the edges: a lone number in the middle of a page is more likely a table value.
    """
    edges = _edges(lines)
    return [
        "" if i in edges and _PAGE_NUMBER.fullmatch(line) else line for i, line in enumerate(lines)
    ]
