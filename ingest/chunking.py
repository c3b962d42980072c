"""Structure-aware chunking: sections stay whole where they fit, tables split only between rows.

A document's blocks are grouped by heading path (and page), cut into units — sentences for
prose, rows for tables, items for lists — and packed greedily into chunks of at most
`max_tokens` embedder tokens. Prose chunks repeat the last sentences of the previous chunk
(`overlap_tokens`) so a fact spanning a cut is still retrievable; table chunks repeat the
header row instead, so every piece of a table can be read on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ingest.hashing import content_id
from ingest.sentences import split_sentences
from ingest.types import Block, Chunk, ParsedDocument

TokenCounter = Callable[[str], int]


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


def _hard_split(text: str, count: TokenCounter, max_tokens: int) -> list[str]:
    """Halve text that is longer than a chunk on its own (a sentence with no punctuation)."""
    if count(text) <= max_tokens or len(text) < 2:
        return [text]
    words = text.split()  # runs of whitespace: "[4]  2021…" must not yield an empty half
    if len(words) > 1:
        mid = len(words) // 2
        left, right = " ".join(words[:mid]), " ".join(words[mid:])
    else:
        mid = len(text) // 2
        left, right = text[:mid], text[mid:]
    return _hard_split(left, count, max_tokens) + _hard_split(right, count, max_tokens)


def _units(block: Block, count: TokenCounter, max_tokens: int) -> list[_Unit]:
    if block.kind in ("table", "list", "code"):
        pieces = [line for line in block.text.split("\n") if line.strip()]
    else:
        pieces = split_sentences(block.text)
    units: list[_Unit] = []
    for i, piece in enumerate(pieces):
        for j, part in enumerate(p for p in _hard_split(piece, count, max_tokens) if p.strip()):
            first = i == 0 and j == 0
            new_line = first or block.kind in ("table", "list", "code")
            units.append(_Unit(part, count(part), block.kind, new_line, first))
    return units


def _sections(blocks: list[Block]) -> Iterator[tuple[tuple[str, ...], int | None, list[Block]]]:
    """Consecutive non-heading blocks sharing a heading path and page."""
    current: list[Block] = []
    key: tuple[tuple[str, ...], int | None] | None = None
    for block in blocks:
        if block.kind == "heading" or not block.text.strip():
            continue
        k = (block.heading_path, block.page)
        if key is not None and k != key and current:
            yield key[0], key[1], current
            current = []
        key = k
        current.append(block)
    if current and key is not None:
        yield key[0], key[1], current


def _pack(units: list[_Unit], cfg: ChunkingConfig) -> Iterator[list[_Unit]]:
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
    cfg = cfg or ChunkingConfig()
    chunks: list[Chunk] = []
    for path, page, blocks in _sections(doc.blocks):
        units = [u for b in blocks for u in _units(b, count, cfg.max_tokens)]
        for packed in _pack(units, cfg):
            text = _join(packed).strip()
            if not text:
                continue
            kinds = {u.kind for u in packed}
            kind = next(iter(kinds)) if len(kinds) == 1 else "mixed"
            chunks.append(
                Chunk(
                    id=content_id(doc_id, str(len(chunks)), text),
                    doc_id=doc_id,
                    ordinal=len(chunks),
                    text=text,
                    text_hash=content_id(indexed_text(doc.title, path, text)),
                    heading_path=path,
                    page=page,
                    kind=kind,
                    n_tokens=sum(u.tokens for u in packed),
                )
            )
    return chunks


def indexed_text(title: str, heading_path: tuple[str, ...], text: str) -> str:
    """The text that is embedded and keyword-indexed: title and section give the chunk context."""
    context = " > ".join(p for p in (title, *heading_path) if p)
    return f"{context}\n{text}" if context else text
