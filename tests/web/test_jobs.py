"""Background ingest jobs through the API: per-file stages, cancel (queued and running), retry of
failed files, re-uploads (unchanged, then updated), re-ingest, and the metadata of an upload.

A job is held at a true boundary, the embedder (tests/web/conftest.GatedEmbedder), so the
stages seen are the ones a slow real model would show.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.web.conftest import GatedEmbedder, make_engine_app, post_files, wait_job

API = "/api/v1"
# entity-rich, so the graph stage embeds entity names (a second call at the gate)
ADAPTERS = (
    b"# Adapters\n\nQLoRA quantizes the base model to NF4 and trains LoRA adapters with "
    b"PyTorch. LoRA was proposed by Hu at Microsoft.\n"
)
SERVING = (
    b"# Serving\n\nvLLM serves Llama models with PagedAttention on NVIDIA GPUs. TensorRT "
    b"compiles optimised engines.\n"
)
PEARS = b"# Pear orchards\n\nPear trees grow in orchards and flower in early spring.\n"
NOT_A_PDF = b"%PDF-1.4\nthis is not really a PDF at all\n"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    a = make_engine_app(tmp_path, write_wait=0.2)
    yield a
    a.extensions["rag"].close()


def job_of(client: FlaskClient, job_id: str) -> dict[str, Any]:
    resp = client.get(f"{API}/jobs/{job_id}")
    assert resp.status_code == 200, resp.json
    return dict(resp.json)


def rows(client: FlaskClient, **query: Any) -> list[dict[str, Any]]:
    resp = client.get(f"{API}/documents", query_string={"per_page": 200, **query})
    assert resp.status_code == 200, resp.json
    return list(resp.json["documents"])


def upload_and_wait(app: Flask, files: list[tuple[str, bytes]], **form: str) -> dict[str, Any]:
    resp = post_files(app.test_client(), files, **form)
    assert resp.status_code == 202, resp.json
    return wait_job(app, resp.json["job"]["id"])


class HeldWriter:
    """Another writer holding the store's write lock, in a thread of its own."""

    def __init__(self, app: Flask) -> None:
        self._store = app.extensions["rag"].default.engine.create_store()
        self._held, self._release = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._hold)

    def _hold(self) -> None:
        with self._store.writing():
            self._held.set()
            self._release.wait(30)

    def __enter__(self) -> HeldWriter:
        self._thread.start()
        assert self._held.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._thread.join()


# --- stages ---------------------------------------------------------------------------------------


def test_files_move_through_their_stages(gated: tuple[Flask, GatedEmbedder]) -> None:
    app, emb = gated
    client = app.test_client()
    resp = post_files(client, [("a.md", ADAPTERS), ("docs/b.md", SERVING)])
    assert resp.status_code == 202
    job = resp.json["job"]
    assert job["state"] == "queued" and job["started_at"] is None
    assert [(f["name"], f["stage"], f["progress"], f["doc_id"]) for f in job["files"]] == [
        ("a.md", "queued", 0.0, None),
        ("docs/b.md", "queued", 0.0, None),
    ]

    emb.wait_arrival()  # the passages are being embedded
    running = job_of(client, job["id"])
    assert running["state"] == "running" and running["started_at"] >= running["created_at"]
    for f in running["files"]:
        assert f["stage"] == "embedding" and 0.2 <= f["progress"] < 0.8 and f["doc_id"] is None
    listed = rows(client)
    assert [(r["id"], r["name"], r["status"], r["job"]) for r in listed] == [
        (None, "a.md", "processing", job["id"]),
        (None, "b.md", "processing", job["id"]),
    ]
    second = post_files(client, [("pears.md", PEARS)]).json["job"]
    assert job_of(client, second["id"])["state"] == "queued"  # one writer: it waits its turn

    emb.let_one_through()
    emb.wait_arrival()  # written; the knowledge graph embeds the new entity names
    graphing = job_of(client, job["id"])
    assert graphing["state"] == "running"
    for f in graphing["files"]:
        assert f["stage"] == "graph" and f["progress"] >= 0.8 and f["doc_id"] and f["chunks"] == 1

    emb.open()
    done = wait_job(app, job["id"])
    assert done["state"] == "done" and done["finished_at"] >= done["started_at"]
    assert all(f["stage"] == "done" and f["progress"] == 1.0 for f in done["files"])
    assert wait_job(app, second["id"])["state"] == "done"
    ready = {r["id"]: r for r in rows(client)}
    assert {f["doc_id"] for f in done["files"]} <= set(ready)
    assert all(r["status"] == "ready" for r in ready.values())
    assert [j["id"] for j in client.get(f"{API}/jobs").json["jobs"]] == [second["id"], job["id"]]


def test_a_file_in_the_graph_stage_is_listed_once(gated: tuple[Flask, GatedEmbedder]) -> None:
    app, emb = gated
    client = app.test_client()
    post_files(client, [("a.md", ADAPTERS), ("b.md", SERVING)])
    emb.wait_arrival()
    emb.let_one_through()
    emb.wait_arrival()  # graph stage
    body = client.get(f"{API}/documents").json
    assert body["total"] == 2, [(r["id"], r["name"], r["status"]) for r in body["documents"]]


def test_a_corrupt_file_fails_with_its_reason_and_the_rest_are_ingested(app: Flask) -> None:
    client = app.test_client()
    job = upload_and_wait(app, [("bad.pdf", NOT_A_PDF), ("pears.md", PEARS)])
    assert job["state"] == "done"  # not every file failed
    bad, good = job["files"]
    assert bad["stage"] == "failed" and bad["doc_id"] is None and bad["chunks"] == 0
    assert bad["error"].startswith("bad.pdf:") and "PDF" in bad["error"]
    assert good["stage"] == "done" and good["doc_id"] and good["error"] is None
    failed = rows(client, status="failed")
    assert [(r["id"], r["name"], r["error"], r["job"]) for r in failed] == [
        (None, "bad.pdf", bad["error"], job["id"])
    ]
    assert [r["name"] for r in rows(client, status="ready")] == ["pears.md"]


def test_a_job_whose_every_file_failed_is_failed(app: Flask) -> None:
    job = upload_and_wait(app, [("bad.pdf", NOT_A_PDF), ("empty.md", b"")])
    assert job["state"] == "failed"
    assert [f["stage"] for f in job["files"]] == ["failed", "failed"]
    assert all(f["error"] for f in job["files"])


# --- cancel -----------------------------------------------------------------------------------------


def test_a_cancelled_queued_job_never_runs(
    gated: tuple[Flask, GatedEmbedder], tmp_path: Path
) -> None:
    app, emb = gated
    client = app.test_client()
    first = post_files(client, [("a.md", ADAPTERS)]).json["job"]["id"]
    emb.wait_arrival()
    queued = post_files(client, [("pears.md", PEARS)]).json["job"]["id"]
    cancelled = client.post(f"{API}/jobs/{queued}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json["state"] == "cancelled" and cancelled.json["finished_at"]
    assert [f["stage"] for f in cancelled.json["files"]] == ["cancelled"]
    emb.open()
    assert wait_job(app, first)["state"] == "done"
    later = post_files(client, [("later.md", SERVING)]).json["job"]["id"]
    assert wait_job(app, later)["state"] == "done"  # the worker went past the cancelled job
    snap = job_of(client, queued)
    assert snap["state"] == "cancelled" and snap["started_at"] is None
    assert "pears.md" not in {r["name"] for r in rows(client)}
    assert not any("Pear" in t for call in emb.calls for t in call)  # never read, never embedded
    assert not (tmp_path / "store" / "uploads" / "pears.md").exists()


def test_a_running_job_stops_when_cancelled(gated: tuple[Flask, GatedEmbedder]) -> None:
    app, emb = gated
    client = app.test_client()
    job_id = post_files(client, [("a.md", ADAPTERS), ("b.md", SERVING)]).json["job"]["id"]
    emb.wait_arrival()  # both files' passages are in this one embedding call
    resp = client.post(f"{API}/jobs/{job_id}/cancel")
    assert resp.status_code == 200 and resp.json["state"] in ("running", "cancelled")
    emb.open()
    job = wait_job(app, job_id)
    assert job["state"] == "cancelled" and job["finished_at"]
    stages = {f["name"]: f["stage"] for f in job["files"]}
    assert "cancelled" in stages.values(), stages
    stored = {r["name"]: r for r in rows(client)}
    for name, stage in stages.items():
        assert (name in stored) == (stage == "done"), (name, stage)
    assert len(emb.calls) == 1  # stopped before the graph stage embedded anything
    assert all(r["status"] == "graph_pending" for r in stored.values())
    # the next job runs, and brings the graph up to date for what the cancelled one wrote
    later = upload_and_wait(app, [("pears.md", PEARS)])
    assert later["state"] == "done"
    assert {r["status"] for r in rows(client)} == {"ready"}


def test_cancelling_a_finished_job_changes_nothing(app: Flask) -> None:
    job = upload_and_wait(app, [("pears.md", PEARS)])
    resp = app.test_client().post(f"{API}/jobs/{job['id']}/cancel")
    assert resp.status_code == 200 and resp.json == job


# --- retry --------------------------------------------------------------------------------------------


def test_retry_runs_a_new_job_over_the_failed_files(app: Flask) -> None:
    client = app.test_client()
    first = upload_and_wait(app, [("bad.pdf", NOT_A_PDF), ("pears.md", PEARS)])
    resp = client.post(f"{API}/jobs/{first['id']}/retry")
    assert resp.status_code == 202
    retry = resp.json["job"]
    assert retry["id"] != first["id"]
    assert [(f["name"], f["stage"]) for f in retry["files"]] == [("bad.pdf", "queued")]
    again = wait_job(app, retry["id"])
    assert again["started_at"] is not None  # it ran, over the kept upload
    assert again["files"][0]["stage"] == "failed"
    assert again["files"][0]["error"] == first["files"][0]["error"]
    assert [j["id"] for j in client.get(f"{API}/jobs").json["jobs"]] == [retry["id"], first["id"]]
    assert job_of(client, first["id"]) == first  # the first job's record is kept as it was


def test_retry_after_the_store_was_busy_ingests_the_file(app: Flask) -> None:
    client = app.test_client()
    with HeldWriter(app):
        job = upload_and_wait(app, [("pears.md", PEARS)])
    assert job["state"] == "failed"
    assert "another writer" in job["error"] and job["files"][0]["error"] == job["error"]
    retry = client.post(f"{API}/jobs/{job['id']}/retry").json["job"]
    done = wait_job(app, retry["id"])
    assert done["state"] == "done" and done["files"][0]["stage"] == "done"
    assert [r["name"] for r in rows(client, status="ready")] == ["pears.md"]


def test_a_job_with_nothing_failed_has_nothing_to_retry(app: Flask) -> None:
    job = upload_and_wait(app, [("pears.md", PEARS)])
    resp = app.test_client().post(f"{API}/jobs/{job['id']}/retry")
    assert resp.status_code == 409 and resp.json["error"]["code"] == "nothing_to_retry"
    assert len(app.test_client().get(f"{API}/jobs").json["jobs"]) == 1


def test_a_file_ingested_by_its_retry_is_no_longer_listed_failed(app: Flask) -> None:
    client = app.test_client()
    with HeldWriter(app):
        job = upload_and_wait(app, [("pears.md", PEARS)])
    wait_job(app, client.post(f"{API}/jobs/{job['id']}/retry").json["job"]["id"])
    assert [(r["name"], r["status"]) for r in rows(client)] == [("pears.md", "ready")]


# --- re-upload and re-ingest ----------------------------------------------------------------------------


def test_the_same_upload_again_is_unchanged_and_new_content_updates_the_document(
    app: Flask, tmp_path: Path
) -> None:
    client = app.test_client()
    first = upload_and_wait(app, [("notes/a.md", PEARS)])["files"][0]
    same = upload_and_wait(app, [("notes/a.md", PEARS)])["files"][0]
    assert same["stage"] == "unchanged"
    assert (same["doc_id"], same["chunks"]) == (first["doc_id"], first["chunks"])

    changed = b"# Apple orchards\n\nApple trees need a cold winter to fruit.\n"
    updated = upload_and_wait(app, [("notes/a.md", changed)])["files"][0]
    assert updated["stage"] == "done" and updated["doc_id"] != first["doc_id"]
    listed = rows(client)
    assert [(r["id"], r["name"]) for r in listed] == [(updated["doc_id"], "a.md")]  # no duplicate
    assert listed[0]["source"] == str((tmp_path / "store/uploads/notes/a.md").resolve())
    chunks = client.get(f"{API}/documents/{updated['doc_id']}").json["chunks"]
    assert "Apple trees" in chunks[0]["text"]
    assert client.get(f"{API}/documents/{first['doc_id']}").status_code == 404
    assert (tmp_path / "store/uploads/notes/a.md").read_bytes() == changed
    hits = client.post(f"{API}/retrieve", json={"question": "pear trees"}).json["sources"]
    assert all("Pear" not in h["text"] for h in hits)  # the old text is gone from retrieval


def test_reingest_reads_the_stored_upload_again(app: Flask, tmp_path: Path) -> None:
    client = app.test_client()
    first = upload_and_wait(app, [("pears.md", PEARS)])["files"][0]
    before = rows(client)[0]

    resp = client.post(f"{API}/documents/{first['doc_id']}/reingest")
    assert resp.status_code == 202
    assert [(f["name"], f["stage"]) for f in resp.json["job"]["files"]] == [("pears.md", "queued")]
    forced = wait_job(app, resp.json["job"]["id"])["files"][0]
    assert forced["stage"] == "done"  # read again although unchanged
    assert forced["doc_id"] == first["doc_id"]
    assert rows(client)[0]["ingested_at"] > before["ingested_at"]

    # the upload changed on disk (edited in place): a re-ingest picks the new text up
    Path(before["source"]).write_bytes(b"# Plum orchards\n\nPlum trees flower before pears.\n")
    again = client.post(f"{API}/documents/{first['doc_id']}/reingest").json["job"]["id"]
    new = wait_job(app, again)["files"][0]
    assert new["stage"] == "done" and new["doc_id"] != first["doc_id"]
    (row,) = rows(client)
    assert row["id"] == new["doc_id"] and row["title"] == "Plum orchards"


def test_reingest_of_an_upload_gone_from_disk_is_404(app: Flask) -> None:
    client = app.test_client()
    doc_id = upload_and_wait(app, [("pears.md", PEARS)])["files"][0]["doc_id"]
    Path(rows(client)[0]["source"]).unlink()
    resp = client.post(f"{API}/documents/{doc_id}/reingest")
    assert resp.status_code == 404 and "no longer" in resp.json["error"]["message"]
    assert len(client.get(f"{API}/jobs").json["jobs"]) == 1


# --- metadata ------------------------------------------------------------------------------------------

META = {"team": "ml", "年份": "2024", "reviewed": "true"}


def test_metadata_of_an_upload_is_kept_and_shown(app: Flask) -> None:
    import json

    client = app.test_client()
    job = upload_and_wait(
        app, [("a.md", ADAPTERS), ("b.md", SERVING)], metadata=json.dumps(META, ensure_ascii=False)
    )
    upload_and_wait(app, [("pears.md", PEARS)])
    by_name = {r["name"]: r for r in rows(client)}
    assert by_name["a.md"]["metadata"] == META and by_name["b.md"]["metadata"] == META
    assert by_name["pears.md"]["metadata"] == {}
    doc_a = job["files"][0]["doc_id"]
    assert client.get(f"{API}/documents/{doc_a}").json["document"]["metadata"] == META

    wait_job(app, client.post(f"{API}/documents/{doc_a}/reingest").json["job"]["id"])
    assert {r["name"]: r for r in rows(client)}["a.md"]["metadata"] == META  # kept

    upload_and_wait(app, [("a.md", ADAPTERS)], metadata='{"team": "infra"}')
    by_name = {r["name"]: r for r in rows(client)}
    assert by_name["a.md"]["metadata"] == {"team": "infra"}  # a new upload's metadata wins
    assert by_name["b.md"]["metadata"] == META


def test_metadata_is_stored_with_the_document_and_filters_retrieval(app: Flask) -> None:
    client = app.test_client()
    upload_and_wait(app, [("a.md", ADAPTERS)], metadata='{"team": "ml", "year": 2024, "ok": true}')
    upload_and_wait(app, [("b.md", SERVING)], metadata='{"team": "infra"}')
    with app.app_context():
        from web.workspace import current

        by_name = {d.name: d for d in current().engine.documents()}
    assert by_name["a.md"].metadata == {"team": "ml", "year": "2024", "ok": "true"}
    for flt, expected in [
        ({"metadata": {"team": "infra"}}, {"b.md"}),
        ({"metadata": {"team": ["ml", "infra"]}}, {"a.md", "b.md"}),
        ({"metadata": {"team": "ml", "year": 2024}}, {"a.md"}),
        ({"metadata": {"ok": True}}, {"a.md"}),
        ({"metadata": {"team": "nobody"}}, set()),
    ]:
        r = client.post(
            f"{API}/retrieve", json={"question": "adapters serving", "k": 10, "filters": flt}
        )
        assert r.status_code == 200, r.json
        assert {s["document"].rsplit("/", 1)[-1] for s in r.json["sources"]} == expected, flt
    listed = client.get(f"{API}/documents", query_string={"where": ["team=ml", "team=infra"]})
    assert sorted(r["name"] for r in listed.json["documents"]) == ["a.md", "b.md"]
    listed = client.get(f"{API}/documents", query_string={"where": ["team=infra", "ok=true"]})
    assert listed.json["documents"] == []
    bad = client.get(f"{API}/documents", query_string={"where": "team"})
    assert bad.status_code == 400 and "key=value" in bad.json["error"]["message"]


@pytest.mark.parametrize(
    "metadata",
    ['{"tags": ["a", "b"]}', '{"nested": {"ok": true}}', '{"": "x"}', '{"k": null}'],
    ids=["list", "object", "empty-key", "null"],
)
def test_metadata_that_a_filter_could_not_match_is_refused_and_nothing_is_saved(
    app: Flask, metadata: str
) -> None:
    client = app.test_client()
    r = post_files(client, [("a.md", ADAPTERS)], metadata=metadata)
    assert r.status_code == 400 and r.json["error"]["code"] == "bad_request", r.json
    assert rows(client) == []
    with app.app_context():
        from web.workspace import current

        assert not any(current().uploads.rglob("*.md"))


def test_metadata_of_a_failed_file_is_shown_on_its_row(app: Flask) -> None:
    upload_and_wait(app, [("bad.pdf", NOT_A_PDF)], metadata='{"source": "scanner"}')
    (row,) = rows(app.test_client(), status="failed")
    assert row["metadata"] == {"source": "scanner"}


def test_the_deleted_row_is_the_documents_row(app: Flask) -> None:
    client = app.test_client()
    job = upload_and_wait(app, [("a.md", ADAPTERS)], metadata='{"team": "ml"}')
    (listed,) = rows(client)
    assert listed["metadata"] == {"team": "ml"} and listed["entities"] > 0
    deleted = client.delete(f"{API}/documents/{job['files'][0]['doc_id']}").json["deleted"]
    assert deleted == [listed]


def test_a_deleted_documents_metadata_does_not_come_back(app: Flask) -> None:
    client = app.test_client()
    job = upload_and_wait(app, [("a.md", ADAPTERS)], metadata='{"team": "ml"}')
    assert client.delete(f"{API}/documents/{job['files'][0]['doc_id']}").status_code == 200
    upload_and_wait(app, [("a.md", SERVING)])
    assert rows(client)[0]["metadata"] == {}


def test_staging_folders_are_removed_once_the_job_took_the_files(
    app: Flask, tmp_path: Path
) -> None:
    upload_and_wait(app, [("docs/sub/a.md", ADAPTERS), ("b.md", SERVING)])
    incoming = tmp_path / "store" / "uploads" / ".incoming"
    assert not incoming.exists() or list(incoming.iterdir()) == []


def test_a_bad_new_version_leaves_the_good_file_and_its_document(
    app: Flask, tmp_path: Path
) -> None:
    """Bad input loses nothing: an upload of a known name that does not parse fails, and the
    file the store's document came from is still there (re-ingest still works)."""
    client = app.test_client()
    good = upload_and_wait(app, [("notes/a.md", PEARS)])["files"][0]
    bad = upload_and_wait(app, [("notes/a.md", b"   \n")])
    assert bad["files"][0]["stage"] == "failed" and bad["files"][0]["error"]
    stored = tmp_path / "store/uploads/notes/a.md"
    assert stored.read_bytes() == PEARS
    assert [r["id"] for r in rows(client) if r["id"]] == [good["doc_id"]]
    assert not list(stored.parent.glob(".*previous*")), "the kept copy is gone once put back"
    again = client.post(f"{API}/documents/{good['doc_id']}/reingest").json["job"]
    assert wait_job(app, again["id"])["files"][0]["stage"] == "done"
    # the failed upload waits for a retry, which reads it (and fails the same way)
    retried = client.post(f"{API}/jobs/{bad['id']}/retry").json["job"]
    assert wait_job(app, retried["id"])["files"][0]["stage"] == "failed"
    assert stored.read_bytes() == PEARS


def test_a_good_new_version_drops_the_kept_copy(app: Flask, tmp_path: Path) -> None:
    upload_and_wait(app, [("a.md", PEARS)])
    upload_and_wait(app, [("a.md", b"# Apples\n\nApple trees need a cold winter.\n")])
    uploads = tmp_path / "store/uploads"
    assert not [p for p in uploads.rglob("*") if "previous" in p.name]


def test_a_new_server_sweeps_uploads_staged_by_an_earlier_one(tmp_path: Path) -> None:
    left = tmp_path / "store/uploads/.incoming/0123abcd/a.md"
    left.parent.mkdir(parents=True)
    left.write_bytes(PEARS)
    a = make_engine_app(tmp_path)
    try:
        assert not (tmp_path / "store/uploads/.incoming").exists()
    finally:
        a.extensions["rag"].close()
