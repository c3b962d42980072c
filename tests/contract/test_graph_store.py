"""Every `GraphStore` behaves the same: the SQLite one beside the embedded store, the
PostgreSQL one of the cluster backend (in a fresh schema, dropped after the test; skipped when
no server runs) and the in-memory fake."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from graph.memory_store import MemoryGraphStore
from graph.ports import GraphStore
from graph.relation_spill import RelationSpill
from graph.store import SqliteGraphStore
from graph.types import Community, Entity, EntityMention, Extraction, Relation, RelationMention


@pytest.fixture(params=["sqlite", "memory", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GraphStore]:
    if request.param != "postgres":
        s: GraphStore = (
            SqliteGraphStore(tmp_path) if request.param == "sqlite" else MemoryGraphStore()
        )
        yield s
        s.close()
        return
    import psycopg
    from psycopg import sql

    from graph.postgres_store import PostgresGraphStore

    url, name = request.getfixturevalue("pg_url"), request.getfixturevalue("cluster_name")
    pg = PostgresGraphStore(url, name)
    try:
        yield pg
    finally:
        pg.close()
        with psycopg.connect(url, autocommit=True) as db:
            db.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


def _ex(chunk_id: str, *names: str, extractor: str = "fast") -> Extraction:
    mentions = [EntityMention(n, "concept", f"{n} in {chunk_id}") for n in names]
    rels = [RelationMention(names[0], n, "co-occur", ("k",), 1.0) for n in names[1:]]
    return Extraction(chunk_id, mentions, rels, extractor)


def test_a_document_is_done_only_when_marked(store: GraphStore) -> None:
    store.put_extractions("d1", [_ex("c1", "LoRA"), _ex("c2", "QLoRA")])
    assert store.doc_ids() == set() and store.unfinished_doc_ids() == {"d1"}
    assert store.extractions() == []  # a half-extracted document never feeds the graph
    assert [e.chunk_id for e in store.extractions_of("d1")] == ["c1", "c2"]
    store.put_extractions("d1", [_ex("c3", "DPO")], done_by="fast")
    assert store.doc_ids() == {"d1"} and store.unfinished_doc_ids() == set()
    assert [e.chunk_id for e in store.extractions()] == ["c1", "c2", "c3"]
    assert store.needs_rebuild()


def test_extractions_round_trip_whole(store: GraphStore) -> None:
    ex = _ex("c1", "GRPO", "PPO", extractor="llm")
    store.put_extractions("d1", [ex], done_by="fast+llm")
    assert store.extractions() == [ex]
    store.put_extractions("d1", [_ex("c1", "GRPO")])  # a later result replaces the chunk's
    assert [len(e.entities) for e in store.extractions()] == [1]


def test_iter_extractions_pages_through_what_extractions_holds(
    store: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("graph.store.EXTRACTION_PAGE", 3)  # pages of 3 rows: 7 rows, 3 pages
    store.put_extractions("d1", [_ex(f"c{i}", "LoRA", f"E{i}") for i in range(7)], done_by="fast")
    store.put_extractions("d2", [_ex("c0b", "DPO")])  # not done: in neither
    walked = list(store.iter_extractions())
    assert walked == store.extractions()
    assert [e.chunk_id for e in walked] == sorted(f"c{i}" for i in range(7))
    assert list(store.iter_extractions()) == walked  # a second walk gives the same


def test_planned_llm_work_is_settled_chunk_by_chunk(store: GraphStore) -> None:
    store.put_extractions("d1", [_ex("c1", "A"), _ex("c2", "B")])
    store.plan_refinement({"d1": ["c1", "c2"], "d2": ["c9"]})
    assert store.pending_refinement("d1") == {"c1", "c2"}
    assert store.unfinished_doc_ids() == {"d1", "d2"}
    store.put_extractions("d1", [_ex("c1", "A", extractor="llm")])
    assert store.pending_refinement("d1") == {"c2"}
    store.put_extractions("d1", [_ex("c2", "B", extractor="llm")], done_by="fast+llm")
    assert store.pending_refinement("d1") == set() and store.pending_refinement("d2") == {"c9"}


def test_remove_doc_drops_rows_plan_and_mark(store: GraphStore) -> None:
    store.put_extractions("d1", [_ex("c1", "A")], done_by="fast")
    store.put_extractions("d2", [_ex("c2", "B")])
    store.plan_refinement({"d2": ["c2"]})
    store.replace_graph([], [], [])
    assert not store.needs_rebuild()
    store.remove_doc("d1")
    store.remove_doc("d2")
    assert store.doc_ids() == set() and store.unfinished_doc_ids() == set()
    assert store.extractions_of("d2") == [] and store.pending_refinement("d2") == set()
    assert store.needs_rebuild()


def test_the_resolved_graph_is_replaced_whole(store: GraphStore) -> None:
    e1 = Entity("e1", "LoRA", "method", "low-rank", ("LoRA adapters",), ("c2", "c1"))
    e2 = Entity("e2", "QLoRA", "method", "4-bit", (), ("c2",))
    rel = Relation("r1", "e1", "e2", "QLoRA builds on LoRA", ("builds",), 2.0, ("c2",))
    com = Community("k1", 0, ("e1", "e2"), "LoRA family", "LoRA and QLoRA", None)
    g0 = store.generation()
    store.replace_graph([e2, e1], [rel], [com])
    assert store.generation() == g0 + 1
    with store.reading(), store.reading():  # re-entrant
        assert [e.id for e in store.entities()] == ["e1", "e2"]
        assert store.entities()[0].chunk_ids == ("c1", "c2")  # in chunk id order
        assert store.entities()[0].aliases == ("LoRA adapters",)
        assert store.relations() == [rel] and store.communities() == [com]
    assert store.entities_of_chunks(["c2", "c9"]) == {"c2": ["e1", "e2"]}
    store.replace_graph([e1], [], [])
    assert [e.id for e in store.entities()] == ["e1"] and store.relations() == []
    assert store.generation() == g0 + 2


def test_the_graph_is_replaced_from_relations_on_disk(store: GraphStore) -> None:
    """A rebuild hands the store a relation table read from its scratch folder, walked once;
    many relations go in batches and come back whole, and no scratch file stays behind."""
    from graph import store as sqlite_module

    scratch = store.scratch_dir()
    assert scratch is None or scratch.is_dir()
    rels = [Relation(f"r{i:05}", "e1", "e2", f"link {i}", ("k",) if i % 2 else (), float(i),
                     (f"c{i:05}", f"c{i + 1:05}")) for i in range(sqlite_module._WRITE_BATCH + 7)]  # fmt: skip
    with RelationSpill(scratch) as spill:
        for r in rels:
            for c in r.chunk_ids:
                spill.add(r.id, r.source, r.target, c, r.description, r.keywords, r.weight / 2)
        store.replace_graph([Entity("e1", "A", "x", "", (), ("c0",))], spill, [])
        folder = spill.path.parent
    assert store.relations() == rels
    assert not list(folder.glob(".graph-build.sqlite.*.tmp"))


def test_content_keyed_caches(store: GraphStore) -> None:
    store.put_reports({"h1": ("a summary", "llm")})
    assert store.reports(["h1", "h2"]) == {"h1": "a summary"}
    v = np.arange(4, dtype=np.float32)
    store.put_vectors({"t1": v})
    got = store.vectors(["t1", "t2"])
    assert list(got) == ["t1"] and got["t1"].dtype == np.float32
    np.testing.assert_array_equal(got["t1"], v)
