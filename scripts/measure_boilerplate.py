"""Chunk hygiene on a real manual (issue 18): rank of the answering chunk, and boilerplate in the
top 5, with the marks ignored and with them applied; e5, English and Chinese questions.

    python scripts/measure_boilerplate.py
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ingest.hygiene import BOILERPLATE_KINDS
from rag.engine import Engine
from rag.settings import Settings

QS = [  # question, a phrase of the answering passage
    ("Which program decodes a DER-encoded file using an ASN.1 definition?", "asn1Decoding"),
    ("How do I create the structure tree from an ASN.1 definition file?", "asn1_parser2tree"),
    ("What does the ?LAST name refer to?", "?LAST"),
    ("Which ASN.1 types are not handled by this version?", "REAL type"),
    ("哪个程序可以根据 ASN.1 定义解码 DER 编码的文件？", "asn1Decoding"),
    ("如何从 ASN.1 定义文件创建结构树？", "asn1_parser2tree"),
    ("?LAST 这个名字指的是什么？", "?LAST"),
    ("这个版本不支持哪些 ASN.1 类型？", "REAL type"),
]
store = Path(tempfile.mkdtemp()) / "kb"
with Engine(Settings.from_env(store_dir=store, graph="off")) as e:
    e.ingest([Path("tests/fixtures/libtasn1.pdf")])
    for method in ("dense", "bm25", "hybrid"):
        rows = []
        for q, phrase in QS:
            raw = (
                e.store.chunks.hits(e.store.dense.search(e.embedder.embed_query(q), 20))
                if method == "dense"
                else None
            )
            if method == "bm25":
                raw = e.store.chunks.hits(e.store.keywords.search(q, 20))
            if method == "hybrid":
                import rag.retrieval as r

                saved = r.content_first
                r.content_first = lambda hits, k: hits[:k]
                raw = e.retrieve(q, k=20, method="hybrid")
                r.content_first = saved
            marked = e.retrieve(q, k=20, method=method)

            def rank(hits, phrase=phrase):
                return next(
                    (
                        i + 1
                        for i, h in enumerate(hits)
                        if phrase in h.chunk.text and h.chunk.kind not in BOILERPLATE_KINDS
                    ),
                    None,
                )

            boiler = sum(h.chunk.kind in BOILERPLATE_KINDS for h in raw[:5])
            rows.append((q[:30], rank(raw), boiler, rank(marked)))
        print(method)
        for row in rows:
            print("   ", row)
