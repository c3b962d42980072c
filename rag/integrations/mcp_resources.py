"""The MCP resources' text: a document read back from its chunks (`rag://document/{id}`) and one
chunk with its provenance (`rag://chunk/{id}`)."""

from __future__ import annotations

from ingest.types import Chunk, ChunkHit, DocumentInfo
from rag.integrations.mcp_shapes import document_uri


def reading_text(chunks: list[Chunk]) -> str:
    """A document's text from its chunks in reading order: a heading line where the section
    changes, a page line where the page does, and the overlap a chunk repeats from the one
    before it (whole sentences, see ingest.chunking) left out."""
    out: list[str] = []
    path: tuple[str, ...] = ()
    page: int | None = None
    previous = ""
    for c in chunks:
        if c.page is not None and c.page != page:
            out.append(f"[page {c.page}]")
            page = c.page
        if c.heading_path != path:
            same = _shared_levels(path, c.heading_path)
            out += [f"{'#' * min(i + 1, 6)} {h}" for i, h in enumerate(c.heading_path) if i >= same]
            path = c.heading_path
        out.append(c.text[_overlap(previous, c.text) :].lstrip())
        previous = c.text
    return "\n\n".join(part for part in out if part)


def _shared_levels(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def _overlap(previous: str, text: str, longest: int = 2000, shortest: int = 16) -> int:
    """Length of the start of `text` that repeats the end of `previous`, cut where a sentence
    ends (whitespace follows), or 0: a short chance match ("4") is not an overlap."""
    for k in range(min(len(previous), len(text), longest), shortest - 1, -1):
        if (k == len(text) or text[k].isspace()) and previous.endswith(text[:k]):
            return k
    return 0


def document_resource(doc: DocumentInfo, chunks: list[Chunk]) -> str:
    meta = ", ".join(f"{k}={v}" for k, v in sorted(doc.metadata.items()))
    header = [
        f"# {doc.title or doc.name}",
        f"document: {doc.name} (id {doc.id})",
        f"source: {doc.source}",
        f"format: {doc.format}, {doc.n_chunks} chunks, {doc.size} bytes",
    ]
    if meta:
        header.append(f"metadata: {meta}")
    return "\n".join(header) + "\n\n---\n\n" + reading_text(chunks) + "\n"


def chunk_resource(hit: ChunkHit, total: int) -> str:
    c, d = hit.chunk, hit.document
    lines = [
        f"document: {d.name} (id {d.id}, {document_uri(d.id)})",
        f"title: {d.title}",
        f"location: {hit.location or '-'}",
        f"chunk: {c.ordinal + 1} of {total} (id {c.id})",
    ]
    return "\n".join(lines) + "\n\n" + c.text + "\n"
