"""What the MCP tools return: pydantic models, from which the SDK publishes each tool's output
schema (and against which a client checks every result), built from the engine's typed results;
and the plain text a model reads beside them.

The text repeats what matters in full (a passage's whole text, not a snippet), because many
clients hand the model only the text content and keep the structured one for themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from ingest.types import Chunk, ChunkHit, DocumentInfo

if TYPE_CHECKING:
    from graph.knowledge_graph import KnowledgeGraph
    from graph.types import Entity, Relation
    from rag.types import Answer

SNIPPET_CHARS = 300


def document_uri(doc_id: str) -> str:
    return f"rag://document/{doc_id}"


def chunk_uri(chunk_id: str) -> str:
    return f"rag://chunk/{chunk_id}"


def snippet(text: str, width: int = SNIPPET_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


# --- search and ask ---------------------------------------------------------------------------


class Passage(BaseModel):
    """A retrieved chunk; `n` is its rank, the number an answer cites it by."""

    n: int
    chunk_id: str
    doc_id: str
    document: str = Field(description="the document's file name")
    source: str = Field(description="the path (or key) it was ingested from")
    title: str
    page: int | None = Field(description="PDF page or PPTX slide, when the format has one")
    section: str = Field(description="heading path, levels joined by ' > '")
    location: str = Field(description="page and section in one line, as citations show it")
    score: float
    text: str


class SearchResult(BaseModel):
    question: str
    mode: str
    strategy: str | None
    results: list[Passage]
    timings: dict[str, float] = Field(description="retrieval_s: the engine's time, in seconds")


class Citation(BaseModel):
    n: int
    chunk_id: str
    document: str
    location: str


class SentenceSupport(BaseModel):
    text: str
    citations: list[int] = Field(description="the sources the sentence cites, as written")
    supported: bool = Field(description="some source in the prompt supports it")
    score: float = Field(description="the cited sources' best support, or the corrected one's")
    best: int | None = Field(description="the source that supports it best, if any does")
    corrected: list[int] | None = Field(description="the citation it should have, if different")


class AskResult(BaseModel):
    question: str
    answer: str
    mode: str
    language: str
    citations: list[Citation] = Field(description="the sources the answer cites, by [n]")
    sources: list[Passage] = Field(description="every passage the model was given")
    timings: dict[str, float]
    sentences: list[SentenceSupport] = Field(
        description="each answer sentence checked against the sources (empty for a refusal)"
    )
    support: float | None = Field(description="the share of sentences supported")


def passage(n: int, hit: ChunkHit) -> Passage:
    c, d = hit.chunk, hit.document
    return Passage(
        n=n, chunk_id=c.id, doc_id=d.id, document=d.name, source=d.source, title=d.title,
        page=c.page, section=c.section, location=hit.location,
        score=round(hit.score, 6), text=c.text,
    )  # fmt: skip


def passages(hits: list[ChunkHit]) -> list[Passage]:
    return [passage(n, h) for n, h in enumerate(hits, start=1)]


def ask_result(answer: Answer, hits: list[ChunkHit]) -> AskResult:
    """`hits` are the retrieved context: source [n] is hits[n - 1], and the answer's sources
    are the first of them (those that fitted the prompt's budget)."""
    sources = passages(hits[: len(answer.sources)])
    cited = [
        Citation(n=p.n, chunk_id=p.chunk_id, document=p.document, location=p.location)
        for p in sources
        if p.n in answer.cited
    ]
    return AskResult(
        question=answer.question, answer=answer.answer, mode=answer.mode,
        language=answer.language, citations=cited, sources=sources, timings=answer.timings,
        sentences=[SentenceSupport(**c) for c in answer.sentences], support=answer.support,
    )  # fmt: skip


def _where(document: str, location: str) -> str:
    return f"{document} ({location})" if location else document


def search_text(result: SearchResult) -> str:
    if not result.results:
        return f"No passages found for {result.question!r}."
    blocks = [
        f"[{p.n}] {_where(p.document, p.location)}  score {p.score:.4f}  chunk {p.chunk_id}\n"
        f"{p.text}"
        for p in result.results
    ]
    return "\n\n".join(blocks)


def ask_text(result: AskResult) -> str:
    lines = [result.answer.strip(), "", "Sources:"]
    cited = {c.n for c in result.citations}
    for p in result.sources:
        mark = "*" if p.n in cited else " "
        lines.append(f"{mark}[{p.n}] {_where(p.document, p.location)}  chunk {p.chunk_id}")
    return "\n".join(lines)


# --- documents and chunks -----------------------------------------------------------------------


class DocumentEntry(BaseModel):
    id: str
    uri: str = Field(description="the document as a resource: its metadata and whole text")
    name: str
    source: str
    title: str
    format: str
    size: int
    chunks: int
    ingested_at: float
    metadata: dict[str, str]


class DocumentList(BaseModel):
    documents: list[DocumentEntry]
    total: int = Field(description="documents in the store, before the filter")


def document_entry(d: DocumentInfo) -> DocumentEntry:
    return DocumentEntry(
        id=d.id, uri=document_uri(d.id), name=d.name, source=d.source, title=d.title,
        format=d.format, size=d.size, chunks=d.n_chunks, ingested_at=d.ingested_at,
        metadata=dict(d.metadata),
    )  # fmt: skip


def documents_text(result: DocumentList) -> str:
    if not result.documents:
        return f"No documents match (of {result.total} in the store)."
    lines = [f"{len(result.documents)} of {result.total} documents:"]
    for d in result.documents:
        meta = " ".join(f"{k}={v}" for k, v in sorted(d.metadata.items()))
        lines.append(
            f"{d.id}  {d.name}  ({d.format}, {d.chunks} chunks)  {d.title}"
            + (f"  [{meta}]" if meta else "")
        )
    return "\n".join(lines)


class ChunkEntry(BaseModel):
    chunk_id: str
    uri: str
    ordinal: int = Field(description="position in the document, from 0")
    page: int | None
    section: str
    location: str
    kind: str
    text: str


class ChunkResult(BaseModel):
    chunk: ChunkEntry
    doc_id: str
    document: str
    title: str
    source: str
    chunks_in_document: int
    previous: list[ChunkEntry] = Field(description="the chunks before it, in reading order")
    next: list[ChunkEntry] = Field(description="the chunks after it, in reading order")


def chunk_entry(c: Chunk, doc: DocumentInfo) -> ChunkEntry:
    return ChunkEntry(
        chunk_id=c.id, uri=chunk_uri(c.id), ordinal=c.ordinal, page=c.page,
        section=c.section, location=ChunkHit(c, doc, 0.0).location,
        kind=c.kind, text=c.text,
    )  # fmt: skip


def chunk_result(hit: ChunkHit, chunks: list[Chunk], neighbours: int) -> ChunkResult:
    """The chunk with up to `neighbours` chunks either side (`chunks`: its document's, in order)."""
    doc = hit.document
    at = next(i for i, c in enumerate(chunks) if c.id == hit.chunk.id)
    before = chunks[max(0, at - neighbours) : at]
    after = chunks[at + 1 : at + 1 + neighbours]
    return ChunkResult(
        chunk=chunk_entry(hit.chunk, doc), doc_id=doc.id, document=doc.name, title=doc.title,
        source=doc.source, chunks_in_document=len(chunks),
        previous=[chunk_entry(c, doc) for c in before], next=[chunk_entry(c, doc) for c in after],
    )  # fmt: skip


def chunk_text(result: ChunkResult) -> str:
    c = result.chunk
    head = (
        f"{_where(result.document, c.location)}, chunk {c.ordinal + 1} of "
        f"{result.chunks_in_document} (id {c.chunk_id})"
    )
    parts = [f"[before, chunk {p.ordinal + 1}] {p.text}" for p in result.previous]
    parts.append(f">>> {head}\n{c.text}")
    parts += [f"[after, chunk {p.ordinal + 1}] {p.text}" for p in result.next]
    return "\n\n".join(parts)


# --- the knowledge graph ---------------------------------------------------------------------------


class EntityRef(BaseModel):
    id: str
    name: str
    type: str


class EntityEntry(EntityRef):
    description: str
    aliases: list[str]
    degree: int = Field(description="how many entities it is related to")


class ChunkSource(BaseModel):
    """A chunk a relation was extracted from."""

    chunk_id: str
    doc_id: str
    document: str
    location: str
    snippet: str


class RelationEntry(BaseModel):
    id: str
    source: EntityRef
    target: EntityRef
    description: str
    keywords: list[str]
    weight: float
    chunks: list[ChunkSource] = Field(description="where it was found (read one with get_chunk)")


class Neighbourhood(BaseModel):
    entity: EntityEntry
    neighbours: list[EntityEntry] = Field(description="entities within `depth` hops")
    relations: list[RelationEntry] = Field(
        description="relations among them: the entity's own first, then by weight"
    )


def entity_ref(e: Entity) -> EntityRef:
    return EntityRef(id=e.id, name=e.name, type=e.type)


def entity_entry(kg: KnowledgeGraph, e: Entity) -> EntityEntry:
    return EntityEntry(
        id=e.id, name=e.name, type=e.type, description=e.description, aliases=list(e.aliases),
        degree=kg.degree(e.id),
    )  # fmt: skip


def chunk_source(hit: ChunkHit) -> ChunkSource:
    return ChunkSource(
        chunk_id=hit.chunk.id, doc_id=hit.document.id, document=hit.document.name,
        location=hit.location, snippet=snippet(hit.chunk.text),
    )  # fmt: skip


def relation_entry(kg: KnowledgeGraph, r: Relation, found: dict[str, ChunkHit]) -> RelationEntry:
    """`found`: the hits of the relation's source chunks that exist (by chunk id)."""
    return RelationEntry(
        id=r.id, source=entity_ref(kg.entities[r.source]),
        target=entity_ref(kg.entities[r.target]), description=r.description,
        keywords=list(r.keywords), weight=r.weight,
        chunks=[chunk_source(found[c]) for c in r.chunk_ids if c in found],
    )  # fmt: skip


def neighbourhood_text(result: Neighbourhood) -> str:
    e = result.entity
    lines = [f"{e.name} [{e.type}] (id {e.id}, {e.degree} relations)"]
    if e.aliases:
        lines.append("aliases: " + ", ".join(e.aliases))
    if e.description:
        lines.append(f"description: {e.description}")
    lines.append(f"relations ({len(result.relations)}):")
    for r in result.relations:
        where = "; ".join(f"{s.document} {s.location} (chunk {s.chunk_id})" for s in r.chunks)
        lines.append(f"- {r.source.name} — {r.target.name} (weight {r.weight:g}): {r.description}")
        if where:
            lines.append(f"  from: {where}")
    return "\n".join(lines)
