"""Plain-text files, read as a stream, and the byte decoding that Markdown shares with them.

Chinese text files in the wild are UTF-8, GBK/GB18030 or UTF-16 from Windows tools. Statistical
detectors guess short GBK files wrong (Big5, cp949, Shift-JIS all decode the same bytes), so the
cheap, certain checks run first and `charset_normalizer` only sees what is left.

Text is the one format read in a stream rather than whole, so that a 200 MB file costs what a
2 MB one does: a first pass over the bytes hashes them and picks the encoding, a second decodes,
cleans and hands out the paragraphs a piece at a time. The pieces are exactly what
`split_paragraphs(clean_text(text))` with `join_lines` gives for the whole text; the cuts
between pieces fall only where cutting changes nothing (see `_safe_cut`).
"""

from __future__ import annotations

import codecs
import hashlib
import logging
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ingest.errors import CorruptDocument, DocumentError
from ingest.loaders.cleaning import collapse_spaces, is_cjk, normalize_unicode
from ingest.types import Block, ParsedDocument

log = logging.getLogger(__name__)

# UTF-32 first: its little-endian BOM starts with the UTF-16 one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_SAMPLE = 200_000  # characters looked at by the statistical checks; enough to decide, fast
_BAD_CATEGORIES = frozenset({"Cc", "Cs", "Co", "Cn"})  # control, surrogate, private, unassigned
_MAX_BAD_SHARE = 0.05
_MIN_GB2312_SHARE = 0.9
READ_BLOCK = 1 << 20  # bytes read at a time
_DETECT_BYTES = 8 << 20  # what charset_normalizer sees: the whole file when it is smaller
_PIECE = 1 << 16  # characters normalised at a time
_MAX_HELD = 1 << 22  # characters held while looking for a safe cut before cutting anyway


@dataclass(frozen=True)
class Decoding:
    """How a file's bytes become text."""

    codec: str  # a Python codec name
    label: str  # what the document's metadata calls it
    complete: bool = True  # False: the file ends inside a UTF-8 character, which is dropped
    bom: str | None = None  # the byte-order mark's encoding, for the error when it lies
    strip_signature: bool = False  # charset_normalizer's rule for a signed GB18030 or UTF-7


@dataclass(frozen=True)
class _Scan:
    """What one pass over the bytes learns: their hash, how they start, which checks pass."""

    digest: str
    size: int
    start: bytes  # the first 4 bytes, where a byte-order mark would be
    has_nul: bool
    utf8: str  # "ok", "cut" (ends inside a character) or "bad"


Blocks = Callable[[], Iterator[bytes]]  # the bytes from the start, each time it is called


def _scan(blocks: Iterable[bytes]) -> _Scan:
    sha = hashlib.sha256()
    start = b""
    size = 0
    has_nul = False
    utf8 = codecs.getincrementaldecoder("utf-8")()
    state = "ok"
    for block in blocks:
        sha.update(block)
        size += len(block)
        if len(start) < 4:
            start += block[: 4 - len(start)]
        has_nul = has_nul or b"\x00" in block
        if state == "ok":
            try:
                utf8.decode(block)
            except UnicodeDecodeError:
                state = "bad"
    if state == "ok":
        try:
            utf8.decode(b"", final=True)
        except UnicodeDecodeError:  # only an incomplete last character is left at the end
            state = "cut"
    return _Scan(sha.hexdigest(), size, start, has_nul, state)


def _choose(scan: _Scan, blocks: Blocks, name: str) -> Decoding:
    """The BOM, else UTF-8, else GB18030 that reads like Chinese, else charset_normalizer."""
    for bom, encoding in _BOMS:
        if scan.start.startswith(bom):
            return Decoding(encoding, encoding.removesuffix("-sig"), bom=encoding)
    if scan.has_nul:  # never in UTF-8 or GB text; UTF-16 without a BOM is not supported
        raise binary_error(name)
    if scan.utf8 != "bad":
        return Decoding("utf-8", "utf-8", complete=scan.utf8 == "ok")
    if _reads_as_gb18030(blocks()):
        return Decoding("gb18030", "gb18030")
    import charset_normalizer  # only reached for files that are neither UTF nor GB

    head = bytearray()
    for block in blocks():
        head += block[: _DETECT_BYTES - len(head)]
        if len(head) >= _DETECT_BYTES:
            break
    best = charset_normalizer.from_bytes(bytes(head)).best()
    if best is None:
        raise binary_error(name)
    signed = bool(best.bom) and best.encoding in {"utf_7", "gb18030"}
    return Decoding(best.encoding, best.encoding, strip_signature=signed)


def _reads_as_gb18030(blocks: Iterable[bytes]) -> bool:
    """GB18030 (a superset of GBK and GB2312) if it decodes and reads like Chinese.

    Latin-1 bytes often decode as GBK too, but into rare characters outside GB2312, the set
    that everyday Chinese text stays inside; that share tells the two apart.
    """
    decoder = codecs.getincrementaldecoder("gb18030")()
    sample: list[str] = []
    seen = 0
    try:
        for block in blocks:
            text = decoder.decode(block)
            if seen < _SAMPLE:
                sample.append(text[: _SAMPLE - seen])
                seen += len(sample[-1])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    wide = [c for c in "".join(sample) if ord(c) > 0x7F]
    common = sum(1 for c in wide if _in_gb2312(c))
    return bool(wide) and common / len(wide) >= _MIN_GB2312_SHARE


def _in_gb2312(char: str) -> bool:
    try:
        char.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


def _decoded(blocks: Iterable[bytes], decoding: Decoding, name: str) -> Iterator[str]:
    """The text, a block at a time; invalid bytes are a CorruptDocument wherever they sit."""
    decoder = codecs.getincrementaldecoder(decoding.codec)("strict")
    first = True
    try:
        for block in blocks:
            text = decoder.decode(block)
            if first and text:
                first = False
                if decoding.strip_signature and text[0] == "\ufeff":
                    text = text[1:]
            yield text
        if decoding.complete:
            yield decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        if decoding.bom:
            raise CorruptDocument(
                f"{name}: starts with a {decoding.bom} byte-order mark but is not valid "
                f"{decoding.bom}"
            ) from None
        raise CorruptDocument(
            f"{name}: is not valid {decoding.label} throughout (that encoding was chosen "
            f"from its first {_DETECT_BYTES >> 20} MB): {exc.reason}"
        ) from None


def _checked(pieces: Iterable[str], name: str) -> Iterator[str]:
    """Refuse text whose first characters look like binary data, then pass it all on."""
    it = iter(pieces)
    head: list[str] = []
    seen = 0
    for piece in it:
        head.append(piece)
        seen += len(piece)
        if seen >= _SAMPLE:
            break
    if looks_binary("".join(head)):
        raise binary_error(name)
    yield from head
    yield from it


def decode_text(data: bytes, name: str) -> str:
    """Decode a text file's bytes, or raise CorruptDocument if they are not text at all."""
    return decode_with_encoding(data, name)[0]


def decode_with_encoding(data: bytes, name: str) -> tuple[str, str]:
    """Like `decode_text`, also returning the encoding used, for the document's metadata."""
    decoding = _choose(_scan([data]), lambda: iter([data]), name)
    return "".join(_checked(_decoded([data], decoding, name), name)), decoding.label


def looks_binary(text: str) -> bool:
    """True when decoded text is mostly control, unassigned or replacement characters."""
    sample = text[:_SAMPLE]
    bad = sum(
        1
        for c in sample
        if c == "\ufffd" or (c not in "\t\n\r\f\v" and unicodedata.category(c) in _BAD_CATEGORIES)
    )
    return bad > _MAX_BAD_SHARE * len(sample)


def binary_error(name: str) -> CorruptDocument:
    return CorruptDocument(f"{name}: looks like binary data, not text")


# --- cleaning a stream of text -----------------------------------------------------------------


def _safe_cut(text: str) -> int:
    """A position where normalising the two sides apart gives what normalising the whole does.

    Before an ASCII character other than a newline, a CJK ideograph or a Hangul syllable (none
    combines with what precedes it, nor is part of a CRLF), or after a newline. 0 if none is
    found near the end (a run of combining marks or of rare scripts without spaces).
    """
    for i in range(len(text) - 1, max(0, len(text) - _PIECE), -1):
        c = text[i]
        if (c < "\x80" and c != "\n") or text[i - 1] == "\n":
            return i
        if "\u4e00" <= c <= "\u9fff" or "\uac00" <= c <= "\ud7a3":
            return i
    return 0


def normalised_pieces(pieces: Iterable[str], size: int = _PIECE) -> Iterator[str]:
    """`normalize_unicode` of the concatenated pieces, given out in pieces of about `size`."""
    held: list[str] = []
    n = 0
    for piece in pieces:
        held.append(piece)
        n += len(piece)
        if n < size:
            continue
        text = "".join(held)
        cut = _safe_cut(text)
        if not cut and n < _MAX_HELD:
            held = [text]
            continue
        cut = cut or len(text)  # hostile text with no safe place for megabytes: cut anyway
        yield normalize_unicode(text[:cut])
        held, n = [text[cut:]], len(text) - cut
    yield normalize_unicode("".join(held))


def paragraph_pieces(pieces: Iterable[str]) -> Iterator[tuple[bool, str]]:
    """The paragraphs of normalised text as (starts a paragraph, text) pieces.

    A paragraph is a run of lines that are not blank; each line is stripped, its runs of
    spaces collapsed, and lines are joined by a space except between two CJK characters:
    `clean_text`, `split_paragraphs` and `join_lines` on the whole text, done a piece at a
    time. Whitespace after a line's words is held back until the line goes on or ends.
    """
    open_paragraph = False  # a paragraph has been started and not yet ended by a blank line
    line_has_text = False
    last = ""  # the last character given out in the open paragraph
    held = ""
    for piece in pieces:
        for k, part in enumerate(piece.split("\n")):
            if k:  # a line ended just before `part`
                if not line_has_text:
                    open_paragraph = False
                line_has_text, held = False, ""
            if not line_has_text:
                part = part.lstrip()
                if not part:
                    continue
            text = held + part
            body = text.rstrip()
            held = text[len(body) :]
            if len(held) > _PIECE:  # a megabyte of blanks inside one line: keep one
                held = collapse_spaces(held)[-_PIECE:]
            if not body:
                continue
            body = collapse_spaces(body)
            starts = False
            if not line_has_text:
                line_has_text = True
                if not open_paragraph:
                    open_paragraph = starts = True
                elif not (is_cjk(last) and is_cjk(body[0])):
                    body = " " + body
            last = body[-1]
            yield starts, body


class TextFile:
    """A plain-text file: hashed on opening, its encoding chosen and its text read on demand."""

    def __init__(self, path: Path, scan: _Scan) -> None:
        self.path = path
        self.digest = scan.digest
        self.size = scan.size
        self._scan = scan
        self._decoding: Decoding | None = None
        self.bytes_read = 0  # of the current `pieces()` pass, for progress

    @classmethod
    def open(cls, path: Path) -> TextFile:
        return cls(path, _scan(_blocks(path)))

    @property
    def decoding(self) -> Decoding:
        """Chosen when first asked (an unchanged file is never decoded); may raise
        CorruptDocument for bytes that are not text."""
        if self._decoding is None:
            self._decoding = _choose(self._scan, lambda: _blocks(self.path), self.path.name)
            log.debug("%s decoded as %s", self.path.name, self._decoding.label)
        return self._decoding

    @property
    def fraction_read(self) -> float:
        return self.bytes_read / self.size if self.size else 1.0

    def _counted(self) -> Iterator[bytes]:
        self.bytes_read = 0
        for block in _blocks(self.path):
            self.bytes_read += len(block)
            yield block

    def pieces(self) -> Iterator[tuple[bool, str]]:
        """The cleaned paragraphs, in pieces; reads the file again each time it is called."""
        name = self.path.name
        decoded = _checked(_decoded(self._counted(), self.decoding, name), name)
        return paragraph_pieces(normalised_pieces(decoded))

    def document(self) -> ParsedDocument:
        """The whole file as one paragraph block per paragraph."""
        paragraphs: list[list[str]] = []
        for starts, text in self.pieces():
            if starts:
                paragraphs.append([])
            paragraphs[-1].append(text)
        blocks = [Block("paragraph", "".join(parts)) for parts in paragraphs]
        metadata = {"encoding": self.decoding.label}
        return ParsedDocument(str(self.path), self.path.stem, "txt", blocks, metadata)


def _blocks(path: Path) -> Iterator[bytes]:
    try:
        with path.open("rb") as fh:
            while block := fh.read(READ_BLOCK):
                yield block
    except OSError as exc:
        raise DocumentError(f"{path.name}: cannot be read ({exc.strerror or exc})") from exc


def load_text(path: Path) -> ParsedDocument:
    """One paragraph block per blank-line-separated paragraph; wrapped lines are re-joined."""
    return TextFile.open(path).document()
