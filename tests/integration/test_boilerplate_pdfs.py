"""Chunk hygiene on multi-page PDFs: a generated manual and a real one (GNU Libtasn1's).

Tables of contents and index pages are marked (not deleted) and ranked after real passages;
running headers and footers are cut from the page text and kept in the document's metadata.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.hygiene import BOILERPLATE_KINDS
from ingest.loaders.pdf import load_pdf
from rag.cli.main import main
from rag.engine import Engine
from tests.manual_pdf import TITLE, write_manual

LIBTASN1 = Path(__file__).resolve().parent.parent / "fixtures" / "libtasn1.pdf"


@pytest.fixture
def manual(tmp_path: Path) -> Path:
    (tmp_path / "docs").mkdir()
    return write_manual(tmp_path / "docs" / "manual.pdf")


def test_running_headers_are_cut_from_the_text_and_kept_in_metadata(manual: Path) -> None:
    doc = load_pdf(manual)
    headers = doc.metadata["running_headers"]
    assert f"{TITLE} - Installation" in headers and f"{TITLE} - Troubleshooting" in headers
    body = " ".join(b.text for b in doc.blocks)
    for chapter in ("Installation", "Calibration", "Maintenance", "Troubleshooting"):
        assert f"{TITLE} - {chapter}" not in body  # each heads two pages
    assert "Page 3" not in body
    assert "Lubricate the gearbox every 400 operating hours" in body


def test_contents_and_index_are_marked_and_listed(
    fake_engine: Engine, manual: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("RAG_EMBEDDER", "hashing")
    fake_engine.ingest([manual])
    [doc] = fake_engine.documents()
    kinds = {c.page: c.kind for c in fake_engine.chunks(doc.id)}
    assert kinds[2] == "toc" and kinds[11] == "index"
    assert {kinds[p] for p in range(3, 11)} == {"paragraph"}

    store = str(fake_engine.settings.store_dir)
    assert main(["docs", "manual.pdf", "--chunks", "--store", store]) == 0
    out = capsys.readouterr().out
    assert "[TOC boilerplate] p.2" in out and "[INDEX boilerplate] p.11" in out
    assert "[paragraph] p.5  Calibration, part 1." in out
    assert main(["docs", "*manual*", "--chunks", "--json", "--store", store]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    marked = [c["page"] for c in listed["chunks"] if c["boilerplate"]]
    assert marked == [2, 11] and len(listed["chunks"]) == listed["n_chunks"]


@pytest.mark.parametrize("method", ["bm25", "dense", "hybrid"])
def test_boilerplate_ranks_after_every_passage(
    fake_engine: Engine, manual: Path, method: str
) -> None:
    fake_engine.ingest([manual])
    # every word of this question is in the contents and the index as well as in the passage
    hits = fake_engine.retrieve("calibration torque sensor", k=10, method=method)
    kinds = [h.chunk.kind for h in hits]
    real = [k for k in kinds if k not in BOILERPLATE_KINDS]
    assert kinds[: len(real)] == real, kinds  # no boilerplate ahead of a passage
    assert hits[0].chunk.page in (5, 6)


def test_a_question_only_boilerplate_answers_still_gets_it(
    fake_engine: Engine, manual: Path
) -> None:
    fake_engine.ingest([manual])
    hits = fake_engine.retrieve("Safety notes", k=3, method="bm25")
    assert [h.chunk.kind for h in hits] == ["toc"]  # the only chunk holding those words


def test_the_libtasn1_manual(fake_engine: Engine, tmp_path: Path) -> None:
    doc = load_pdf(LIBTASN1)
    assert doc.metadata["pages"] == "36"
    assert doc.metadata["running_headers"].split(" | ") == [
        "Chapter 2: ASN.1 structure handling 3", "Chapter 3: Utilities 6",
        "Chapter 4: Function reference 9", "Appendix A: Copying Information 25",
    ]  # fmt: skip
    body = "\n".join(b.text for b in doc.blocks)
    assert "Chapter 4: Function reference" not in body
    fake_engine.ingest([LIBTASN1])
    [info] = fake_engine.documents()
    chunks = fake_engine.chunks(info.id)
    marked = {c.page for c in chunks if c.kind in BOILERPLATE_KINDS}
    assert marked == {3, 35, 36}  # the contents page and the two index pages, nothing else
    assert {c.kind for c in chunks if c.page == 3} == {"toc"}
    assert next(c.kind for c in chunks if c.page == 35) == "index"  # "Concept Index ..."
    for method in ("bm25", "hybrid"):
        hits = fake_engine.retrieve("asn1_der_coding function DER encoding", k=5, method=method)
        assert all(h.chunk.kind not in BOILERPLATE_KINDS for h in hits), method
