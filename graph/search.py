"""Graph search: from a question to entities, relations, community reports and ranked chunks.

- `match_entities`: names written in the question (exact, via the fast extractor and the
  alias keys) plus nearest entity names by vector.
- `local_search`: the matched entities' neighbourhood: relations ranked by weight, source
  chunks ranked by how many matched entities they mention, the entities' community reports.
- `ppr_rank`: personalised PageRank over the entity–chunk graph (mentions link chunks to
  entities, relations link entities), seeded by the matched entities and by dense passage
  scores, as HippoRAG 2 does; multi-hop evidence surfaces through shared entities.
- `rank_reports`: community reports by vector similarity to the question (global search).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from graph.builder import embed_missing, vector_texts
from graph.communities import report_vector_text
from graph.extract.fast import sentence_entities
from graph.knowledge_graph import KnowledgeGraph
from graph.names import name_key
from graph.ports import GraphStore
from graph.resolution import EmbedNames
from graph.types import Community, Entity, Relation
from ingest.hashing import content_id

ENTITY_MATCH_MIN = 0.85  # e5 cosine between the question and an entity name
PPR_DAMPING = 0.5
PPR_MAX_ITER, PPR_TOL = 100, 1e-6  # as networkx's pagerank
PASSAGE_TEMPERATURE = 0.02  # softmax temperature over dense cosines when seeding PageRank


@dataclass
class EntityMatch:
    entity: Entity
    score: float
    how: str  # "name" or "vector"


@dataclass
class LocalEvidence:
    entities: list[EntityMatch] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    chunk_scores: list[tuple[str, float]] = field(default_factory=list)
    reports: list[Community] = field(default_factory=list)


class GraphIndex:
    """The knowledge graph plus vectors of its entity names and community reports."""

    def __init__(self, store: GraphStore, embed: EmbedNames | None = None) -> None:
        """`embed` fills in the vectors a rebuild without the embedder left out (after a
        `rag delete`, which loads no model); they are cached in the store for the next load."""
        with store.reading():  # the graph and its vectors of one generation
            self.kg = KnowledgeGraph.load(store)
            names = [e.name for e in self.kg.entities.values()]
            report_texts = {c.id: t for c in self.kg.communities if (t := report_vector_text(c))}
            vecs = store.vectors([content_id(t) for t in names + list(report_texts.values())])
        if embed is not None:  # what a rebuild without the embedder (a delete) left out
            kg = self.kg
            wanted = vector_texts(list(kg.entities.values()), list(kg.relations.values()),
                                  kg.communities)  # fmt: skip
            vecs.update(embed_missing(store, embed, wanted, vecs))
        self._entity_ids = [e.id for e in self.kg.entities.values() if content_id(e.name) in vecs]
        self._entity_vecs = _stack(
            [vecs[content_id(self.kg.entities[i].name)] for i in self._entity_ids]
        )
        self._reports = [
            c
            for c in self.kg.communities
            if c.id in report_texts and content_id(report_texts[c.id]) in vecs
        ]
        self._report_vecs = _stack([vecs[content_id(report_texts[c.id])] for c in self._reports])
        self._bipartite: nx.Graph | None = None
        self._walk: _Walk | None = None

    def match_entities(
        self, question: str, query_vec: np.ndarray | None, k: int = 8
    ) -> list[EntityMatch]:
        found: dict[str, EntityMatch] = {}
        for name, _ in sentence_entities(question):
            entity = self.kg.find(name)
            if entity is not None:
                found.setdefault(entity.id, EntityMatch(entity, 1.0, "name"))
        for token in question.replace("？", " ").replace("?", " ").split():
            entity = self.kg.find(token) if len(name_key(token)) >= 2 else None
            if entity is not None:
                found.setdefault(entity.id, EntityMatch(entity, 1.0, "name"))
        if query_vec is not None and len(self._entity_ids):
            scores = self._entity_vecs @ query_vec
            for i in np.argsort(-scores)[:k]:
                if scores[i] >= ENTITY_MATCH_MIN:
                    eid = self._entity_ids[int(i)]
                    found.setdefault(
                        eid, EntityMatch(self.kg.entities[eid], float(scores[i]), "vector")
                    )
        return sorted(found.values(), key=lambda m: (-m.score, m.entity.id))[:k]

    def local_search(
        self, matches: Sequence[EntityMatch], max_relations: int = 12
    ) -> LocalEvidence:
        seeds = {m.entity.id for m in matches}
        relations: dict[str, Relation] = {}
        for eid in seeds:
            for rel, _other in self.kg.relations_of(eid)[:max_relations]:
                relations[rel.id] = rel
        ranked_rel = sorted(
            relations.values(),
            key=lambda r: (-(r.source in seeds) - (r.target in seeds), -r.weight, r.id),
        )
        chunk_votes: dict[str, float] = {}
        for m in matches:
            for cid in m.entity.chunk_ids:
                chunk_votes[cid] = chunk_votes.get(cid, 0.0) + m.score
        for rel in ranked_rel[:max_relations]:
            for cid in rel.chunk_ids:
                chunk_votes[cid] = chunk_votes.get(cid, 0.0) + 0.5
        reports = [c for c in self.kg.communities if c.level == 0 and seeds & set(c.entity_ids)]
        return LocalEvidence(
            list(matches), ranked_rel[:max_relations],
            sorted(chunk_votes.items(), key=lambda kv: (-kv[1], kv[0])),
            sorted(reports, key=lambda c: -len(seeds & set(c.entity_ids)))[:3],
        )  # fmt: skip

    def _entity_chunk_graph(self) -> nx.Graph:
        if self._bipartite is None:
            g = nx.Graph()
            for e in sorted(self.kg.entities.values(), key=lambda e: e.id):
                for cid in e.chunk_ids:
                    g.add_edge(("e", e.id), ("c", cid), weight=1.0)
            for r in sorted(self.kg.relations.values(), key=lambda r: r.id):
                g.add_edge(("e", r.source), ("e", r.target), weight=float(np.log1p(r.weight)))
            self._bipartite = g
        return self._bipartite

    def ppr_rank(
        self, matches: Sequence[EntityMatch], passage_scores: Sequence[tuple[str, float]]
    ) -> list[tuple[str, float]]:
        """Chunks ranked by personalised PageRank from the question's entities and passages."""
        g = self._entity_chunk_graph()
        # Reset mass: half on the question's entities, each weighted by its specificity
        # (1 / passages mentioning it, HippoRAG's node specificity, so "American" spreads
        # less than "Journal of Psychotherapy Integration"), half on the dense passages.
        entity_seeds = {
            ("e", m.entity.id): m.score / max(1, len(m.entity.chunk_ids))
            for m in matches
            if ("e", m.entity.id) in g
        }
        # Passage seeds keep the dense ranking's sharpness: a softmax over the cosines. Raw
        # e5 cosines of the top 20 all lie near 0.8, which spread the mass almost evenly and
        # let PageRank drift to off-topic passages (rgb_zh R@5 0.317 raw vs 0.504 softmax).
        top = max((score for _, score in passage_scores), default=0.0)
        passage_seeds = {
            ("c", cid): float(np.exp((score - top) / PASSAGE_TEMPERATURE))
            for cid, score in passage_scores
            if ("c", cid) in g
        }
        seeds: dict[tuple[str, str], float] = {}
        for part in (entity_seeds, passage_seeds):
            total = sum(part.values())
            for node, w in part.items():
                if total > 0:
                    seeds[node] = seeds.get(node, 0.0) + w / total
        if not seeds:
            return []
        pr = self.pagerank(seeds)
        chunks = [(node[1], score) for node, score in pr.items() if node[0] == "c"]
        return sorted(chunks, key=lambda kv: (-kv[1], kv[0]))

    def pagerank(self, seeds: dict[tuple[str, str], float]) -> dict[tuple[str, str], float]:
        """Personalised PageRank by power iteration, as `nx.pagerank` computes it.

        networkx rebuilds the sparse matrix from the graph on every call, 0.31 of the 0.34 s
        a musique question took; the row-normalised matrix is built once here instead.
        """
        if self._walk is None:
            self._walk = _Walk.of(self._entity_chunk_graph())
        w = self._walk
        p = np.zeros(len(w.nodes))
        for node, weight in seeds.items():
            p[w.index[node]] = weight
        p /= p.sum()
        x = np.full(len(w.nodes), 1.0 / len(w.nodes))
        for _ in range(PPR_MAX_ITER):
            last = x
            x = PPR_DAMPING * (x @ w.matrix + x[w.dangling].sum() * p) + (1 - PPR_DAMPING) * p
            if np.abs(x - last).sum() < len(w.nodes) * PPR_TOL:
                break
        return dict(zip(w.nodes, x.tolist(), strict=True))

    def rank_reports(self, query_vec: np.ndarray, k: int = 8) -> list[tuple[Community, float]]:
        if not self._reports:
            return []
        scores = self._report_vecs @ query_vec
        order = np.argsort(-scores)[:k]
        return [(self._reports[int(i)], float(scores[i])) for i in order]


@dataclass
class _Walk:
    """The graph as a row-stochastic sparse matrix, for PageRank."""

    nodes: list[tuple[str, str]]
    index: dict[tuple[str, str], int]
    matrix: Any  # scipy.sparse CSR array
    dangling: np.ndarray  # nodes without edges

    @classmethod
    def of(cls, g: nx.Graph) -> _Walk:
        import scipy.sparse as sp

        nodes = list(g)
        a = nx.to_scipy_sparse_array(g, nodelist=nodes, weight="weight", dtype=float)
        out = np.asarray(a.sum(axis=1)).ravel()
        inv = np.divide(1.0, out, out=np.zeros_like(out), where=out != 0)
        matrix = (sp.diags_array(inv) @ a).tocsr()
        return cls(nodes, {n: i for i, n in enumerate(nodes)}, matrix, out == 0)


def _stack(rows: Sequence[np.ndarray]) -> np.ndarray:
    return np.stack(rows).astype(np.float32) if rows else np.zeros((0, 1), np.float32)
