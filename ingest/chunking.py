"""Structure-aware chunking: sections stay whole where they fit, tables split only between rows.

A document's blocks are grouped by heading path (and page), cut into units — sentences for
prose, rows for tables, items for lists — and packed greedily into chunks of at most
`max_tokens` embedder tokens. Prose chunks repeat the last sentences of the previous chunk
(`overlap_tokens`) so a fact spanning a cut is still retrievable; table chunks repeat the
header row instead, so every piece of a table can be read on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import groupby

from ingest.hashing import content_id
from ingest.hygiene import boilerplate_kind
from ingest.sentences import SENTENCE_CAP, split_sentence_stream
from ingest.types import Block, Chunk, ParsedDocument

TokenCounter = Callable[[str], int]
# A unit longer than this many characters per allowed token is cut even when the counter
# says it fits: no subword tokenizer gives one token for 64 characters of text.
MAX_CHARS_PER_TOKEN = 64


@dataclass(frozen=True)
class ChunkingConfig:
    max_tokens: int = 256
    overlap_tokens: int = 32


@dataclass(frozen=True)
class _Unit:
    text: str
    tokens: int
    kind: str
    new_block: bool  # starts a new block: joined with a newline, not a space
    first: bool = False  # the block's first unit: a table's header row


def _is_cjk(ch: str) -> bool:
    return "\u3000" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef"


def _join(units: list[_Unit]) -> str:
    out = ""
    for u in units:
        if not out:
            out = u.text
        elif u.new_block:
            out += "\n" + u.text
        elif _is_cjk(out[-1]) or _is_cjk(u.text[0]):
            out += u.text
        else:
            out += " " + u.text
    return out


def _segments(text: str) -> Iterator[str]:
    """`text` in pieces of at most SENTENCE_CAP characters, cut at a space where there is one,
    so that halving a megabyte-long line copies a bounded amount at a time."""
    start = 0
    while len(text) - start > SENTENCE_CAP:
        cut = text.rfind(" ", start + 1, start + SENTENCE_CAP)
        cut = cut if cut > start else start + SENTENCE_CAP
        yield text[start:cut]
        start = cut
    yield text[start:] if start else text


def _hard_split(text: str, count: TokenCounter, max_tokens: int, max_chars: int) -> list[str]:
    """Halve text that is longer than a chunk on its own (a sentence with no punctuation).

    Longer than `max_chars` counts as too long too: a token counter that sees one token in a
    run of letters without spaces would otherwise let a megabyte through as one piece.
    """
    if (len(text) <= max_chars and count(text) <= max_tokens) or len(text) < 2:
        return [text]
    words = text.split()  # runs of whitespace: "[4]  2021…" must not yield an empty half
    if len(words) > 1:
        mid = len(words) // 2
        left, right = " ".join(words[:mid]), " ".join(words[mid:])
    else:
        mid = len(text) // 2
        left, right = text[:mid], text[mid:]
    return _hard_split(left, count, max_tokens, max_chars) + _hard_split(
        right, count, max_tokens, max_chars
    )


def _units(block: Block, count: TokenCounter, cfg: ChunkingConfig) -> Iterator[_Unit]:
    by_line = block.kind in ("table", "list", "code")
    if by_line:
        pieces: Iterable[str] = (line for line in block.text.split("\n") if line.strip())
    else:
        pieces = split_sentence_stream([block.text])
    return _units_of(pieces, block.kind, by_line, count, cfg)


def _units_of(
    pieces: Iterable[str], kind: str, by_line: bool, count: TokenCounter, cfg: ChunkingConfig
) -> Iterator[_Unit]:
    max_chars = cfg.max_tokens * MAX_CHARS_PER_TOKEN
    first = True  # the first unit of the block
    for piece in pieces:
        for segment in _segments(piece):
            for part in _hard_split(segment, count, cfg.max_tokens, max_chars):
                if part.strip():
                    yield _Unit(part, count(part), kind, first or by_line, first)
                    first = False


Section = tuple[tuple[str, ...], int | None, Iterable[_Unit]]


def _sections(
    blocks: Iterable[Block], count: TokenCounter, cfg: ChunkingConfig
) -> Iterator[Section]:
    """The units of consecutive non-heading blocks sharing a heading path and page."""
    content = (b for b in blocks if b.kind != "heading" and b.text.strip())
    for (path, page), group in groupby(content, key=lambda b: (b.heading_path, b.page)):
        yield path, page, (u for b in group for u in _units(b, count, cfg))


def _pack(units: Iterable[_Unit], cfg: ChunkingConfig) -> Iterator[list[_Unit]]:
    chunk: list[_Unit] = []
    size = 0
    table_header: _Unit | None = None
    for unit in units:
        if unit.kind == "table" and unit.first:
            table_header = unit
        if chunk and size + unit.tokens > cfg.max_tokens:
            yield chunk
            chunk, size = _carry_over(chunk, unit, table_header, cfg)
        chunk.append(unit)
        size += unit.tokens
        if unit.kind != "table":
            table_header = None
    if chunk:
        yield chunk


def _carry_over(
    previous: list[_Unit], nxt: _Unit, header: _Unit | None, cfg: ChunkingConfig
) -> tuple[list[_Unit], int]:
    """Start of the next chunk: the table header, or the tail sentences of the previous prose."""
    if nxt.kind == "table" and header is not None and header is not nxt:
        if header.tokens + nxt.tokens <= cfg.max_tokens:
            return [header], header.tokens
        return [], 0
    if nxt.kind != "paragraph" or previous[-1].kind != "paragraph":
        return [], 0
    tail: list[_Unit] = []
    size = 0
    for unit in reversed(previous):
        if (
            size + unit.tokens > cfg.overlap_tokens
            or size + unit.tokens + nxt.tokens > cfg.max_tokens
        ):
            break
        tail.insert(0, unit)
        size += unit.tokens
    return tail, size


def chunk_document(
    doc: ParsedDocument, doc_id: str, count: TokenCounter, cfg: ChunkingConfig | None = None
) -> list[Chunk]:
    """Cut a parsed document into chunks keyed by content hash, in reading order."""
    return list(chunk_blocks(doc.title, doc.blocks, doc_id, count, cfg))


def chunk_blocks(
    title: str,
    blocks: Iterable[Block],
    doc_id: str,
    count: TokenCounter,
    cfg: ChunkingConfig | None = None,
) -> Iterator[Chunk]:
    """`chunk_document` as it goes: each chunk is given out once it is complete."""
    cfg = cfg or ChunkingConfig()
    return _chunks(title, _sections(blocks, count, cfg), doc_id, cfg)


def chunk_paragraphs(
    title: str,
    pieces: Iterable[tuple[bool, str]],
    doc_id: str,
    count: TokenCounter,
    cfg: ChunkingConfig | None = None,
) -> Iterator[Chunk]:
    """Chunks of a text given as (starts a paragraph, text) pieces (`TextFile.pieces`).

    The same chunks `chunk_document` makes of the text's paragraph blocks, without ever
    holding a whole paragraph: a one-line file of 200 MB is one paragraph.
    """
    cfg = cfg or ChunkingConfig()
    paragraph = 0

    def number(piece: tuple[bool, str]) -> int:
        nonlocal paragraph
        paragraph += piece[0]
        return paragraph

    units = (
        unit
        for _, run in groupby(pieces, key=number)
        for unit in _units_of(
            split_sentence_stream(text for _, text in run), "paragraph", False, count, cfg
        )
    )
    return _chunks(title, [((), None, units)], doc_id, cfg)


def _chunks(
    title: str, sections: Iterable[Section], doc_id: str, cfg: ChunkingConfig
) -> Iterator[Chunk]:
    ordinal = 0
    for path, page, units in sections:
        for packed in _pack(units, cfg):
            text = _join(packed).strip()
            if not text:
                continue
            kinds = {u.kind for u in packed}
            kind = next(iter(kinds)) if len(kinds) == 1 else "mixed"
            kind = boilerplate_kind(text, kind) or kind
            yield Chunk(
                id=content_id(doc_id, str(ordinal), text),
                doc_id=doc_id,
                ordinal=ordinal,
                text=text,
                text_hash=content_id(indexed_text(title, path, text)),
                heading_path=path,
                page=page,
                kind=kind,
                n_tokens=sum(u.tokens for u in packed),
            )
            ordinal += 1


def indexed_text(title: str, heading_path: tuple[str, ...], text: str) -> str:
    """The text that is embedded and keyword-indexed: title and section give the chunk context."""
    context = " > ".join(p for p in (title, *heading_path) if p)
    return f"{context}\n{text}" if context else text
