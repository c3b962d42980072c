"""The graph beside the store: consistent under delete, reproducible, persisted, in the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import networkx as nx

from ingest.embedding import HashingEmbedder
from rag.engine import Engine
from rag.generation.scripted import ScriptedGenerator
from rag.settings import Settings
from tests.unit.test_cli import rag


def _engine(store: Path) -> Engine:
    settings = Settings.from_env({"HOME": str(store.parent)}, store_dir=store, embedder="hashing")
    return Engine(settings, embedder=HashingEmbedder(), generator=ScriptedGenerator("ok"))


def _snapshot(engine: Engine) -> tuple[object, ...]:
    kg = engine.graph()
    return (
        sorted((e.id, e.name, e.description, e.aliases, e.chunk_ids) for e in kg.entities.values()),
        sorted((r.id, r.weight, r.description, r.chunk_ids) for r in kg.relations.values()),
        sorted((c.id, c.summary, c.parent) for c in kg.communities),
    )


def _split_demo(demo: Path, tmp: Path) -> tuple[Path, Path]:
    a, b = tmp / "a", tmp / "b"
    a.mkdir()
    b.mkdir()
    for f in sorted(demo.iterdir()):
        if f.is_file() and f.suffix in {".md", ".txt", ".html"}:
            shutil.copy(f, a if f.suffix == ".md" or "rag_graphrag" in f.name else b)
    return a, b


def test_ingest_a_b_delete_b_equals_a_alone(tmp_path: Path, demo_dir: Path) -> None:
    a, b = _split_demo(demo_dir, tmp_path)
    with _engine(tmp_path / "ab") as both:
        both.ingest([a])
        both.ingest([b])
        grown = _snapshot(both)
        for doc in [d for d in both.documents() if d.source.startswith(str(b))]:
            both.delete(doc.id)
        after_delete = _snapshot(both)
    with _engine(tmp_path / "a-only") as alone:
        alone.ingest([a])
        only_a = _snapshot(alone)
    assert after_delete == only_a
    assert len(grown[0]) > len(only_a[0])  # B really contributed entities that went away


def test_communities_are_reproducible(tmp_path: Path, demo_dir: Path) -> None:
    runs = []
    for name in ("one", "two"):
        with _engine(tmp_path / name) as engine:
            engine.ingest([demo_dir])
            kg = engine.graph()
            runs.append(sorted((c.level, c.entity_ids) for c in kg.communities))
    assert runs[0] == runs[1]
    assert len({level for level, _ in runs[0]}) >= 2  # hierarchical: more than one level


def test_graph_is_linked_to_chunks_and_persisted(tmp_path: Path, demo_dir: Path) -> None:
    store = tmp_path / "kb"
    with _engine(store) as engine:
        engine.ingest([demo_dir])
        chunk_ids = {c.id for d in engine.documents() for c in engine.chunks(d.id)}
        kg = engine.graph()
        assert kg.entities and all(set(e.chunk_ids) <= chunk_ids for e in kg.entities.values())
        grpo = kg.find("grpo")
        assert grpo is not None and any("Group Relative Policy Optimization" in
                                        (o.name, *o.aliases) for _, o in kg.relations_of(grpo.id))  # fmt: skip
        by_chunk = engine.graph_store.entities_of_chunks(grpo.chunk_ids)
        assert all(grpo.id in ids for ids in by_chunk.values())
        stats = kg.stats()
    with _engine(store) as reopened:  # loads from graph.sqlite, nothing re-extracted
        assert reopened.graph().stats() == stats
        assert reopened.sync_graph().added == 0  # type: ignore[union-attr]


def test_graph_cli_stats_show_export(tmp_path: Path, demo_dir: Path) -> None:
    env = {"RAG_EMBEDDER": "hashing", "RAG_STORE": str(tmp_path / "kb")}
    assert rag("ingest", str(demo_dir), env=env).returncode == 0
    stats = json.loads(rag("graph", "stats", "--json", env=env).stdout)
    assert stats["documents"] == 10 and stats["entities"] > 50 and stats["communities"] > 0
    shown = rag("graph", "show", "QLoRA", env=env)
    assert shown.returncode == 0 and shown.stdout.startswith("QLoRA")
    assert "relations (" in shown.stdout and "source chunks:" in shown.stdout
    missing = rag("graph", "show", "no such entity", env=env)
    assert missing.returncode == 1 and "no entity" in missing.stderr
    out = tmp_path / "g.graphml"
    assert rag("graph", "export", "--format", "graphml", "-o", str(out), env=env).returncode == 0
    g = nx.read_graphml(out)
    assert g.number_of_nodes() == stats["entities"] and g.number_of_edges() == stats["relations"]
    out_json = tmp_path / "g.json"
    rag("graph", "export", "--format", "json", "-o", str(out_json), env=env)
    assert len(json.loads(out_json.read_text("utf-8"))["entities"]) == stats["entities"]


def test_graph_off_builds_nothing(tmp_path: Path, demo_dir: Path) -> None:
    env = {"RAG_EMBEDDER": "hashing", "RAG_STORE": str(tmp_path / "kb")}
    assert (
        rag(
            "ingest", str(demo_dir / "finetuning_overview.md"), "--graph", "off", env=env
        ).returncode
        == 0
    )
    assert json.loads(rag("graph", "stats", "--json", env=env).stdout)["entities"] == 0
