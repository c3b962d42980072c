"""Ingestion through the Engine with the hashing embedder: batches, no-ops, updates, bad files."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ingest.embedding import HashingEmbedder
from ingest.errors import DocumentNotFound, UsageError
from ingest.pipeline import IngestEvent, TextRecord
from ingest.types import SearchFilter
from rag.engine import Engine
from rag.settings import Settings


def test_demo_corpus_ingests_every_format(fake_engine: Engine, demo_dir: Path) -> None:
    report = fake_engine.ingest([demo_dir])
    assert report.failed == []
    formats = {d.format for d in fake_engine.documents()}
    assert {"pdf", "docx", "pptx", "html", "md", "txt"} <= formats
    assert not any("_build" in d.source for d in fake_engine.documents())
    assert report.ignored  # LICENSE and questions.jsonl are not documents


def test_reingesting_unchanged_files_is_a_no_op(fake_engine: Engine, demo_dir: Path) -> None:
    fake_engine.ingest([demo_dir])
    gen = fake_engine.store.chunks.generation()
    again = fake_engine.ingest([demo_dir])
    assert again.count("unchanged") == len(again.results) > 0
    assert again.chunks_written == 0
    assert fake_engine.store.chunks.generation() == gen


def test_changed_file_replaces_its_chunks(fake_engine: Engine, tmp_path: Path) -> None:
    doc = tmp_path / "notes.md"
    doc.write_text("# Notes\n\nLoRA freezes the base weights.\n", encoding="utf-8")
    fake_engine.ingest([doc])
    doc.write_text("# Notes\n\nDPO needs no reward model.\n", encoding="utf-8")
    report = fake_engine.ingest([doc])
    assert [r.status for r in report.results] == ["updated"]
    texts = [h.chunk.text for h in fake_engine.retrieve("reward model", k=5)]
    assert texts == ["DPO needs no reward model."]
    assert len(fake_engine.documents()) == 1


def test_bad_files_are_reported_and_the_rest_ingests(fake_engine: Engine, tmp_path: Path) -> None:
    good = tmp_path / "good.md"
    good.write_text("# Good\n\nQLoRA quantizes the base model to NF4.\n", encoding="utf-8")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "junk.txt").write_bytes(bytes(range(256)) * 40)
    odd = tmp_path / "data.xyz"
    odd.write_text("whatever")
    report = fake_engine.ingest([tmp_path, odd])
    failed = {Path(r.source).name: r.error or "" for r in report.failed}
    assert set(failed) == {"broken.pdf", "empty.txt", "junk.txt", "data.xyz"}
    assert all(msg.startswith(name) for name, msg in failed.items())
    assert report.count("added") == 1
    assert "1 added" in report.summary() and "4 failed" in report.summary()


def test_progress_reports_every_file(fake_engine: Engine, demo_dir: Path) -> None:
    events: list[IngestEvent] = []
    fake_engine.ingest([demo_dir], progress=events.append)
    results = [e for e in events if e.result is not None]
    assert [e.done for e in results] == list(range(1, len(results) + 1))
    assert results[-1].done == results[-1].total == 10
    # between results, each file's stages in order, each named by its source
    for r in results:
        if r.result and r.result.status == "added":
            stages = [e.stage for e in events if e.source == r.result.source]
            assert stages[:2] == ["parsing", "chunking"] and "embedding" in stages


def test_delete_by_name_path_and_id(fake_engine: Engine, demo_dir: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "demo"
    shutil.copytree(demo_dir, corpus)
    fake_engine.ingest([corpus])
    n = len(fake_engine.documents())
    assert [d.name for d in fake_engine.delete("lora_qlora_zh.md")] == ["lora_qlora_zh.md"]
    pdf = next(d for d in fake_engine.documents() if d.format == "pdf")
    fake_engine.delete(pdf.source)
    docx = next(d for d in fake_engine.documents() if d.format == "docx")
    fake_engine.delete(docx.id[:8])
    assert len(fake_engine.documents()) == n - 3
    assert all("NF4" not in h.chunk.text or "lora_qlora" not in h.document.source
               for h in fake_engine.retrieve("QLoRA NF4", k=10))  # fmt: skip
    with pytest.raises(DocumentNotFound):
        fake_engine.delete("no-such-file.md")


def test_ask_on_an_empty_result_says_it_does_not_know(fake_engine: Engine, tmp_path: Path) -> None:
    doc = tmp_path / "a.md"
    doc.write_text("# A\n\nSome text.\n", encoding="utf-8")
    fake_engine.ingest([doc])
    answer = fake_engine.ask("量子", method="bm25")
    assert answer.sources == [] and "不知道" in answer.answer


def test_a_text_shared_across_a_batch_replacement_keeps_its_vector(fake_engine: Engine) -> None:
    from ingest.pipeline import TextRecord

    shared = "QLoRA trains LoRA adapters on a frozen 4-bit NF4 base model."
    fake_engine.ingest_texts([TextRecord("a", "notes", shared)])
    # one batch: "a" drops the shared text (its vector is collected), "b" brings it back
    report = fake_engine.ingest_texts(
        [TextRecord("a", "notes", "DPO needs no reward model."), TextRecord("b", "notes", shared)]
    )
    assert [r.status for r in report.results] == ["updated", "added"]
    store = fake_engine.store
    assert len(store.dense) == store.chunks.counts().chunks  # type: ignore[attr-defined]
    top = fake_engine.retrieve(shared, k=1, method="dense")
    assert top[0].document.source == "b" and top[0].score > 0.9


class CountingEmbedder(HashingEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.passages = 0

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        self.passages += len(texts)
        return super().embed_passages(texts)


def test_metadata_travels_with_a_file_and_new_metadata_updates_in_place(
    settings: Settings, tmp_path: Path
) -> None:
    embedder = CountingEmbedder()
    fake_engine = Engine(replace(settings, graph="off"), embedder=embedder)
    doc = tmp_path / "notes.md"
    doc.write_text("# Notes\n\nLoRA freezes the base weights.\n", encoding="utf-8")
    first = fake_engine.ingest([doc], metadata={"team": "ml", "year": 2024, "draft": False})
    (info,) = fake_engine.documents()
    assert info.metadata == {"team": "ml", "year": "2024", "draft": "false"}
    same = fake_engine.ingest([doc], metadata={"team": "ml", "year": "2024", "draft": "false"})
    assert same.count("unchanged") == 1
    embedded = embedder.passages
    again = fake_engine.ingest([doc], metadata={"team": "infra"})
    assert [r.status for r in again.results] == ["updated"]
    assert again.results[0].doc_id == first.results[0].doc_id  # same content, same id
    assert fake_engine.document(info.id).metadata == {"team": "infra"}
    assert embedder.passages == embedded > 0  # the stored vectors serve: nothing re-embedded
    hits = fake_engine.retrieve("LoRA", filters=SearchFilter(metadata=(("team", "infra"),)))
    assert [h.document.id for h in hits] == [info.id]
    assert fake_engine.retrieve("LoRA", filters=SearchFilter(metadata=(("team", "ml"),))) == []
    fake_engine.close()


@pytest.mark.parametrize(
    "metadata, message",
    [
        ({"tags": ["a"]}, "must be a string, number or boolean"),
        ({"": "x"}, "non-empty string"),
        ({"k": None}, "not NoneType"),
        ("team=ml", "must be an object"),
    ],
)
def test_bad_metadata_is_refused_before_a_store_exists(
    fake_engine: Engine, tmp_path: Path, metadata: object, message: str
) -> None:
    doc = tmp_path / "notes.md"
    doc.write_text("LoRA", encoding="utf-8")
    with pytest.raises(UsageError, match=message):
        fake_engine.ingest([doc], metadata=metadata)  # type: ignore[arg-type]
    assert not (fake_engine.settings.store_dir / "store.sqlite").exists()


def test_ingest_text_keys_by_content_and_replaces_by_key(fake_engine: Engine) -> None:
    a = fake_engine.ingest_text("QLoRA trains adapters over a 4-bit base.", metadata={"src": "api"})
    assert a.status == "added" and a.n_chunks == 1
    assert fake_engine.ingest_text("QLoRA trains adapters over a 4-bit base.",
                                   metadata={"src": "api"}).status == "unchanged"  # fmt: skip
    (doc,) = fake_engine.documents()
    assert doc.source.startswith("text:") and doc.metadata == {"src": "api"}
    keyed = fake_engine.ingest_text("DPO needs no reward model.", key="notes/dpo", title="DPO")
    assert fake_engine.document(keyed.doc_id or "").title == "DPO"
    changed = fake_engine.ingest_text("DPO optimises preferences directly.", key="notes/dpo")
    assert changed.status == "updated" and len(fake_engine.documents()) == 2
    assert [h.chunk.text for h in fake_engine.retrieve("preferences", k=1)] == [
        "DPO optimises preferences directly."
    ]
    with pytest.raises(UsageError, match="non-empty"):
        fake_engine.ingest_text("   ")


def test_a_store_made_before_metadata_opens_with_empty_metadata(tmp_path: Path) -> None:
    import sqlite3

    from ingest.store.database import Database

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE documents(id TEXT PRIMARY KEY, source TEXT NOT NULL UNIQUE, name TEXT NOT NULL,"
        " title TEXT NOT NULL, format TEXT NOT NULL, content_hash TEXT NOT NULL, size INTEGER NOT NULL,"
        " n_chunks INTEGER NOT NULL, ingested_at REAL NOT NULL);"
        "INSERT INTO documents VALUES ('d1', '/a.md', 'a.md', 'A', 'md', 'h', 1, 0, 0);"
    )
    db.commit()
    db.close()
    from ingest.store.chunks import SqliteChunkStore

    (doc,) = SqliteChunkStore(Database(path)).documents()
    assert doc.id == "d1" and doc.metadata == {}


def test_a_blank_text_record_fails_like_an_empty_file(fake_engine: Engine) -> None:
    report = fake_engine.ingest_texts(
        [TextRecord("notes/blank", "Blank", " \n "), TextRecord("notes/ok", "OK", "LoRA.")]
    )
    assert [(r.source, r.status) for r in report.results] == [
        ("notes/blank", "failed"), ("notes/ok", "added")
    ]  # fmt: skip
    assert report.failed[0].error == "notes/blank: no text"
    assert [d.source for d in fake_engine.documents()] == ["notes/ok"]
