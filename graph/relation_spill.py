"""Relations resolved out of core.

A large file's graph has millions of relations: a 200 MB text file's co-occurrences would
take gigabytes as Python objects. Resolution therefore writes each relation mention to a
scratch SQLite file beside the store and reads them back grouped by relation id, folding one
relation at a time; what stays in memory is one relation, not the table.

Once every mention is in, they are folded into one table of relations in id order, each from
its mentions in the order they were added (chunk order), so the result equals an in-memory
fold. That table can be walked any number of times (community detection, vector texts and
the store's write each walk it once), a sequential scan each time. The file is a
`temp_path` temp file: a killed build's is swept by the next one.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from graph.types import Relation
from ingest.atomic import disk_full_raised, sweep_temp_files, temp_path

NAME = "graph-build.sqlite"
BATCH = 20_000  # rows buffered between inserts
DESCRIPTION_CHARS = 600
_SEP = "\x1f"  # joins chunk ids (hex content ids) in one column


class Descriptions:
    """The merged description of many mentions, built one at a time: distinct texts in the
    order they come, until the next would pass DESCRIPTION_CHARS (the first always fits)."""

    __slots__ = ("full", "size", "texts")

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.size = 0
        self.full = False

    def add(self, text: str, shared: dict[str, str] | None = None) -> None:
        """`shared`, when given, holds one copy of each kept text: a sentence naming five
        entities is the description of five mentions, kept once."""
        t = text.strip()
        if self.full or not t or t in self.texts:
            return
        if self.size + len(t) > DESCRIPTION_CHARS and self.texts:
            self.full = True  # nothing after the first that does not fit is kept
            return
        self.texts.append(t if shared is None else shared.setdefault(t, t))
        self.size += len(t)

    def text(self) -> str:
        return " ".join(self.texts)


def add_chunk(chunks: list[str], chunk_id: str) -> None:
    """Mentions come in chunk order: a chunk id not already last is new."""
    if not chunks or chunks[-1] != chunk_id:
        chunks.append(chunk_id)


class RelationSpill:
    """Relation mentions added in chunk order, read back as resolved relations by id.

    Use as a context manager (or call `close`): closing deletes the scratch file."""

    def __init__(self, folder: Path | None = None) -> None:
        folder = Path(tempfile.gettempdir()) if folder is None else folder
        sweep_temp_files(folder, f".{NAME}.*.tmp")  # a killed build's scratch file
        self.path = temp_path(folder / NAME)
        # one thread walks it, but a context manager may be finalised on another: closing
        # (and so deleting the file) must work from there too
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        for pragma in (
            "journal_mode = OFF",  # scratch: nothing to recover after a crash
            "synchronous = OFF",
            "cache_size = -16000",  # 16 MB of pages, whatever the table's size
            "temp_store = FILE",
        ):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.executescript(
            """
            CREATE TABLE text (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
            CREATE TABLE mention (
                rid TEXT NOT NULL, source TEXT NOT NULL, target TEXT NOT NULL,
                chunk_id TEXT NOT NULL, text_id INTEGER NOT NULL,
                keywords TEXT, strength REAL NOT NULL
            );
            """
        )
        self._mentions: list[tuple[str, str, str, str, int, str | None, float]] = []
        self._texts: list[tuple[int, str]] = []
        self._chunk_texts: dict[str, int] = {}  # the current chunk's texts, by content
        self._next_text = 0
        self._chunk: str | None = None
        self._count: int | None = None

    def add(
        self,
        rid: str,
        source: str,
        target: str,
        chunk_id: str,
        description: str,
        keywords: tuple[str, ...],
        strength: float,
    ) -> None:
        """One mention of relation `rid` between `source` and `target` (sorted) in a chunk;
        mentions come in chunk order. A sentence shared by a chunk's mentions is kept once."""
        assert self._count is None, "the spill is finished"
        if chunk_id != self._chunk:
            self._chunk, self._chunk_texts = chunk_id, {}
        text_id = self._chunk_texts.get(description)
        if text_id is None:
            text_id = self._chunk_texts[description] = self._next_text
            self._next_text += 1
            self._texts.append((text_id, description))
        kw = json.dumps(keywords, ensure_ascii=False) if keywords else None
        self._mentions.append((rid, source, target, chunk_id, text_id, kw, strength))
        if len(self._mentions) >= BATCH:
            self._flush()

    def _flush(self) -> None:
        with disk_full_raised(self.path):
            self._db.executemany("INSERT INTO text VALUES (?, ?)", self._texts)
            self._db.executemany("INSERT INTO mention VALUES (?, ?, ?, ?, ?, ?, ?)", self._mentions)
        self._texts, self._mentions = [], []

    def finish(self) -> None:
        """Fold the mentions into relations, once, into a table in id order; after this the
        spill is read, not written, and each walk is one scan of that table."""
        if self._count is not None:
            return
        self._flush()
        self._chunk_texts = {}
        with disk_full_raised(self.path):
            self._db.executescript(
                """
                CREATE INDEX mention_rid ON mention (rid);
                CREATE TABLE relation (
                    id TEXT NOT NULL, source TEXT NOT NULL, target TEXT NOT NULL,
                    description TEXT NOT NULL, keywords TEXT NOT NULL, weight REAL NOT NULL,
                    chunks TEXT NOT NULL
                );
                """
            )
            insert = "INSERT INTO relation VALUES (?, ?, ?, ?, ?, ?, ?)"
            batch: list[tuple[str, str, str, str, str, float, str]] = []
            for r in self._fold():
                batch.append((r.id, r.source, r.target, r.description,
                              json.dumps(r.keywords, ensure_ascii=False), r.weight,
                              _SEP.join(r.chunk_ids)))  # fmt: skip
                if len(batch) >= BATCH:
                    self._db.executemany(insert, batch)
                    batch = []
            self._db.executemany(insert, batch)
            self._db.executescript("DROP TABLE mention; DROP TABLE text;")
            self._db.commit()
        self._count = self._db.execute("SELECT COUNT(*) FROM relation").fetchone()[0]

    def _fold(self) -> Iterator[Relation]:
        """The relations in id order, each folded from its mentions in the order added."""
        rows = self._db.execute(
            "SELECT m.rid, m.source, m.target, m.chunk_id, t.body, m.keywords, m.strength"
            " FROM mention AS m INDEXED BY mention_rid JOIN text AS t ON t.id = m.text_id"
            " ORDER BY m.rid, m.rowid"
        )
        rid: str | None = None
        ends = ("", "")
        descriptions = Descriptions()
        keywords: set[str] = set()
        weight = 0.0
        chunks: list[str] = []
        for r, source, target, chunk_id, body, kw, strength in rows:
            if r != rid:
                if rid is not None:
                    yield _relation(rid, ends, descriptions, keywords, weight, chunks)
                rid, ends = r, (source, target)
                descriptions, keywords, weight, chunks = Descriptions(), set(), 0.0, []
            descriptions.add(body)
            if kw:
                keywords.update(json.loads(kw))
            weight += strength
            add_chunk(chunks, chunk_id)
        if rid is not None:
            yield _relation(rid, ends, descriptions, keywords, weight, chunks)

    def __len__(self) -> int:
        self.finish()
        assert self._count is not None
        return self._count

    def __iter__(self) -> Iterator[Relation]:
        """The relations in id order: the same each walk."""
        self.finish()
        for rid, source, target, description, kw, weight, chunks in self._db.execute(
            "SELECT id, source, target, description, keywords, weight, chunks"
            " FROM relation ORDER BY rowid"
        ):
            yield Relation(
                id=rid, source=source, target=target, description=description,
                keywords=tuple(json.loads(kw)), weight=weight,
                chunk_ids=tuple(chunks.split(_SEP)),
            )  # fmt: skip

    def close(self) -> None:
        try:
            self._db.close()
        finally:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    def __enter__(self) -> RelationSpill:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _relation(
    rid: str,
    ends: tuple[str, str],
    descriptions: Descriptions,
    keywords: set[str],
    weight: float,
    chunks: list[str],
) -> Relation:
    return Relation(
        id=rid, source=ends[0], target=ends[1], description=descriptions.text(),
        keywords=tuple(sorted(keywords)), weight=round(weight, 4), chunk_ids=tuple(chunks),
    )  # fmt: skip
