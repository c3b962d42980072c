"""Ingest memory does not grow with the file: a one-line text file 8× larger peaks at about
the same RSS (each ingest runs alone in a child process; its ru_maxrss is its own peak).

The child embeds with a 16-dimensional fake (a hash of the text), so that the vector cache,
which is an in-memory FAISS index of 4 × dim bytes a chunk by design, weighs nothing here and
what is measured is reading, chunking, indexing and writing. Before the streaming ingest the
8× file took 230 MB more than the small one; scripts/measure_ingest_memory.py measures the
real CLI at 10 to 200 MB.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from measure_ingest_memory import write_text  # noqa: E402

CHILD = """
import hashlib, sys
from pathlib import Path
import numpy as np
from ingest.embedding import HashingEmbedder, normalise_rows
from ingest.pipeline import Ingestor
from ingest.store import EmbeddedStore

class HashedVectors:
    name, dim = "hashed-16", 16
    count_tokens = staticmethod(HashingEmbedder().count_tokens)

    def _one(self, text):
        digest = hashlib.blake2b(text.encode(), digest_size=16).digest()
        return np.frombuffer(digest, dtype=np.uint8).astype(np.float32) + 1.0

    def embed_passages(self, texts):
        return normalise_rows(np.stack([self._one(t) for t in texts]) if texts else np.zeros((0, 16)))

    def embed_query(self, text):
        return normalise_rows(self._one(text)[None, :])[0]

emb = HashedVectors()
store = EmbeddedStore(Path(sys.argv[2]), embedder_name=emb.name, dim=emb.dim)
report = Ingestor(store, emb).ingest_paths([Path(sys.argv[1])])
assert report.count("added") == 1, report.results
print(report.chunks_written)
"""


def _peak_mb(file: Path, store: Path) -> tuple[float, int]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(file), str(store)], env=env, cwd=ROOT,
                                stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
        _, status, usage = os.wait4(proc.pid, 0)
        out.seek(0)
        output = out.read().decode()
    assert os.waitstatus_to_exitcode(status) == 0, output
    return usage.ru_maxrss / 1024, int(output.split()[-1])


def test_a_file_eight_times_larger_takes_no_more_memory(tmp_path: Path) -> None:
    peaks = {}
    for mb in (2, 16):
        file = tmp_path / f"{mb}.txt"
        write_text(file, mb, "oneline")
        peaks[mb] = _peak_mb(file, tmp_path / f"kb{mb}")
        file.unlink()
    (small, small_chunks), (large, large_chunks) = peaks[2], peaks[16]
    assert large_chunks > 7 * small_chunks  # the large file really is chunked in full
    assert large - small < 25, f"peak RSS {small:.0f} MB at 2 MB, {large:.0f} MB at 16 MB"


def test_the_graph_build_does_not_hold_every_extraction(tmp_path: Path) -> None:
    """With the graph on, a 4 MB file against a 1 MB one: each fast extraction's payload is
    about ten times its chunk's text, and a build that loaded them all (as before) grew by
    about 65 MB per MB of text (219 MB at 2 MB, 416 MB at 5 MB). Streamed, the growth left is
    the resolved graph itself: 115 MB at 1 MB, 159 MB at 4 MB when this was written."""
    from measure_ingest_memory import ingest_peak

    peaks = {}
    for mb in (1, 4):
        file = tmp_path / f"{mb}.txt"
        write_text(file, mb, "oneline")
        row = ingest_peak(file, tmp_path / f"kb{mb}", "fast", {})
        assert row.status == "added", row
        peaks[mb] = row.peak_rss_mb
    assert peaks[4] - peaks[1] < 100, (
        f"peak RSS {peaks[1]:.0f} MB at 1 MB, {peaks[4]:.0f} MB at 4 MB"
    )
