#!/usr/bin/env python3
"""Build the binary / non-UTF-8 documents of the demo corpus from plain-text sources.

Run from the repository root:

    .venv/bin/python corpora/demo/_build/build_binaries.py

Inputs (in this folder, UTF-8, a tiny markdown-like format described below):

    quantization_guide.docx.src          -> ../quantization_guide.docx      (python-docx)
    gpu_memory_sizing.pdf.src            -> ../gpu_memory_sizing.pdf        (fpdf2, 4 pages)
    inference_deployment.pptx.src        -> ../inference_deployment.pptx    (python-pptx)
    distributed_training_gb18030.txt.src -> ../distributed_training_gb18030.txt (GB18030 bytes)

Source format (one construct per line):

    # text          title (docx: Title style, pdf: big heading, pptx: slide title)
    ## text         heading level 1 (docx: Heading 1)
    ### text        heading level 2 (docx: Heading 2)
    - text          bullet; two leading spaces per extra nesting level ("  - text")
    | a | b |       table row; consecutive rows form one table, the first row is the header,
                    a |---| separator row is skipped
    $ text          formula line (pdf: monospaced)
    > text          subtitle (pptx title slide, pdf subtitle)
    @page           pdf only: start a new page
    === title       pptx only: start a title slide
    === content     pptx only: start a title-and-content slide
    notes: text     pptx only: speaker notes of the current slide
    other lines     paragraph text; consecutive lines are joined with a space

The outputs are deterministic: document metadata uses a fixed date and the ZIP containers
(docx/pptx) are rewritten with fixed member timestamps, so rebuilding yields identical bytes
for the same library versions.
"""

from __future__ import annotations

import datetime as dt
import io
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE.parent

FIXED_DATE = dt.datetime(2025, 1, 1, 0, 0, 0)
FIXED_DATE_UTC = FIXED_DATE.replace(tzinfo=dt.timezone.utc)
AUTHOR = "rag-kg project"
LICENSE_NOTE = "CC BY 4.0"


# --------------------------------------------------------------------------- parsing


@dataclass
class Block:
    kind: str  # title, h1, h2, bullet, table, formula, subtitle, page, para, slide, notes
    text: str = ""
    level: int = 0
    rows: list[list[str]] = field(default_factory=list)


def _split_row(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def parse(src: str) -> list[Block]:
    blocks: list[Block] = []
    para: list[str] = []

    def flush_para() -> None:
        if para:
            blocks.append(Block("para", " ".join(s.strip() for s in para)))
            para.clear()

    for raw in src.splitlines():
        line = raw.rstrip()
        stripped = line.lstrip()
        if not stripped:
            flush_para()
            continue
        if stripped.startswith("|"):
            flush_para()
            cells = _split_row(stripped)
            if all(set(c) <= set("-: ") for c in cells):
                continue  # separator row
            if blocks and blocks[-1].kind == "table":
                blocks[-1].rows.append(cells)
            else:
                blocks.append(Block("table", rows=[cells]))
            continue
        flush_para()
        if line.startswith("=== "):
            blocks.append(Block("slide", line[4:].strip()))
        elif line == "@page":
            blocks.append(Block("page"))
        elif line.startswith("### "):
            blocks.append(Block("h2", line[4:].strip()))
        elif line.startswith("## "):
            blocks.append(Block("h1", line[3:].strip()))
        elif line.startswith("# "):
            blocks.append(Block("title", line[2:].strip()))
        elif line.startswith("> "):
            blocks.append(Block("subtitle", line[2:].strip()))
        elif line.startswith("$ "):
            blocks.append(Block("formula", line[2:].strip()))
        elif line.startswith("notes: "):
            blocks.append(Block("notes", line[len("notes: "):].strip()))
        elif stripped.startswith("- "):
            indent = len(line) - len(stripped)
            blocks.append(Block("bullet", stripped[2:].strip(), level=indent // 2))
        else:
            para.append(line)
            continue
    flush_para()
    return blocks


# --------------------------------------------------------------------------- helpers


def normalize_zip(path: Path) -> None:
    """Rewrite a ZIP container with fixed timestamps and attributes (byte-stable output)."""
    with zipfile.ZipFile(path) as zin:
        members = [(info.filename, zin.read(info.filename)) for info in zin.infolist()]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zout:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3
            zout.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    path.write_bytes(buf.getvalue())


def set_core_properties(cp, title: str, subject: str, keywords: str) -> None:
    cp.title = title
    cp.subject = subject
    cp.author = AUTHOR
    cp.last_modified_by = AUTHOR
    cp.keywords = keywords
    cp.comments = f"Demo corpus document, text licensed {LICENSE_NOTE}."
    cp.category = "demo corpus"
    cp.revision = 1
    cp.created = FIXED_DATE
    cp.modified = FIXED_DATE
    cp.last_printed = FIXED_DATE


# --------------------------------------------------------------------------- DOCX


def build_docx(src: Path, out: Path) -> None:
    from docx import Document
    from docx.shared import Pt

    blocks = parse(src.read_text(encoding="utf-8"))
    doc = Document()
    title = next(b.text for b in blocks if b.kind == "title")
    for b in blocks:
        if b.kind == "title":
            doc.add_heading(b.text, level=0)  # "Title" style
        elif b.kind == "h1":
            doc.add_heading(b.text, level=1)
        elif b.kind == "h2":
            doc.add_heading(b.text, level=2)
        elif b.kind == "bullet":
            doc.add_paragraph(b.text, style="List Bullet" if b.level == 0 else "List Bullet 2")
        elif b.kind == "para":
            doc.add_paragraph(b.text)
        elif b.kind == "table":
            ncols = len(b.rows[0])
            table = doc.add_table(rows=0, cols=ncols)
            table.style = "Table Grid"
            for r, row in enumerate(b.rows):
                cells = table.add_row().cells
                for c, value in enumerate(row):
                    cells[c].text = value
                    if r == 0:
                        for run in cells[c].paragraphs[0].runs:
                            run.font.bold = True
                            run.font.size = Pt(10)
        else:
            raise ValueError(f"unsupported block in docx source: {b.kind}")
    set_core_properties(
        doc.core_properties, title, "LLM quantization", "quantization, GGUF, GPTQ, AWQ, INT8, INT4"
    )
    doc.save(str(out))
    normalize_zip(out)


# --------------------------------------------------------------------------- PDF


def build_pdf(src: Path, out: Path) -> None:
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    blocks = parse(src.read_text(encoding="utf-8"))
    title = next(b.text for b in blocks if b.kind == "title")

    class _PDF(FPDF):
        def footer(self) -> None:  # page numbers; drawn in the bottom margin
            self.set_y(-12)
            self.set_font("Helvetica", "", 8)
            self.cell(0, 5, f"GPU memory sizing - page {self.page_no()} of {{nb}}", align="C")

    pdf = _PDF(format="A4", unit="mm")
    pdf.set_margins(20, 18, 20)
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.set_title(title)
    pdf.set_author(AUTHOR)
    pdf.set_subject("GPU memory sizing for LLM inference and training")
    pdf.set_keywords("GPU memory, KV cache, optimizer states, quantization")
    pdf.set_creator("corpora/demo/_build/build_binaries.py")
    pdf.set_producer("fpdf2")
    pdf.set_creation_date(FIXED_DATE_UTC)

    width = pdf.w - pdf.l_margin - pdf.r_margin
    for b in blocks:
        if b.kind == "page":
            pdf.add_page()
        elif b.kind == "title":
            pdf.set_font("Helvetica", "B", 18)
            pdf.multi_cell(width, 9, b.text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        elif b.kind == "subtitle":
            pdf.set_font("Helvetica", "I", 11)
            pdf.multi_cell(width, 6, b.text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
        elif b.kind in ("h1", "h2"):
            pdf.ln(2)
            pdf.set_font("Helvetica", "B", 14 if b.kind == "h1" else 12)
            pdf.multi_cell(width, 8, b.text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        elif b.kind == "para":
            pdf.set_font("Helvetica", "", 10.5)
            pdf.multi_cell(width, 5.4, b.text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
        elif b.kind == "formula":
            pdf.set_font("Courier", "", 9.5)
            pdf.multi_cell(width, 5.4, b.text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
        elif b.kind == "bullet":
            pdf.set_font("Helvetica", "", 10.5)
            indent = 4 + 5 * b.level
            pdf.set_x(pdf.l_margin + indent)
            pdf.multi_cell(width - indent, 5.4, "- " + b.text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(0.6)
        elif b.kind == "table":
            pdf.set_font("Helvetica", "", 10)
            with pdf.table(
                width=width,
                line_height=6,
                headings_style=FontFace(emphasis="BOLD"),
                first_row_as_headings=True,
            ) as table:
                for row in b.rows:
                    r = table.row()
                    for value in row:
                        r.cell(value)
            pdf.ln(3)
        else:
            raise ValueError(f"unsupported block in pdf source: {b.kind}")

    pdf.output(str(out))


# --------------------------------------------------------------------------- PPTX


def build_pptx(src: Path, out: Path) -> None:
    from pptx import Presentation
    from pptx.util import Pt

    blocks = parse(src.read_text(encoding="utf-8"))
    prs = Presentation()
    deck_title = next(b.text for b in blocks if b.kind == "title")
    slide = None
    body = None
    first_para = True
    for b in blocks:
        if b.kind == "slide":
            layout = prs.slide_layouts[0 if b.text == "title" else 1]
            slide = prs.slides.add_slide(layout)
            body = slide.placeholders[1].text_frame
            first_para = True
        elif slide is None:
            raise ValueError("pptx source must start with '=== title' or '=== content'")
        elif b.kind == "title":
            slide.shapes.title.text = b.text
        elif b.kind in ("subtitle", "bullet", "para"):
            p = body.paragraphs[0] if first_para else body.add_paragraph()
            first_para = False
            p.text = b.text
            p.level = b.level
            if b.kind == "bullet":
                for run in p.runs:
                    run.font.size = Pt(18 if b.level == 0 else 14)
        elif b.kind == "notes":
            slide.notes_slide.notes_text_frame.text = b.text
        else:
            raise ValueError(f"unsupported block in pptx source: {b.kind}")
    set_core_properties(
        prs.core_properties, deck_title, "LLM inference deployment", "llama.cpp, vLLM, batching, serving"
    )
    prs.save(str(out))
    normalize_zip(out)


# --------------------------------------------------------------------------- GB18030 text


def build_gb18030_txt(src: Path, out: Path) -> None:
    text = src.read_text(encoding="utf-8")
    # Keep the text inside GBK so that both GBK and GB18030 decoders read it back.
    text.encode("gbk")
    with open(out, "w", encoding="gb18030", newline="\n") as fh:
        fh.write(text)


# --------------------------------------------------------------------------- main

TARGETS = [
    ("quantization_guide.docx.src", "quantization_guide.docx", build_docx),
    ("gpu_memory_sizing.pdf.src", "gpu_memory_sizing.pdf", build_pdf),
    ("inference_deployment.pptx.src", "inference_deployment.pptx", build_pptx),
    ("distributed_training_gb18030.txt.src", "distributed_training_gb18030.txt", build_gb18030_txt),
]


def main() -> int:
    for src_name, out_name, builder in TARGETS:
        src, out = HERE / src_name, OUT_DIR / out_name
        builder(src, out)
        print(f"built {out.relative_to(OUT_DIR.parent.parent)}  ({out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
