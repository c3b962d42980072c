"""A store whose keyword rows another tokeniser made is re-tokenised when it is opened."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.keywords import tokeniser
from ingest.pipeline import TextRecord
from ingest.store import fts5
from rag.engine import Engine
from rag.settings import Settings


def _ingest(settings: Settings) -> None:
    from ingest.embedding import HashingEmbedder

    with Engine(settings, embedder=HashingEmbedder()) as engine:
        engine.ingest_texts([TextRecord("a", "Notes", "Quantization shrinks the weights.")])


def _bm25(settings: Settings, query: str) -> list[str]:
    from ingest.embedding import HashingEmbedder

    with Engine(settings, embedder=HashingEmbedder()) as engine:
        return [h.chunk.text for h in engine.retrieve(query, k=3, method="bm25")]


def test_a_new_tokeniser_re_tokenises_the_stored_rows(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _ingest(settings)
    assert _bm25(settings, "quantize") == []  # unstemmed: "quantize" is not "quantization"
    monkeypatch.setattr(fts5, "KEYWORD_TOKENISER", "jieba-search/stem")
    monkeypatch.setattr(fts5, "keyword_tokens", tokeniser("jieba-search/stem"))
    assert _bm25(settings, "quantize") == ["Quantization shrinks the weights."]
    import sqlite3

    db = sqlite3.connect(settings.store_dir / "store.sqlite")
    assert db.execute("SELECT value FROM meta WHERE key = 'keyword_tokeniser'").fetchone() == (
        "jieba-search/stem",
    )
    assert db.execute("SELECT tokens FROM chunks_fts").fetchone()[0].split()[:2] == [
        "note",
        "quantiz",
    ]


def test_the_same_tokeniser_writes_nothing(settings: Settings) -> None:
    _ingest(settings)
    import sqlite3

    db = sqlite3.connect(settings.store_dir / "store.sqlite")
    gen = db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
    assert _bm25(settings, "quantization") == ["Quantization shrinks the weights."]
    assert db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone() == gen
    assert db.execute("SELECT 1 FROM meta WHERE key = 'keyword_tokeniser'").fetchone() is None
