"""Fuzz every loader: each input must give a document or one typed, one-line error, in bounds.

Inputs start from real valid files (made here with fpdf2, python-docx and python-pptx, and the
demo corpus's own PDF, Word, PowerPoint, HTML, Markdown and text files) and are mutated by
hypothesis: truncated, bytes flipped, ranges cut, copied or spliced; zip members dropped,
replaced by billion-laughs and external-entity XML, by 2 GB zip bombs, or given a corrupt
central directory; PDF cross-reference tables broken, objects nested 100,000 deep, page trees
that loop, flate bombs; HTML nested 100,000 deep, full of scripts or 20 MB attributes;
Markdown and text in invalid and mixed encodings.

Each input is loaded by `load_document` in a worker process that resets its peak RSS before
the input and reads it after (Linux /proc/self/clear_refs), so every input is measured alone;
an input past the time bound has the worker killed and counts as a failure. Passing: a
ParsedDocument with text, or a DocumentError subclass whose message is one line naming the
file. Anything else — another exception, a hang, a memory peak over the bound — is a failure,
and its input is kept under --keep for a rerun.

    python scripts/fuzz_loaders.py                      # 10,200 inputs, ~1,700 per loader
    python scripts/fuzz_loaders.py --per-loader 50      # a quick pass
    python scripts/fuzz_loaders.py --only html,pdf --keep /tmp/fuzz-failures
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import re
import select
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "corpora" / "demo"
LOADERS = ("pdf", "docx", "pptx", "html", "md", "txt")
TIME_BOUND_S = 10.0  # per input, loaded alone
MEMORY_BOUND_MB = 768.0  # peak RSS of the worker while loading one input


# --- valid seed files ------------------------------------------------------------------------


def _pdf_seed() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_title("Adapter notes")
    pdf.set_font("helvetica", size=11)
    for page in range(3):
        pdf.add_page()
        pdf.multi_cell(
            0,
            6,
            f"Page {page + 1}. Low-rank adapters freeze the base weights "
            "and train two small matrices whose product is added to a layer. " * 4,
        )
        pdf.cell(0, 6, f"- {page + 1} -")  # a page number for the cleaner to drop
    return bytes(pdf.output())  # fmt: skip


def _docx_seed() -> bytes:
    import docx

    doc = docx.Document()
    doc.core_properties.title = "Quantisation notes"
    doc.add_heading("Quantisation", 1)
    doc.add_paragraph("Four-bit weights are dequantised on the fly during the forward pass.")
    doc.add_heading("Formats", 2)
    for item in ("NF4", "INT8", "FP8"):
        doc.add_paragraph(item, style="List Bullet")
    table = doc.add_table(rows=3, cols=2)
    for r, row in enumerate(table.rows):
        for c, cell in enumerate(row.cells):
            cell.text = f"r{r}c{c}"
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def _pptx_seed() -> bytes:
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    for n in range(3):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = f"Serving {n}"
        slide.placeholders[1].text_frame.text = "Batch requests\nPage the KV cache"
        slide.notes_slide.notes_text_frame.text = f"Speaker note {n}."
    table = deck.slides.add_slide(deck.slide_layouts[5]).shapes.add_table(
        2, 2, Inches(1), Inches(2), Inches(4), Inches(1)
    )
    table.table.cell(0, 0).text = "GPU"
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


@cache
def seeds() -> dict[str, list[bytes]]:
    found: dict[str, list[bytes]] = {fmt: [] for fmt in LOADERS}
    for path in sorted(DEMO.iterdir()):
        fmt = path.suffix.lower().lstrip(".")
        if fmt in found:
            found[fmt].append(path.read_bytes())
    found["pdf"].append(_pdf_seed())
    found["docx"].append(_docx_seed())
    found["pptx"].append(_pptx_seed())
    found["txt"].append("LoRA 低秩适配 freezes weights.\n\nQLoRA uses NF4.\n".encode("utf-16"))
    return found


# --- hostile payloads ------------------------------------------------------------------------

BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE w:document [<!ENTITY a "ha">'
    + b"".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(9)
    )
    + b']><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
    b"<w:body><w:p><w:r><w:t>&j;</w:t></w:r></w:p></w:body></w:document>"
)
XXE = (
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
    b"<w:body><w:p><w:r><w:t>&e;</w:t></w:r></w:p></w:body></w:document>"
)


@cache
def deflated_zeros(size: int) -> bytes:
    """`size` zero bytes, deflated (a 2 GB member is 2 MB in the zip)."""
    z = zlib.compressobj(1, zlib.DEFLATED, -15)  # level 1: zeros shrink 1000:1 anyway, fast
    block = bytes(1 << 20)
    parts = [z.compress(block) for _ in range(size >> 20)]
    return b"".join(parts) + z.flush()


def zip_bomb_member(archive: bytes, name: str, size: int) -> bytes:
    """`archive` (which lacks `name`) with member `name` added: `size` zero bytes, deflated
    and written raw, so that nothing here ever holds the unpacked bytes."""
    return _append_raw_member(archive, name, deflated_zeros(size), size, _zero_crc(size))


@cache
def flate_bomb(size: int) -> bytes:
    return zlib.compress(bytes(size), 1)


@cache
def _zero_crc(size: int) -> int:
    crc = 0
    block = bytes(1 << 20)
    for _ in range(size >> 20):
        crc = zlib.crc32(block, crc)
    return crc


def _append_raw_member(archive: bytes, name: str, data: bytes, size: int, crc: int) -> bytes:
    import struct

    zf = zipfile.ZipFile(io.BytesIO(archive))
    infos = zf.infolist()
    end = zf.start_dir
    entries = archive[:end]
    central = archive[end:]
    cd_end = central.rfind(b"PK\x05\x06")
    cd = central[:cd_end]
    fname = name.encode()
    offset = len(entries)
    local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(data),
                        size & 0xFFFFFFFF, len(fname), 0) + fname  # fmt: skip
    entry = struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc,
                        len(data), size & 0xFFFFFFFF, len(fname), 0, 0, 0, 0, 0,
                        offset) + fname  # fmt: skip
    body = entries + local + data
    new_cd = cd + entry
    eocd = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(infos) + 1, len(infos) + 1,
                       len(new_cd), len(body), 0)  # fmt: skip
    return body + new_cd + eocd


def deep_xml(tag: bytes, depth: int) -> bytes:
    return (
        b"<"
        + tag
        + b">" * 1
        + (b"<" + tag + b">") * depth
        + b"x"
        + (b"</" + tag + b">") * (depth + 1)
    )


# --- mutations -------------------------------------------------------------------------------


def _byte_ops(draw: st.DrawFn, data: bytes) -> bytes:
    """Generic damage: truncate, flip, cut, copy, splice, fill."""
    for _ in range(draw(st.integers(1, 3))):
        n = len(data)
        if n == 0:
            break
        op = draw(st.sampled_from(["truncate", "flip", "cut", "copy", "insert", "fill"]))
        a = draw(st.integers(0, n - 1))
        b = draw(st.integers(a, min(n, a + 4096)))
        if op == "truncate":
            data = data[:a]
        elif op == "flip":
            k = draw(st.integers(1, 16))
            buf = bytearray(data)
            for j in range(k):
                buf[(a + j * 37) % n] ^= draw(st.integers(1, 255))
            data = bytes(buf)
        elif op == "cut":
            data = data[:a] + data[b:]
        elif op == "copy":
            data = data[:b] + data[a:b] * draw(st.integers(1, 8)) + data[b:]
        elif op == "insert":
            data = data[:a] + draw(st.binary(min_size=1, max_size=64)) + data[a:]
        else:
            data = data[:a] + bytes([draw(st.integers(0, 255))]) * (b - a) + data[b:]
    return data


def _zip_ops(draw: st.DrawFn, archive: bytes) -> bytes:
    """Office-specific damage: parts missing or replaced, bombs, a broken central directory."""
    zf = zipfile.ZipFile(io.BytesIO(archive))
    names = zf.namelist()
    op = draw(st.sampled_from(
        ["drop", "replace", "bomb", "central", "duplicate", "bytes"]
    ))  # fmt: skip
    if op == "bomb":
        xml = [n for n in names if n.endswith(".xml")]
        name = draw(st.sampled_from(xml))
        return zip_bomb_member(
            _without(zf, {name}), name, draw(st.sampled_from([64, 512, 2048])) << 20
        )
    if op == "central":
        cd = archive.rfind(b"PK\x01\x02")
        eocd = archive.rfind(b"PK\x05\x06")
        where = draw(st.sampled_from(["cd", "eocd", "cut"]))
        buf = bytearray(archive)
        if where == "cut":
            return archive[: draw(st.integers(max(cd, 0), len(archive) - 1))]
        start = cd if where == "cd" and cd >= 0 else max(eocd, 0)
        for _ in range(draw(st.integers(1, 8))):
            pos = start + draw(st.integers(0, 40))
            if pos < len(buf):
                buf[pos] = draw(st.integers(0, 255))
        return bytes(buf)
    if op == "bytes":
        return _byte_ops(draw, archive)
    name = draw(st.sampled_from(names))
    if op == "drop":
        return _without(zf, {name})
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in zf.infolist():
            body = zf.read(info)
            if info.filename == name:
                if op == "duplicate":
                    dst.writestr(info.filename, body)
                else:
                    body = draw(st.sampled_from([
                        BILLION_LAUGHS, XXE, b"", b"<not xml", body[: len(body) // 2],
                        deep_xml(b"w:p", 100_000), b"\xff\xfe\x00<", b'<a b="' + b"x" * 5_000_000 + b'"/>',
                        body.replace(b"UTF-8", b"UTF-16"),
                    ]))  # fmt: skip
            dst.writestr(info, body)
    return out.getvalue()


def _without(zf: zipfile.ZipFile, drop: set[str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in zf.infolist():
            if info.filename not in drop:
                dst.writestr(info, zf.read(info))
    return out.getvalue()


def _pdf_ops(draw: st.DrawFn, pdf: bytes) -> bytes:
    op = draw(st.sampled_from(["xref", "startxref", "deep", "loop", "bomb", "length", "bytes"]))
    if op == "xref":
        return pdf.replace(b"xref", b"xrfe", 1)
    if op == "startxref":
        return re.sub(
            rb"startxref\s+\d+", b"startxref\n" + str(draw(st.integers(0, 10**9))).encode(), pdf
        )
    if op == "deep":
        depth = draw(st.sampled_from([1_000, 100_000]))
        return pdf.replace(
            b"/Type /Page\n", b"/Type /Page /X " + b"[" * depth + b"]" * depth + b"\n", 1
        )
    if op == "loop":  # the page tree names itself as its own kid
        return re.sub(rb"/Kids \[[^\]]*\]", b"/Kids [1 0 R 2 0 R 1 0 R]", pdf, count=1)
    if op == "bomb":
        stream = flate_bomb(draw(st.sampled_from([64, 512])) << 20)
        obj = b"\n99 0 obj\n<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream)
        body = pdf.replace(b"/Contents ", b"/Contents 99 0 R /Old ", 1)
        cut = body.rfind(b"xref")
        return body[:cut] + obj + stream + b"\nendstream\nendobj\n" + body[cut:]
    if op == "length":
        return re.sub(rb"/Length \d+", b"/Length " + str(draw(st.integers(0, 2**40))).encode(), pdf)
    return _byte_ops(draw, pdf)


HTML_TAGS = ["div", "p", "span", "ul", "li", "table", "tr", "td", "h2", "pre", "main", "b"]


def _html_ops(draw: st.DrawFn, page: bytes) -> bytes:
    op = draw(st.sampled_from(["deep", "scripts", "attribute", "charset", "brs", "junk", "bytes"]))
    if op == "deep":
        tag = draw(st.sampled_from(HTML_TAGS)).encode()
        depth = draw(st.sampled_from([300, 10_000, 100_000]))
        body = (b"<" + tag + b">") * depth + b"deep text" + (b"</" + tag + b">") * depth
        return b"<html><body>" + body + b"<p>after</p></body></html>"
    if op == "scripts":
        n = draw(st.integers(1, 50_000))
        return page.replace(b"<body", b"<body><script>while(1){}</script>" * n + b"<x", 1)
    if op == "attribute":
        size = draw(st.sampled_from([1_000, 1_000_000, 20_000_000]))
        return page.replace(b"<p", b'<p data-x="' + b"a" * size + b'"', 1)
    if op == "charset":
        charset = draw(st.sampled_from(["utf-16", "gbk", "shift_jis", "x-unknown", "utf-7"]))
        return b'<meta charset="' + charset.encode() + b'">' + page
    if op == "brs":
        return b"<p>" + b"line<br>" * draw(st.integers(1, 100_000)) + b"</p>"
    if op == "junk":
        return draw(st.binary(max_size=2000)) + page[: draw(st.integers(0, len(page)))]
    return _byte_ops(draw, page)


def _text_ops(draw: st.DrawFn, data: bytes, markdown: bool) -> bytes:
    op = draw(st.sampled_from(["encode", "mixed", "invalid", "bom", "line", "bytes", "soup"]))
    text = (
        data.decode("utf-8", "replace")
        if not data.startswith(b"\xff\xfe")
        else data.decode("utf-16")
    )
    if op == "encode":
        enc = draw(st.sampled_from(["utf-16-le", "utf-16", "utf-32", "gbk", "big5", "shift_jis",
                                    "latin-1", "cp1252", "koi8-r", "utf-7"]))  # fmt: skip
        return text.encode(enc, "replace")
    if op == "mixed":
        half = len(text) // 2
        return text[:half].encode("utf-8") + text[half:].encode(
            draw(st.sampled_from(["gbk", "utf-16-le", "latin-1"])), "replace"
        )
    if op == "invalid":
        raw = bytearray(text.encode("utf-8"))
        for _ in range(draw(st.integers(1, 20))):
            raw.insert(
                draw(st.integers(0, len(raw))),
                draw(st.sampled_from([0x80, 0xC0, 0xED, 0xF8, 0xFF, 0x00])),
            )
        return bytes(raw)
    if op == "bom":
        bom = draw(
            st.sampled_from([b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\xff\xfe\x00\x00"])
        )
        return bom + text.encode(draw(st.sampled_from(["utf-8", "gbk", "utf-16-be"])), "replace")
    if op == "line":  # one long line: no newline, maybe no sentence end either
        words = text.split() or ["w"]
        n = draw(st.sampled_from([10_000, 400_000]))
        return " ".join(words[i % len(words)] for i in range(n)).encode()
    if op == "soup" and markdown:
        lines = draw(st.lists(st.sampled_from([
            "```", "~~~~", "# h", "###### deep", "====", "---", "| a | b |", "|---|---|",
            "- item", "      - deeper", " " * 2000 + "- far", "> quote", "---\ntitle: x",
            "1. one", "text line", "", "\t\t- tab", "x" * 100_000,
        ]), max_size=400))  # fmt: skip
        return "\n".join(lines).encode()
    return _byte_ops(draw, data)


@st.composite
def hostile(draw: st.DrawFn, fmt: str) -> bytes:
    """A damaged or hostile file of format `fmt`, from one of its seeds."""
    seed = draw(st.sampled_from(seeds()[fmt]))
    if draw(st.integers(0, 9)) == 0:  # a tenth: the generic damage of any file
        return _byte_ops(draw, seed)
    if fmt in ("docx", "pptx"):
        return _zip_ops(draw, seed)
    if fmt == "pdf":
        return _pdf_ops(draw, seed)
    if fmt == "html":
        return _html_ops(draw, seed)
    return _text_ops(draw, seed, markdown=fmt == "md")


# --- loading each input alone, in bounds -------------------------------------------------------


WORKER = r"""
import json, logging, re, sys, time, traceback, warnings
from pathlib import Path
from ingest.errors import DocumentError
from ingest.loaders import load_document

logging.disable(logging.WARNING)  # parsers log every damaged object they skip
warnings.simplefilter("ignore")
import bs4, docx, pptx, pypdf, charset_normalizer  # noqa: the baseline includes them

def status_mb(key):
    return int(re.search(key + r":\s+(\d+)", open("/proc/self/status").read()).group(1)) / 1024

print(json.dumps({"rss_mb": status_mb("VmRSS")}), flush=True)
for line in sys.stdin:
    path = Path(line.rstrip("\n"))
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak: each input is measured alone
    start = time.perf_counter()
    try:
        doc = load_document(path, max_bytes=200 * 2**20)
        chars = sum(len(b.text) for b in doc.blocks)
        result = {"outcome": "document", "blocks": len(doc.blocks), "chars": chars}
    except DocumentError as e:
        message = str(e)
        ok = "\n" not in message and message.startswith(path.name + ":")
        result = {"outcome": type(e).__name__ if ok else "bad message", "message": message}
    except BaseException as e:
        result = {"outcome": "bug", "message": repr(e)[:300],
                  "traceback": traceback.format_exc()[-2000:]}
    result["seconds"] = time.perf_counter() - start
    result["peak_mb"] = status_mb("VmHWM")
    result["rss_mb"] = status_mb("VmRSS")  # what the parser left behind
    print(json.dumps(result), flush=True)
"""


class Worker:
    """A child process that loads one input at a time; killed and replaced after a hang."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.base_mb = 0.0  # RSS of a fresh worker, every parser imported

    def _start(self) -> subprocess.Popen[str]:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen([sys.executable, "-c", WORKER], env=env, cwd=ROOT, text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
        assert proc.stdout is not None
        self.base_mb = float(json.loads(proc.stdout.readline())["rss_mb"])
        return proc

    def load(self, path: Path, timeout: float) -> dict[str, object]:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = self._start()
        assert self.proc.stdin is not None and self.proc.stdout is not None
        start = time.perf_counter()
        self.proc.stdin.write(f"{path}\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.close()
            return {
                "outcome": "hang" if not ready else "crash",
                "seconds": time.perf_counter() - start,
            }
        result: dict[str, object] = json.loads(line)
        if float(result["rss_mb"]) > self.base_mb + 64:  # type: ignore[arg-type]
            self.close()  # memory kept by the allocator would count against the next input
        return result

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@dataclass
class Tally:
    inputs: int = 0
    distinct: set[str] = field(default_factory=set)
    outcomes: dict[str, int] = field(default_factory=dict)
    examples: dict[str, str] = field(default_factory=dict)  # a message of each error type
    failures: list[dict[str, object]] = field(default_factory=list)
    slowest: tuple[float, str] = (0.0, "")
    peak_mb: tuple[float, str] = (0.0, "")


def failure_of(result: dict[str, object], time_bound: float, memory_bound: float) -> str | None:
    outcome = str(result["outcome"])
    if outcome in ("bug", "hang", "crash", "bad message"):
        return outcome
    if float(result["seconds"]) > time_bound:  # type: ignore[arg-type]
        return f"slow ({float(result['seconds']):.1f} s)"  # type: ignore[arg-type]
    if float(result.get("peak_mb", 0.0)) > memory_bound:  # type: ignore[arg-type]
        return f"memory ({float(result['peak_mb']):.0f} MB)"  # type: ignore[arg-type]
    return None


def _quiet_zip_warnings() -> None:
    import warnings

    warnings.filterwarnings("ignore", "Duplicate name", UserWarning)  # made on purpose


def run_loader(
    fmt: str, count: int, worker: Worker, work: Path, keep: Path | None,
    time_bound: float = TIME_BOUND_S, memory_bound: float = MEMORY_BOUND_MB,
    on_result: Callable[[Tally], None] | None = None, derandomize: bool = False,
) -> Tally:  # fmt: skip
    """Feed `count` hypothesis-made inputs of one format to the worker; tally what came back."""
    tally = Tally()
    _quiet_zip_warnings()

    @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), derandomize=derandomize)  # fmt: skip
    @given(hostile(fmt))
    def feed(data: bytes) -> None:
        digest = hashlib.sha256(data).hexdigest()[:16]
        path = work / f"{fmt}-{digest}.{fmt}"
        path.write_bytes(data)
        result = worker.load(path, timeout=time_bound * 3)
        tally.inputs += 1
        tally.distinct.add(digest)
        outcome = str(result["outcome"])
        tally.outcomes[outcome] = tally.outcomes.get(outcome, 0) + 1
        if "message" in result:
            tally.examples.setdefault(outcome, str(result["message"])[:160])
        seconds, peak = float(result["seconds"]), float(result.get("peak_mb", 0.0))  # type: ignore[arg-type]
        tally.slowest = max(tally.slowest, (seconds, f"{path.name} ({len(data)} bytes)"))
        tally.peak_mb = max(tally.peak_mb, (peak, f"{path.name} ({len(data)} bytes)"))
        problem = failure_of(result, time_bound, memory_bound)
        if problem:
            tally.failures.append(
                {"input": path.name, "size": len(data), "problem": problem, **result}
            )
            if keep is not None:
                keep.mkdir(parents=True, exist_ok=True)
                (keep / path.name).write_bytes(data)
        path.unlink()
        if on_result:
            on_result(tally)

    feed()
    return tally


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-loader", type=int, default=1700, help="inputs per loader")
    ap.add_argument("--only", default=",".join(LOADERS), help="loaders to fuzz")
    ap.add_argument("--keep", type=Path, help="write each failing input here")
    ap.add_argument("--json", type=Path, help="write the tallies here")
    args = ap.parse_args()
    random.seed(0)
    worker = Worker()
    report: dict[str, object] = {}
    total_failures = 0
    try:
        with tempfile.TemporaryDirectory(prefix="rag-fuzz-") as tmp:
            for fmt in [f for f in args.only.split(",") if f]:
                start = time.perf_counter()
                t = run_loader(fmt, args.per_loader, worker, Path(tmp), args.keep)
                total_failures += len(t.failures)
                report[fmt] = {
                    "inputs": t.inputs, "distinct": len(t.distinct), "outcomes": t.outcomes,
                    "examples": t.examples,
                    "failures": t.failures, "slowest_s": [round(t.slowest[0], 2), t.slowest[1]],
                    "peak_rss_mb": [round(t.peak_mb[0], 1), t.peak_mb[1]],
                    "wall_s": round(time.perf_counter() - start, 1),
                }  # fmt: skip
                print(
                    f"{fmt:5} {t.inputs:6} inputs ({len(t.distinct)} distinct)  "
                    f"{len(t.failures)} failures  slowest {t.slowest[0]:.2f} s {t.slowest[1]}  "
                    f"peak RSS {t.peak_mb[0]:.0f} MB {t.peak_mb[1]}\n      {t.outcomes}",
                    flush=True,
                )
                for f in t.failures[:10]:
                    print(f"      FAIL {f['input']}: {f['problem']} {f.get('message', '')}")
    finally:
        worker.close()
    total = sum(int(v["inputs"]) for v in report.values())  # type: ignore[index]
    print(f"total {total} inputs, {total_failures} failures")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 1 if total_failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
