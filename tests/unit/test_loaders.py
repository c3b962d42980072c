"""Loaders on real files built in tmp_path: structure comes back, bad files raise typed errors."""

from __future__ import annotations

import importlib.util
import io
import random
from pathlib import Path

import docx
import pptx
import pytest
from fpdf import FPDF
from pptx.util import Inches
from pypdf import PdfReader, PdfWriter

from ingest.errors import (
    CorruptDocument,
    DocumentError,
    EmptyDocument,
    EncryptedDocument,
    FileTooLarge,
    MissingDependency,
    UnsupportedFormat,
)
from ingest.loaders import SUPPORTED_EXTENSIONS, load_document
from ingest.loaders.cleaning import clean_text, join_lines
from ingest.loaders.pdf import clean_page_text
from ingest.loaders.text import decode_text
from ingest.types import Block

LORA_ZH = "低秩适配（LoRA）冻结原始权重，只训练两个小矩阵。"
QUANT_ZH = "量化把权重压到四位整数，推理时再反量化，显存占用大约减少四分之三。"
PAGE_ONE = (
    "Low-rank adaptation freezes the pretrained weights and trains two small matrices whose "
    "product is added to the frozen layer. This keeps the number of trainable parameters tiny."
    "\n\nA second paragraph on the first page."
)
PAGE_TWO = "Quantisation stores weights as four-bit integers and dequantises them on the fly."


class _NumberedPDF(FPDF):
    def footer(self) -> None:
        self.set_y(-15)
        self.set_font("Helvetica", size=9)
        self.cell(0, 10, str(self.page_no()), align="C")


def make_pdf(path: Path, pages: list[str], title: str | None = None) -> Path:
    pdf = _NumberedPDF()
    if title:
        pdf.set_title(title)
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    path.write_bytes(bytes(pdf.output()))
    return path


def texts(blocks: list[Block], kind: str | None = None) -> list[str]:
    return [b.text for b in blocks if kind is None or b.kind == kind]


# --- dispatch and guards -------------------------------------------------------------------


def test_supported_extensions() -> None:
    expected = {".pdf", ".docx", ".pptx", ".html", ".htm", ".md", ".markdown", ".txt"}
    assert expected == SUPPORTED_EXTENSIONS


def test_unsupported_extension(tmp_path: Path) -> None:
    path = tmp_path / "data.xyz"
    path.write_text("some text")
    with pytest.raises(UnsupportedFormat) as err:
        load_document(path)
    message = str(err.value)
    assert message.startswith("data.xyz:")
    assert ".xyz" in message and ".pdf" in message and ".docx" in message


def test_extension_is_case_insensitive(tmp_path: Path) -> None:
    path = tmp_path / "NOTES.TXT"
    path.write_text("upper-case extension", encoding="utf-8")
    assert texts(load_document(path).blocks) == ["upper-case extension"]


def test_file_over_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text("word " * 300_000)  # 1.5 MB
    with pytest.raises(FileTooLarge) as err:
        load_document(path, max_bytes=2**20)
    assert str(err.value) == "big.txt: file is 1.4 MB, over the 1.0 MB limit"
    assert load_document(path, max_bytes=2 * 2**20).blocks  # under the limit it loads


@pytest.mark.parametrize("name", ["empty.txt", "empty.pdf", "empty.docx", "empty.md"])
def test_zero_byte_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"")
    with pytest.raises(EmptyDocument, match=rf"^{name}: "):
        load_document(path)


def test_whitespace_only_file_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "blank.md"
    path.write_text("\n\n   \t\n\u200b\n")
    with pytest.raises(EmptyDocument, match=r"^blank\.md: contains no text"):
        load_document(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match=r"^nowhere\.pdf: file not found"):
        load_document(tmp_path / "nowhere.pdf")


def test_unknown_parser_is_a_value_error(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("text")
    with pytest.raises(ValueError, match="unknown parser"):
        load_document(path, parser="tika")


@pytest.mark.skipif(
    importlib.util.find_spec("unstructured") is not None, reason="unstructured is installed"
)
def test_unstructured_parser_missing(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("text")
    with pytest.raises(MissingDependency, match=r"pip install 'rag-kg\[unstructured\]'"):
        load_document(path, parser="unstructured")


# --- PDF -----------------------------------------------------------------------------------


def test_pdf_pages_title_and_cleaning(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "lora.pdf", [PAGE_ONE, PAGE_TWO], title="Adapter Notes")
    doc = load_document(path)
    assert doc.title == "Adapter Notes"
    assert doc.format == "pdf"
    assert {b.page for b in doc.blocks} == {1, 2}
    first_page = texts([b for b in doc.blocks if b.page == 1])
    # fpdf wrapped the long paragraph over several lines; they come back as one paragraph.
    assert first_page == [PAGE_ONE.split("\n\n")[0], "A second paragraph on the first page."]
    assert texts([b for b in doc.blocks if b.page == 2]) == [PAGE_TWO]
    # The footer page numbers are dropped, not left as paragraphs of their own.
    assert not any(b.text.strip().isdigit() for b in doc.blocks)


def test_pdf_title_falls_back_to_file_name(tmp_path: Path) -> None:
    doc = load_document(make_pdf(tmp_path / "untitled-notes.pdf", [PAGE_TWO]))
    assert doc.title == "untitled-notes"


def test_pdf_text_cleaning() -> None:
    raw = "Low-rank adap-\ntation   freezes the\nweights of 2020-\n2021 models.\n\n12\n"
    assert clean_page_text(raw) == ["Low-rank adaptation freezes the weights of 2020-2021 models."]
    assert clean_page_text("7\nBody text stays.\nPage 7 of 9") == ["Body text stays."]
    assert clean_page_text("第 3 页\n低秩适配冻结\n原始权重。") == ["低秩适配冻结原始权重。"]


def test_pdf_random_bytes_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "junk.pdf"
    path.write_bytes(random.Random(0).randbytes(5000))
    with pytest.raises(CorruptDocument, match=r"^junk\.pdf: "):
        load_document(path)


def test_pdf_truncated_is_corrupt(tmp_path: Path) -> None:
    data = make_pdf(tmp_path / "whole.pdf", [PAGE_ONE, PAGE_TWO]).read_bytes()
    path = tmp_path / "cut.pdf"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptDocument, match=r"^cut\.pdf: "):
        load_document(path)


def _encrypt(source: Path, target: Path, user: str, owner: str) -> Path:
    writer = PdfWriter(clone_from=source)
    writer.encrypt(user_password=user, owner_password=owner)
    buffer = io.BytesIO()
    writer.write(buffer)
    target.write_bytes(buffer.getvalue())
    return target


def test_pdf_with_user_password_is_encrypted_error(tmp_path: Path) -> None:
    plain = make_pdf(tmp_path / "plain.pdf", [PAGE_TWO])
    path = _encrypt(plain, tmp_path / "secret.pdf", user="hunter2", owner="owner")
    assert PdfReader(path).is_encrypted
    with pytest.raises(EncryptedDocument, match=r"^secret\.pdf: .*password"):
        load_document(path)


def test_pdf_with_only_owner_password_opens(tmp_path: Path) -> None:
    plain = make_pdf(tmp_path / "plain.pdf", [PAGE_TWO])
    path = _encrypt(plain, tmp_path / "locked.pdf", user="", owner="owner")
    assert PdfReader(path).is_encrypted
    assert texts(load_document(path).blocks) == [PAGE_TWO]


# --- plain text and encodings --------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030", "utf-16"])
def test_chinese_text_encodings_round_trip(tmp_path: Path, encoding: str) -> None:
    original = f"{LORA_ZH}\n\n{QUANT_ZH}\n"
    data = original.encode(encoding)
    if encoding == "utf-16":
        assert data[:2] in (b"\xff\xfe", b"\xfe\xff")  # Python writes a BOM
    assert decode_text(data, "zh.txt") == original
    path = tmp_path / "zh.txt"
    path.write_bytes(data)
    assert texts(load_document(path).blocks) == [LORA_ZH, QUANT_ZH]


def test_gb18030_only_characters(tmp_path: Path) -> None:
    original = f"{LORA_ZH}{QUANT_ZH}𠮷字只在 GB18030 里能编码。"
    data = original.encode("gb18030")
    with pytest.raises(UnicodeEncodeError):
        original.encode("gbk")
    assert decode_text(data, "rare.txt") == original


def test_text_wrapped_lines_are_joined(tmp_path: Path) -> None:
    path = tmp_path / "wrapped.txt"
    path.write_text("Low-rank adaptation\nfreezes  the weights.\n\n低秩适配\n冻结权重。\n", "utf-8")
    doc = load_document(path)
    assert texts(doc.blocks) == ["Low-rank adaptation freezes the weights.", "低秩适配冻结权重。"]
    assert doc.title == "wrapped"
    assert doc.metadata["encoding"] == "utf-8"


@pytest.mark.parametrize(
    "data",
    [
        bytes(range(256)) * 50,
        random.Random(0).randbytes(4096),
        bytes(b for b in random.Random(0).randbytes(4096) if b),  # no NUL byte to give it away
    ],
    ids=["byte-ramp", "random", "random-without-nul"],
)
def test_binary_junk_with_txt_name(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "x.txt"
    path.write_bytes(data)
    with pytest.raises(CorruptDocument) as err:
        load_document(path)
    assert str(err.value) == "x.txt: looks like binary data, not text"


def test_cleaning_helpers() -> None:
    decomposed = "cafe\u0301"  # e + combining acute: NFC makes it one character
    assert clean_text(f"  {decomposed}\u200b \t\tsoft\u00adware  \n\n\n\nＡＢＣ　全角 ") == (
        "café software\n\nＡＢＣ　全角"
    )
    assert join_lines(["低秩适配", "冻结权重", "with LoRA", "adapters"]) == (
        "低秩适配冻结权重 with LoRA adapters"
    )


# --- Markdown ------------------------------------------------------------------------------

MARKDOWN = """\
---
layout: post
title: "Fine-tuning notes"
---
# LoRA

Intro paragraph that
wraps over two lines.

## Setup

```bash
# not a heading
pip install peft
```

| Method | Trainable params |
|--------|-----------------:|
| LoRA   | 0.1%             |
| Full   | 100%             |

- freeze the base model
    - keep it in four bits
- train the [adapters](https://example.org)
1. merge them back

### Details
Text under details.

# Results
Done.
"""


def test_markdown_structure(tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    path.write_text(MARKDOWN, encoding="utf-8")
    doc = load_document(path)
    assert doc.title == "Fine-tuning notes"  # front matter
    by_kind = {kind: texts(doc.blocks, kind) for kind in ("heading", "code", "table", "list")}
    assert by_kind["heading"] == ["LoRA", "Setup", "Details", "Results"]
    assert by_kind["code"] == ["# not a heading\npip install peft"]
    assert by_kind["table"] == ["Method | Trainable params\nLoRA | 0.1%\nFull | 100%"]
    assert by_kind["list"] == [
        "- freeze the base model\n  - keep it in four bits\n- train the adapters\n- merge them back"
    ]
    code = next(b for b in doc.blocks if b.kind == "code")
    assert code.heading_path == ("LoRA", "Setup")
    details = next(b for b in doc.blocks if b.text == "Text under details.")
    assert details.heading_path == ("LoRA", "Setup", "Details")
    assert next(b for b in doc.blocks if b.text == "Done.").heading_path == ("Results",)
    assert "Intro paragraph that wraps over two lines." in texts(doc.blocks, "paragraph")
    assert "layout: post" not in " ".join(texts(doc.blocks))


def test_markdown_title_from_first_h1_and_unclosed_fence(tmp_path: Path) -> None:
    path = tmp_path / "readme.markdown"
    path.write_text(f"Preface.\n\n## Minor\n\n# {LORA_ZH}\n\n~~~\n# still code\n", "utf-8")
    doc = load_document(path)
    assert doc.title == LORA_ZH
    assert texts(doc.blocks, "code") == ["# still code"]


# --- HTML ----------------------------------------------------------------------------------


def test_html_main_content_and_structure(tmp_path: Path) -> None:
    page = """<!doctype html><html><head><title>LoRA explained</title>
    <style>p { color: red }</style><script>var tracking = "secret";</script></head>
    <body><header>Site banner</header>
    <nav><a href="/">Home</a> <a href="/about">About us</a></nav>
    <main><article><header><h1>Low-rank adaptation</h1></header>
      <p>LoRA freezes   the <b>original</b>
      weights.</p>
      <h2>Cost</h2><p>Line one<br>line two</p>
      <ul><li>cheap</li><li>fast<ul><li>very fast</li></ul></li></ul>
      <table><tr><th>Method</th><th>Params</th></tr><tr><td>LoRA</td><td>0.1%</td></tr></table>
      <pre>x = 1
    y = 2</pre>
      <div>Loose text in a div.</div>
    </article></main>
    <aside>Related posts</aside><footer>Copyright</footer></body></html>"""
    path = tmp_path / "page.html"
    path.write_text(page, encoding="utf-8")
    doc = load_document(path)
    assert doc.title == "LoRA explained"
    all_text = "\n".join(texts(doc.blocks))
    for boilerplate in ("Home", "About us", "Site banner", "Related posts", "Copyright", "secret"):
        assert boilerplate not in all_text
    assert texts(doc.blocks, "heading") == ["Low-rank adaptation", "Cost"]
    assert "LoRA freezes the original weights." in texts(doc.blocks, "paragraph")
    assert "Line one line two" in texts(doc.blocks, "paragraph")
    assert texts(doc.blocks, "list") == ["- cheap\n- fast\n  - very fast"]
    table = next(b for b in doc.blocks if b.kind == "table")
    assert table.text == "Method | Params\nLoRA | 0.1%"
    assert table.heading_path == ("Low-rank adaptation", "Cost")
    assert texts(doc.blocks, "code") == ["x = 1\n    y = 2"]
    assert "Loose text in a div." in texts(doc.blocks, "paragraph")


def test_html_meta_charset_gbk(tmp_path: Path) -> None:
    page = f'<html><head><meta charset="gbk"></head><body><h1>低秩适配</h1><p>{LORA_ZH}</p>'
    path = tmp_path / "zh.htm"
    path.write_bytes(page.encode("gbk"))
    doc = load_document(path)
    assert doc.title == "低秩适配"  # no <title>: the first h1
    assert texts(doc.blocks, "paragraph") == [LORA_ZH]


# --- Word ----------------------------------------------------------------------------------


def test_docx_structure(tmp_path: Path) -> None:
    document = docx.Document()
    document.core_properties.title = "Adapter handbook"
    document.add_heading("Methods", level=1)
    document.add_paragraph("Intro to the methods.")
    document.add_heading("Low-rank adaptation", level=2)
    document.add_paragraph(LORA_ZH)
    document.add_paragraph("freeze the base", style="List Bullet")
    document.add_paragraph("train two matrices", style="List Bullet")
    table = document.add_table(rows=3, cols=3)
    for row, values in enumerate([("Method", "Params", "Memory"), ("LoRA", "0.1%", "low")]):
        for col, value in enumerate(values):
            table.cell(row, col).text = value
    table.cell(2, 0).merge(table.cell(2, 2)).text = "merged across the row"
    document.add_paragraph("After the table.")
    document.add_heading("Results", level=1)
    document.add_paragraph("It works.")
    path = tmp_path / "handbook.docx"
    document.save(str(path))

    doc = load_document(path)
    assert doc.title == "Adapter handbook"
    assert texts(doc.blocks, "heading") == ["Methods", "Low-rank adaptation", "Results"]
    lora = next(b for b in doc.blocks if b.text == LORA_ZH)
    assert lora.kind == "paragraph"
    assert lora.heading_path == ("Methods", "Low-rank adaptation")
    assert texts(doc.blocks, "list") == ["- freeze the base\n- train two matrices"]
    table_block = next(b for b in doc.blocks if b.kind == "table")
    assert table_block.text.split("\n") == [
        "Method | Params | Memory",
        "LoRA | 0.1% | low",
        "merged across the row",  # one merged cell, not repeated three times
    ]
    # Body order: the table sits between the list and the paragraph written after it.
    kinds = [b.kind for b in doc.blocks]
    assert kinds.index("table") == kinds.index("list") + 1
    assert doc.blocks[kinds.index("table") + 1].text == "After the table."
    assert next(b for b in doc.blocks if b.text == "It works.").heading_path == ("Results",)


def test_docx_title_falls_back_to_heading(tmp_path: Path) -> None:
    document = docx.Document()
    document.add_heading("Quantisation primer", level=0)  # the "Title" style
    document.add_paragraph(QUANT_ZH)
    path = tmp_path / "primer.docx"
    document.save(str(path))
    doc = load_document(path)
    assert doc.title == "Quantisation primer"
    assert doc.blocks[0] == Block("heading", "Quantisation primer", ("Quantisation primer",))


@pytest.mark.parametrize("name", ["broken.docx", "broken.pptx"])
def test_office_random_bytes_is_corrupt(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(random.Random(1).randbytes(3000))
    with pytest.raises(CorruptDocument, match=rf"^{name}: .*not a valid zip archive"):
        load_document(path)


def test_html_binary_junk_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "junk.html"
    path.write_bytes(random.Random(2).randbytes(3000))
    with pytest.raises(CorruptDocument, match=r"^junk\.html: looks like binary data"):
        load_document(path)


def test_office_truncated_zip_is_corrupt(tmp_path: Path) -> None:
    document = docx.Document()
    document.add_paragraph("soon to be cut")
    whole = tmp_path / "whole.docx"
    document.save(str(whole))
    path = tmp_path / "cut.docx"
    path.write_bytes(whole.read_bytes()[:2000])
    with pytest.raises(CorruptDocument, match=r"^cut\.docx: "):
        load_document(path)


# --- PowerPoint ----------------------------------------------------------------------------


def test_pptx_slides(tmp_path: Path) -> None:
    deck = pptx.Presentation()
    first = deck.slides.add_slide(deck.slide_layouts[1])  # title and content
    first.shapes.title.text = "Why LoRA"
    body = first.placeholders[1].text_frame
    body.text = "few parameters"
    body.add_paragraph().text = "no inference latency"
    box = first.shapes.add_textbox(Inches(1), Inches(6), Inches(6), Inches(1))
    box.text_frame.text = LORA_ZH
    first.notes_slide.notes_text_frame.text = "Mention the rank r."
    second = deck.slides.add_slide(deck.slide_layouts[5])  # title only
    second.shapes.title.text = "Numbers"
    grid = second.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(6), Inches(1)).table
    for (row, col), value in {
        (0, 0): "Rank",
        (0, 1): "Accuracy",
        (1, 0): "8",
        (1, 1): "91%",
    }.items():
        grid.cell(row, col).text = value
    deck.slides.add_slide(deck.slide_layouts[6])  # blank slide: contributes nothing
    third = deck.slides.add_slide(deck.slide_layouts[6])
    third.shapes.add_textbox(Inches(1), Inches(1), Inches(6), Inches(1)).text_frame.text = "End."
    path = tmp_path / "talk.pptx"
    deck.save(str(path))

    doc = load_document(path)
    assert doc.title == "Why LoRA"  # python-pptx's placeholder "PowerPoint Presentation" ignored
    assert doc.metadata["slides"] == "4"
    assert [(b.kind, b.text, b.page, b.heading_path) for b in doc.blocks] == [
        ("heading", "Why LoRA", 1, ("Why LoRA",)),
        ("list", "- few parameters\n- no inference latency", 1, ("Why LoRA",)),
        ("paragraph", LORA_ZH, 1, ("Why LoRA",)),
        ("paragraph", "Notes: Mention the rank r.", 1, ("Why LoRA",)),
        ("heading", "Numbers", 2, ("Numbers",)),
        ("table", "Rank | Accuracy\n8 | 91%", 2, ("Numbers",)),
        ("paragraph", "End.", 4, ()),  # a slide without a title does not inherit one
    ]
