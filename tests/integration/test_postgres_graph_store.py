"""What the PostgreSQL graph store adds to the contract (tests/contract/test_graph_store.py):
a schema name that is safe to splice in, tables created once when several openers race, a
`reading()` snapshot that holds while another connection replaces the graph, and a full disk
reported as `DiskFull`. Needs the server of scripts/services.sh (skips without it)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from graph.types import Entity
from ingest.errors import DiskFull

psycopg = pytest.importorskip("psycopg")
from psycopg import sql  # noqa: E402

from graph.postgres_store import PostgresGraphStore  # noqa: E402


@pytest.fixture
def schema(pg_url: str, cluster_name: str) -> Iterator[str]:
    yield cluster_name
    with psycopg.connect(pg_url, autocommit=True) as db:
        db.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(cluster_name)))


@pytest.mark.parametrize(
    "name", ["", "Upper", "1kb", "a-b", 'x"; DROP SCHEMA public; --', "a" * 42]
)
def test_a_name_that_is_not_a_plain_identifier_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="not a knowledge-base name"):
        PostgresGraphStore("postgresql://nowhere.invalid/x", name)  # refused before connecting


def test_openers_racing_on_a_new_schema_all_succeed(pg_url: str, schema: str) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def open_it() -> None:
        start.wait()
        try:
            PostgresGraphStore(pg_url, schema).close()
        except BaseException as e:  # any failure is the test's
            errors.append(e)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    store = PostgresGraphStore(pg_url, schema)
    assert store.generation() == 0 and not store.needs_rebuild()
    store.close()


def test_reading_keeps_one_generation_while_another_thread_replaces(
    pg_url: str, schema: str
) -> None:
    store = PostgresGraphStore(pg_url, schema)
    store.replace_graph([Entity("e1", "A", "x", "", (), ("c1",))], [], [])
    seen: list[tuple[int, list[str]]] = []
    inside, replaced = threading.Event(), threading.Event()

    def reader() -> None:
        with store.reading():
            seen.append((store.generation(), [e.id for e in store.entities()]))
            inside.set()
            replaced.wait(10)
            seen.append((store.generation(), [e.id for e in store.entities()]))
        seen.append((store.generation(), [e.id for e in store.entities()]))

    t = threading.Thread(target=reader)
    t.start()
    assert inside.wait(10)
    # from this thread, so on another connection than the reader's
    store.replace_graph([Entity("e2", "B", "x", "", (), ("c2",))], [], [])
    replaced.set()
    t.join()
    store.close()
    assert seen == [(1, ["e1"]), (1, ["e1"]), (2, ["e2"])]


def test_a_full_disk_on_the_server_is_reported_as_disk_full(pg_url: str, schema: str) -> None:
    store = PostgresGraphStore(pg_url, schema)
    real_copy = store._copy

    def full(*args: object) -> None:
        real_copy(*args)  # type: ignore[arg-type]
        raise psycopg.errors.DiskFull("could not extend file: No space left on device")

    store._copy = full  # type: ignore[method-assign]
    with pytest.raises(DiskFull, match="no space left on PostgreSQL"):
        store.replace_graph([Entity("e1", "A", "x", "", (), ("c1",))], [], [])
    assert store.generation() == 0 and store.entities() == []  # rolled back whole
    store.close()
