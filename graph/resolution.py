"""Entity resolution: many surface names → one entity, decided from all extractions at once.

The resolved graph is a pure function of the stored per-chunk extractions, so it does not
depend on the order documents arrived in: ingesting A then B then deleting B gives exactly
the graph of A alone. Names merge when their normalised keys are equal, when one is written
in brackets after the other ("低秩适配（LoRA）"), or when they are near-identical strings
(rapidfuzz) or, with an embedder, near-identical in meaning. A cluster's id hashes its
smallest key, its display name is its most-mentioned surface form.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from graph.names import display_name, entity_id, name_key, relation_id
from graph.relation_spill import Descriptions, RelationSpill, add_chunk
from graph.types import Entity, Extraction, RelationTable

STRING_THRESHOLD = 92.0  # rapidfuzz ratio: "transformer"/"transformers" merge, "LoRA"/"QLoRA" don't
EMBED_THRESHOLD = 0.96  # cosine of e5 name vectors, only among string-similar candidates
CANDIDATE_RATIO = 80.0
EMBED_BATCH = 4096  # names embedded at once when testing candidate pairs

EmbedNames = Callable[[list[str]], np.ndarray]


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            lo, hi = sorted((ra, rb))
            self.parent[hi] = lo


@dataclass
class Resolved:
    entities: list[Entity] = field(default_factory=list)
    relations: RelationTable = field(default_factory=list)


def _similar_pairs(
    keys: list[str], names: dict[str, str], embed: EmbedNames | None
) -> Iterable[tuple[str, str]]:
    """Pairs of keys to merge. Candidates for the embedding test go to the embedder
    EMBED_BATCH names at a time: a large graph has a hundred thousand of them, whose vectors
    at once took more memory than the rest of the rebuild."""
    from rapidfuzz import fuzz

    blocks: dict[str, list[str]] = defaultdict(list)
    for k in keys:
        if len(k) >= 4:
            blocks[k[:2]].append(k)
    candidates: list[tuple[str, str]] = []
    pending: set[str] = set()
    for block in blocks.values():
        block.sort()
        for i, a in enumerate(block):
            for b in block[i + 1 :]:
                score = fuzz.ratio(a, b)
                if score >= STRING_THRESHOLD:
                    yield a, b
                elif (
                    embed is not None
                    and score >= CANDIDATE_RATIO
                    and not (a.isascii() and b.isascii() and _differ_in_digits(a, b))
                ):
                    candidates.append((a, b))
                    pending.update((a, b))
                    if len(pending) >= EMBED_BATCH:
                        yield from _alike_in_meaning(candidates, names, embed)
                        candidates, pending = [], set()
    if embed is not None and candidates:
        yield from _alike_in_meaning(candidates, names, embed)


def _alike_in_meaning(
    candidates: list[tuple[str, str]], names: dict[str, str], embed: EmbedNames
) -> Iterable[tuple[str, str]]:
    uniq = sorted({k for pair in candidates for k in pair})
    vecs = dict(zip(uniq, embed([names[k] for k in uniq]), strict=True))
    for a, b in candidates:
        if float(vecs[a] @ vecs[b]) >= EMBED_THRESHOLD:
            yield a, b


def _differ_in_digits(a: str, b: str) -> bool:
    """ "llama2"/"llama3", "gpt4"/"gpt3" are different things however alike they look."""
    return re.sub(r"\D", "", a) != re.sub(r"\D", "", b)


class _Cluster:
    """What a resolved entity gathers from its mentions, in chunk order."""

    __slots__ = ("chunks", "descriptions", "names", "types")

    def __init__(self) -> None:
        self.names: Counter[str] = Counter()
        self.types: Counter[str] = Counter()
        self.descriptions = Descriptions()
        self.chunks: list[str] = []  # sorted and distinct: chunks come in order


def _most(counts: Counter[str]) -> str:
    """The most frequent, then the shortest, then the first in order."""
    return min(counts.items(), key=lambda kv: (-kv[1], len(kv[0]), kv[0]))[0]


Extractions = Collection[Extraction] | Callable[[], Iterable[Extraction]]


def resolve(extractions: Extractions, embed: EmbedNames | None = None) -> Resolved:
    """`resolve_streaming` with the relations read into a list: for graphs that fit."""
    with resolve_streaming(extractions, embed) as resolved:
        return Resolved(resolved.entities, list(resolved.relations))


@contextmanager
def resolve_streaming(
    extractions: Extractions, embed: EmbedNames | None = None, scratch: Path | None = None
) -> Iterator[Resolved]:
    """Resolve extractions into entities and relations, reading them twice and holding only
    what the graph keeps: a collection is sorted by chunk id here; a callable must yield
    them in chunk-id order each time (a store's `iter_extractions`).

    The entities are a list; the relations a table on disk in `scratch` (the system's temp
    folder if None), walked as often as needed while the block runs and deleted after it."""
    if callable(extractions):
        walk = extractions
    else:
        ordered = sorted(extractions, key=lambda e: e.chunk_id)
        walk = lambda: ordered  # noqa: E731
    # names repeat across mentions and each is normalised in both passes: memoised here, for
    # this rebuild only (search normalises queries and descriptions, which must not pile up)
    keys: dict[str, str] = {}

    def key_of(name: str) -> str:
        k = keys.get(name)
        if k is None:
            k = keys[name] = name_key(name)
        return k

    # pass 1: the names, how each is written, and the aliases: enough to cluster them
    uf = _UnionFind()
    surface: dict[str, Counter[str]] = defaultdict(Counter)
    for ex in walk():
        for m in ex.entities:
            key = key_of(m.name)
            if key:
                surface[key][display_name(m.name)] += 1
                uf.find(key)
        for r in ex.relations:
            a, b = key_of(r.source), key_of(r.target)
            if a and b and a != b and "alias" in r.keywords:
                uf.union(a, b)
    best_name = {k: _most(c) for k, c in surface.items()}
    del surface
    for a, b in _similar_pairs(sorted(best_name), best_name, embed):
        uf.union(a, b)
    del best_name
    roots = {k: uf.find(k) for k in uf.parent}
    ids: dict[str, str] = {}

    def eid(key: str) -> str:  # a name only relations use is its own entity id
        root = roots.get(key, key)
        if root not in ids:
            ids[root] = entity_id(root)
        return ids[root]

    # pass 2: each mention folded into its entity as it comes; each relation mention goes
    # to the spill, which folds relations by id when they are read
    clusters: dict[str, _Cluster] = defaultdict(_Cluster)
    shared: dict[str, str] = {}
    with RelationSpill(scratch) as spill:
        for ex in walk():
            for m in ex.entities:
                key = key_of(m.name)
                if key:
                    c = clusters[roots[key]]
                    c.names[display_name(m.name)] += 1
                    c.types[m.type] += 1
                    c.descriptions.add(m.description, shared)
                    add_chunk(c.chunks, ex.chunk_id)
            for r in ex.relations:
                a, b = key_of(r.source), key_of(r.target)
                if not a or not b or a == b or "alias" in r.keywords:
                    continue
                ea, eb = eid(a), eid(b)
                if ea == eb:
                    continue
                lo, hi = sorted((ea, eb))
                spill.add(
                    relation_id(ea, eb), lo, hi, ex.chunk_id, r.description, r.keywords,
                    r.strength,
                )  # fmt: skip
        del shared
        keys.clear()
        entities = []
        for root in sorted(clusters):
            c = clusters.pop(root)
            name = _most(c.names)
            entities.append(Entity(
                id=eid(root), name=name,
                type=min(c.types.items(), key=lambda kv: (-kv[1], kv[0]))[0],
                description=c.descriptions.text(),
                aliases=tuple(sorted(n for n in c.names if n != name)),
                chunk_ids=tuple(c.chunks),
            ))  # fmt: skip
        spill.finish()
        yield Resolved(entities, spill)
