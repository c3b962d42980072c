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
from collections.abc import Callable, Iterable
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


def _merge_descriptions(texts: Iterable[str]) -> str:
    out: list[str] = []
    size = 0
    for t in dict.fromkeys(x.strip() for x in texts if x.strip()):
        if size + len(t) > DESCRIPTION_CHARS and out:
            break
        out.append(t)
        size += len(t)
    return " ".join(out)


def resolve(extractions: Iterable[Extraction], embed: EmbedNames | None = None) -> Resolved:
    mentions: list[tuple[str, str, str, str, str]] = []  # key, surface, type, description, chunk
    rels: list[tuple[str, str, Extraction, int]] = []
    uf = _UnionFind()
    for ex in sorted(extractions, key=lambda e: e.chunk_id):
        for m in ex.entities:
            key = name_key(m.name)
            if key:
                mentions.append((key, display_name(m.name), m.type, m.description, ex.chunk_id))
                uf.find(key)
        for i, r in enumerate(ex.relations):
            a, b = name_key(r.source), name_key(r.target)
            if not a or not b or a == b:
                continue
            if "alias" in r.keywords:
                uf.union(a, b)
            else:
                rels.append((a, b, ex, i))
    surface: dict[str, Counter[str]] = defaultdict(Counter)
    for key, shown, *_ in mentions:
        surface[key][shown] += 1
    best_name = {
        k: min(c.items(), key=lambda kv: (-kv[1], len(kv[0]), kv[0]))[0] for k, c in surface.items()
    }
    for a, b in _similar_pairs(sorted(surface), best_name, embed):
        uf.union(a, b)

    clusters: dict[str, list[tuple[str, str, str, str, str]]] = defaultdict(list)
    for row in mentions:
        clusters[uf.find(row[0])].append(row)
    out = Resolved()
    for root, ms in sorted(clusters.items()):
        names = Counter(m[1] for m in ms)
        name = min(names.items(), key=lambda kv: (-kv[1], len(kv[0]), kv[0]))[0]
        types = Counter(m[2] for m in ms)
        out.entities.append(Entity(
            id=entity_id(root), name=name,
            type=min(types.items(), key=lambda kv: (-kv[1], kv[0]))[0],
            description=_merge_descriptions(m[3] for m in ms),
            aliases=tuple(sorted(n for n in names if n != name)),
            chunk_ids=tuple(sorted({m[4] for m in ms})),
        ))  # fmt: skip
    grouped: dict[str, list[tuple[str, str, Extraction, int]]] = defaultdict(list)
    for a, b, ex, i in rels:
        ea, eb = entity_id(uf.find(a)), entity_id(uf.find(b))
        if ea != eb:
            grouped[relation_id(ea, eb)].append((ea, eb, ex, i))
    for rid, items in sorted(grouped.items()):
        ea, eb = sorted((items[0][0], items[0][1]))
        found = [ex.relations[i] for _, _, ex, i in items]
        out.relations.append(Relation(
            id=rid, source=ea, target=eb,
            description=_merge_descriptions(r.description for r in found),
            keywords=tuple(sorted({k for r in found for k in r.keywords})),
            weight=round(sum(r.strength for r in found), 4),
            chunk_ids=tuple(sorted({ex.chunk_id for _, _, ex, _ in items})),
        ))  # fmt: skip
    return out
