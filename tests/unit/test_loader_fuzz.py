"""Hostile files: every loader gives a document or one typed, one-line error, within a time and
a memory bound, and a batch of them through `rag ingest` costs one line each and nothing else.

The CI subset of scripts/fuzz_loaders.py (which runs 10,000+ inputs): a fixed, derandomized
set of hypothesis-made inputs per loader, each loaded alone in a worker whose peak RSS is reset
before every input, plus the hostile shapes that once broke a loader, each pinned by name.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.errors import CorruptDocument
from ingest.loaders import load_document

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import fuzz_loaders  # noqa: E402

PER_LOADER = 20


@pytest.fixture(scope="module")
def worker() -> Iterator[fuzz_loaders.Worker]:
    w = fuzz_loaders.Worker()
    yield w
    w.close()


@pytest.mark.parametrize("fmt", fuzz_loaders.LOADERS)
def test_hostile_inputs_give_a_document_or_a_typed_error_in_bounds(
    fmt: str, worker: fuzz_loaders.Worker, tmp_path: Path
) -> None:
    tally = fuzz_loaders.run_loader(fmt, PER_LOADER, worker, tmp_path, None, derandomize=True)
    assert tally.failures == []
    assert tally.inputs == PER_LOADER
    assert sum(n for o, n in tally.outcomes.items() if o != "document") > 0  # some were refused
    assert tally.slowest[0] <= fuzz_loaders.TIME_BOUND_S
    assert tally.peak_mb[0] <= fuzz_loaders.MEMORY_BOUND_MB


def test_a_page_nested_100000_deep_keeps_its_text(tmp_path: Path) -> None:
    """A browser shows this page; the loader once failed it with 'maximum recursion depth'."""
    path = tmp_path / "deep.html"
    depth = 100_000
    nested = "<div><span>" * depth + "Deep text survives." + "</span></div>" * depth
    path.write_text(f"<html><body><h1>Top</h1>{nested}<p>After it.</p></body></html>")
    doc = load_document(path)
    assert [(b.kind, b.text) for b in doc.blocks] == [
        ("heading", "Top"),
        ("paragraph", "Deep text survives."),
        ("paragraph", "After it."),
    ]


def test_a_page_of_100000_line_breaks_reads_in_seconds(tmp_path: Path) -> None:
    """bs4's replace_with searched the parent for each <br>: minutes, before the loader
    stopped editing the tree."""
    path = tmp_path / "brs.html"
    path.write_text("<p>" + "line<br>" * 100_000 + "</p><script>x()</script>" * 20_000)
    start = time.perf_counter()
    [block] = load_document(path).blocks
    assert time.perf_counter() - start < 20
    assert block.text == " ".join(["line"] * 100_000)


def test_a_zip_bomb_is_refused_before_it_is_unpacked(tmp_path: Path) -> None:
    seed = fuzz_loaders.seeds()["docx"][-1]
    import io
    import zipfile

    zf = zipfile.ZipFile(io.BytesIO(seed))
    bomb = fuzz_loaders.zip_bomb_member(
        fuzz_loaders._without(zf, {"word/document.xml"}), "word/document.xml", 1 << 30
    )
    path = tmp_path / "bomb.docx"
    path.write_bytes(bomb)
    tracemalloc.start()
    with pytest.raises(CorruptDocument, match=r"unpacks to 1,0\d\d MB, over the 512 MB"):
        load_document(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 20 * 2**20


def test_a_batch_of_hostile_files_costs_one_line_each_and_ingests_the_rest(tmp_path: Path) -> None:
    """Through the real ingest path: `rag ingest FOLDER` with the hashing embedder."""
    docs = tmp_path / "docs"
    docs.mkdir()
    seeds = fuzz_loaders.seeds()
    hostile = {
        "bomb.docx": fuzz_loaders.zip_bomb_member(b"PK\x05\x06" + bytes(18), "word/document.xml", 1 << 30),
        "cut.pptx": seeds["pptx"][-1][:5000],
        "junk.pdf": os.urandom(3000),
        "binary.txt": bytes(range(256)) * 40,
        "empty.md": b"",
        "laughs.docx": _with_member(seeds["docx"][-1], "word/document.xml", fuzz_loaders.BILLION_LAUGHS),
    }  # fmt: skip
    for name, data in hostile.items():
        (docs / name).write_bytes(data)
    good = {"notes.md": "# Notes\n\nLoRA freezes the base weights.\n", "deep.html":
            "<div>" * 50_000 + "QLoRA stores NF4 weights." + "</div>" * 50_000}  # fmt: skip
    for name, text in good.items():
        (docs / name).write_text(text, "utf-8")
    env = {
        **os.environ, "PYTHONPATH": str(ROOT), "HOME": str(tmp_path / "home"),
        "RAG_EMBEDDER": "hashing", "RAG_STORE": str(tmp_path / "kb"), "RAG_GRAPH": "off",
    }  # fmt: skip
    run = subprocess.run(
        [sys.executable, "-m", "rag.cli.main", "ingest", str(docs)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    skipped = [line for line in run.stderr.splitlines() if line.startswith("skipped: ")]
    assert sorted(line.split()[1].rstrip(":") for line in skipped) == sorted(hostile)
    assert "2 added, 0 updated, 0 unchanged, 6 failed" in run.stderr
    assert "Traceback" not in run.stderr
    listing = subprocess.run(
        [sys.executable, "-m", "rag.cli.main", "docs", "--json"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    names = sorted(d["name"] for d in json.loads(listing.stdout))
    assert names == sorted(good)


def _with_member(archive: bytes, name: str, body: bytes) -> bytes:
    import io
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(archive))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info, body if info.filename == name else src.read(info))
    return out.getvalue()
