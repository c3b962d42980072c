"""Plain-text files, and the byte decoding that Markdown shares with them.

Chinese text files in the wild are UTF-8, GBK/GB18030 or UTF-16 from Windows tools. Statistical
detectors guess short GBK files wrong (Big5, cp949, Shift-JIS all decode the same bytes), so the
cheap, certain checks run first and `charset_normalizer` only sees what is left.
"""

from __future__ import annotations

import codecs
import logging
import unicodedata
from pathlib import Path

from ingest.errors import CorruptDocument
from ingest.loaders.cleaning import clean_text, join_lines, split_paragraphs
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


def decode_text(data: bytes, name: str) -> str:
    """Decode a text file's bytes, or raise CorruptDocument if they are not text at all."""
    return decode_with_encoding(data, name)[0]


def decode_with_encoding(data: bytes, name: str) -> tuple[str, str]:
    """Like `decode_text`, also returning the encoding used, for the document's metadata."""
    text, encoding = _decode(data, name)
    if looks_binary(text):
        raise binary_error(name)
    return text, encoding


def _decode(data: bytes, name: str) -> tuple[str, str]:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding.removesuffix("-sig")
            except UnicodeDecodeError:
                raise CorruptDocument(
                    f"{name}: starts with a {encoding} byte-order mark but is not valid {encoding}"
                ) from None
    if b"\x00" in data:  # never in UTF-8 or GB text; UTF-16 without a BOM is not supported
        raise binary_error(name)
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data":  # a file cut inside its last character
            return data[: exc.start].decode("utf-8"), "utf-8"
    gb = _decode_gb18030(data)
    if gb is not None:
        return gb, "gb18030"
    import charset_normalizer  # only reached for files that are neither UTF nor GB

    best = charset_normalizer.from_bytes(data).best()
    if best is None:
        raise binary_error(name)
    return str(best), best.encoding


def _decode_gb18030(data: bytes) -> str | None:
    """GB18030 (a superset of GBK and GB2312) if it decodes and reads like Chinese.

    Latin-1 bytes often decode as GBK too, but into rare characters outside GB2312, the set
    that everyday Chinese text stays inside; that share tells the two apart.
    """
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        return None
    wide = [c for c in text[:_SAMPLE] if ord(c) > 0x7F]
    common = sum(1 for c in wide if _in_gb2312(c))
    return text if wide and common / len(wide) >= _MIN_GB2312_SHARE else None


def _in_gb2312(char: str) -> bool:
    try:
        char.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


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


def load_text(path: Path) -> ParsedDocument:
    """One paragraph block per blank-line-separated paragraph; wrapped lines are re-joined."""
    text, encoding = decode_with_encoding(path.read_bytes(), path.name)
    log.debug("%s decoded as %s", path.name, encoding)
    blocks = [
        Block("paragraph", join_lines(paragraph.split("\n")))
        for paragraph in split_paragraphs(clean_text(text))
    ]
    return ParsedDocument(str(path), path.stem, "txt", blocks, {"encoding": encoding})
