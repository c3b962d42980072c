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
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

import numpy as np

from graph.names import display_name, entity_id, name_key, relation_id
from graph.types import Entity, Extraction, Relation

STRING_THRESHOLD = 92.0  # rapidfuzz ratio: "transformer"/"transformers" merge, "LoRA"/"QLoRA" don't
EMBED_THRESHOLD = 0.96  # cosine of e5 name vectors, only among string-similar candidates
CANDIDATE_RATIO = 80.0
DESCRIPTION_CHARS = 600

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
    relations: list[Relation] = field(default_factory=list)


def _similar_pairs(
    keys: list[str], names: dict[str, str], embed: EmbedNames | None
) -> Iterable[tuple[str, str]]:
    from rapidfuzz import fuzz

    blocks: dict[str, list[str]] = defaultdict(list)
    for k in keys:
        if len(k) >= 4:
            blocks[k[:2]].append(k)
    candidates = []
    for block in blocks.values():
        block.sort()
        for i, a in enumerate(block):
            for b in block[i + 1 :]:
                score = fuzz.ratio(a, b)
                if score >= STRING_THRESHOLD:
                    yield a, b
                elif score >= CANDIDATE_RATIO and not (
                    a.isascii() and b.isascii() and _differ_in_digits(a, b)
                ):
                    candidates.append((a, b))
    if embed is not None and candidates:
        uniq = sorted({k for pair in candidates for k in pair})
        vecs = dict(zip(uniq, embed([names[k] for k in uniq]), strict=True))
        for a, b in candidates:
            if float(vecs[a] @ vecs[b]) >= EMBED_THRESHOLD:
                yield a, b


def _differ_in_digits(a: str, b: str) -> bool:
    """ "llama2"/"llama3", "gpt4"/"gpt3" are different things however alike they look."""
    return re.sub(r"\D", "", a) != re.sub(r"\D", "", b)


class _Descriptions:
    """The merged description of many mentions, built one at a time: distinct texts in the
    order they come, until the next would pass DESCRIPTION_CHARS (the first always fits)."""

    __slots__ = ("full", "size", "texts")

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.size = 0
        self.full = False

    def add(self, text: str, shared: dict[str, str]) -> None:
        """`shared` holds one copy of each kept text: a sentence naming five entities is the
        description of five mentions and ten relations, kept once."""
        t = text.strip()
        if self.full or not t or t in self.texts:
            return
        if self.size + len(t) > DESCRIPTION_CHARS and self.texts:
            self.full = True  # nothing after the first that does not fit is kept
            return
        self.texts.append(shared.setdefault(t, t))
        self.size += len(t)

    def text(self) -> str:
        return " ".join(self.texts)


class _Cluster:
    """What a resolved entity gathers from its mentions, in chunk order."""

    __slots__ = ("chunks", "descriptions", "names", "types")

    def __init__(self) -> None:
        self.names: Counter[str] = Counter()
        self.types: Counter[str] = Counter()
        self.descriptions = _Descriptions()
        self.chunks: list[str] = []  # sorted and distinct: chunks come in order


class _Link:
    """What a resolved relation gathers from its mentions, in chunk order. A large graph has
    millions of these, so they are kept small: keywords only when there are some, texts
    shared with every other mention of the same sentence."""

    __slots__ = ("chunks", "descriptions", "keywords", "source", "target", "weight")

    def __init__(self, source: str, target: str) -> None:
        self.source, self.target = sorted((source, target))
        self.descriptions = _Descriptions()
        self.keywords: set[str] | None = None
        self.weight = 0.0
        self.chunks: list[str] = []


def _add_chunk(chunks: list[str], chunk_id: str) -> None:
    if not chunks or chunks[-1] != chunk_id:
        chunks.append(chunk_id)


def _most(counts: Counter[str]) -> str:
    """The most frequent, then the shortest, then the first in order."""
    return min(counts.items(), key=lambda kv: (-kv[1], len(kv[0]), kv[0]))[0]


Extractions = Collection[Extraction] | Callable[[], Iterable[Extraction]]


def resolve(extractions: Extractions, embed: EmbedNames | None = None) -> Resolved:
    """Resolve extractions into entities and relations, reading them twice and holding only
    what the graph keeps: a collection is sorted by chunk id here; a callable must yield
    them in chunk-id order each time (a store's `iter_extractions`)."""
    if callable(extractions):
        walk = extractions
    else:
        ordered = sorted(extractions, key=lambda e: e.chunk_id)
        walk = lambda: ordered  # noqa: E731
    # pass 1: the names, how each is written, and the aliases: enough to cluster them
    uf = _UnionFind()
    surface: dict[str, Counter[str]] = defaultdict(Counter)
    for ex in walk():
        for m in ex.entities:
            key = name_key(m.name)
            if key:
                surface[key][display_name(m.name)] += 1
                uf.find(key)
        for r in ex.relations:
            a, b = name_key(r.source), name_key(r.target)
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

    # pass 2: each mention and relation folded into its entity and relation as it comes
    clusters: dict[str, _Cluster] = defaultdict(_Cluster)
    shared: dict[str, str] = {}
    links: dict[str, _Link] = {}
    for ex in walk():
        for m in ex.entities:
            key = name_key(m.name)
            if key:
                c = clusters[roots[key]]
                c.names[display_name(m.name)] += 1
                c.types[m.type] += 1
                c.descriptions.add(m.description, shared)
                _add_chunk(c.chunks, ex.chunk_id)
        for r in ex.relations:
            a, b = name_key(r.source), name_key(r.target)
            if not a or not b or a == b or "alias" in r.keywords:
                continue
            ea, eb = eid(a), eid(b)
            if ea == eb:
                continue
            rid = relation_id(ea, eb)
            link = links.get(rid)
            if link is None:
                link = links[rid] = _Link(ea, eb)
            link.descriptions.add(r.description, shared)
            if r.keywords:
                if link.keywords is None:
                    link.keywords = set()
                link.keywords.update(r.keywords)
            link.weight += r.strength
            _add_chunk(link.chunks, ex.chunk_id)
    out = Resolved()
    for root in sorted(clusters):
        c = clusters.pop(root)
        name = _most(c.names)
        out.entities.append(Entity(
            id=eid(root), name=name,
            type=min(c.types.items(), key=lambda kv: (-kv[1], kv[0]))[0],
            description=c.descriptions.text(),
            aliases=tuple(sorted(n for n in c.names if n != name)),
            chunk_ids=tuple(c.chunks),
        ))  # fmt: skip
    for rid in sorted(links):
        link = links.pop(rid)
        out.relations.append(Relation(
            id=rid, source=link.source, target=link.target,
            description=link.descriptions.text(),
            keywords=tuple(sorted(link.keywords or ())),
            weight=round(link.weight, 4),
            chunk_ids=tuple(link.chunks),
        ))  # fmt: skip
    return out
