"""Personalised PageRank over the entity–passage graph (graph.search.GraphIndex.ppr_rank)."""

from __future__ import annotations

import networkx as nx

from graph.search import PPR_DAMPING
from ingest.pipeline import TextRecord
from rag.engine import Engine

PASSAGES = {
    "writer": "Alice Walker wrote the novel Blue Harbour in 1931.",
    "bridge": "Blue Harbour was filmed in Lisbon by Marco Ferrante.",
    "other": "The harbour of Genoa handles container ships and ferries.",
    "far": "Copper prices rose sharply during the spring.",
}


def _chunk(engine: Engine, key: str) -> str:
    doc = next(d for d in engine.documents() if d.source == key)
    return engine.chunks(doc.id)[0].id


def test_ppr_reaches_the_second_hop_and_keeps_the_dense_order(fake_engine: Engine) -> None:
    fake_engine.ingest_texts([TextRecord(k, k, t) for k, t in PASSAGES.items()])
    index = fake_engine.graph_index()
    ids = {k: _chunk(fake_engine, k) for k in PASSAGES}
    matches = index.match_entities("Where was the novel by Alice Walker filmed?", None)
    assert [m.entity.name for m in matches] == ["Alice Walker"]
    # dense scores as e5 gives them, close together; dense retrieval missed the bridge passage
    dense = [(ids["writer"], 0.84), (ids["other"], 0.82), (ids["far"], 0.76)]

    ranked = [cid for cid, _ in index.ppr_rank(matches, dense)]
    assert ranked[0] == ids["writer"]
    # the bridge passage shares "Blue Harbour" with the seeded passage: the walk reaches it
    # and ranks it above a weakly scored passage that nothing links to
    assert ids["bridge"] in ranked
    assert ranked.index(ids["bridge"]) < ranked.index(ids["far"])

    # with no entity to follow, the dense order survives the walk
    no_entities = [cid for cid, _ in index.ppr_rank([], dense)]
    assert no_entities[:2] == [ids["writer"], ids["other"]]


def test_pagerank_matches_networkx(fake_engine: Engine) -> None:
    fake_engine.ingest_texts([TextRecord(k, k, t) for k, t in PASSAGES.items()])
    index = fake_engine.graph_index()
    g = index._entity_chunk_graph()
    nodes = sorted(g)
    seeds = {nodes[0]: 0.7, nodes[-1]: 0.2, nodes[len(nodes) // 2]: 0.1}
    expected = nx.pagerank(g, alpha=PPR_DAMPING, personalization=seeds, weight="weight")
    got = index.pagerank(seeds)
    assert got.keys() == expected.keys()
    assert max(abs(got[n] - expected[n]) for n in nodes) < 1e-9
