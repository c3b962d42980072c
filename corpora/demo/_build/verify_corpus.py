#!/usr/bin/env python3
"""Read every demo-corpus document back and check it against questions.jsonl.

Run from the repository root after build_binaries.py:

    .venv/bin/python corpora/demo/_build/verify_corpus.py

Checks:
  * every supported file can be read with the same libraries the product uses
    (python-docx, python-pptx, pypdf, BeautifulSoup, GB18030 decoding);
  * each document has 300-1200 words / CJK characters;
  * the GB18030 text is not valid UTF-8 (so it really exercises encoding detection);
  * the HTML pages have <meta charset="utf-8">, <header>, <nav>, <main>, <footer>;
  * nothing under _build/ has a supported document extension;
  * every answer string of every question occurs literally in the extracted text of its
    source file (for the PDF: on the page named in "location"; for slides: on that slide);
  * answers of the "only in this file" questions occur in no other file (and, for the PDF,
    on no other page; for the DOCX table question, only inside the table);
  * unanswerable questions have answers [] and source null, and their probe terms occur
    nowhere in the corpus.
Exits non-zero on the first failed group of checks and prints a summary table.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

CORPUS = Path(__file__).resolve().parent.parent
SUPPORTED = {".pdf", ".docx", ".pptx", ".html", ".htm", ".md", ".markdown", ".txt"}

# questions whose answer must be found only in their source file (and location)
EXCLUSIVE = {"q02", "q03", "q04", "q05", "q06", "q07"}
# probe terms that must be absent from the corpus for the unanswerable questions
ABSENT_PROBES = {"q13": ["Gaudi"], "q14": ["175B", "学习率", "learning rate"]}

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
LATIN_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.'%+-]*")


def size_units(text: str) -> int:
    """Words for English, characters for Chinese: CJK characters + Latin words."""
    return len(CJK.findall(text)) + len(LATIN_WORD.findall(CJK.sub(" ", text)))


def language(text: str) -> str:
    cjk = len(CJK.findall(text))
    latin = len(LATIN_WORD.findall(CJK.sub(" ", text)))
    if cjk > latin:
        simplified_only = sum(text.count(c) for c in "这为个们说对时会发经来")
        traditional_only = sum(text.count(c) for c in "這為個們說對時會發經來")
        return "zh-Hant" if traditional_only > simplified_only else "zh-Hans"
    return "en"


def read_text_file(path: Path) -> tuple[str, str]:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return raw.decode("gb18030"), "gb18030"


def extract(path: Path) -> dict:
    """Return {'text', 'units': [(label, text)], 'extra': {...}} for one document."""
    ext = path.suffix.lower()
    info: dict = {"units": [], "extra": {}}
    if ext in (".md", ".markdown", ".txt"):
        text, enc = read_text_file(path)
        info["extra"]["encoding"] = enc
        info["units"] = [("all", text)]
    elif ext in (".html", ".htm"):
        from bs4 import BeautifulSoup

        raw = path.read_bytes().decode("utf-8")
        soup = BeautifulSoup(raw, "html.parser")
        meta = soup.find("meta", attrs={"charset": True})
        info["extra"]["charset"] = meta["charset"] if meta else None
        info["extra"]["tags"] = {t: soup.find(t) is not None for t in ("header", "nav", "main", "footer")}
        main = soup.find("main")
        info["units"] = [("main", main.get_text(" ", strip=True)), ("page", soup.get_text(" ", strip=True))]
    elif ext == ".docx":
        import docx

        d = docx.Document(str(path))
        paras = "\n".join(p.text for p in d.paragraphs)
        tables = "\n".join(
            " | ".join(c.text for c in row.cells) for t in d.tables for row in t.rows
        )
        info["extra"]["styles"] = sorted({p.style.name for p in d.paragraphs})
        info["extra"]["tables"] = len(d.tables)
        info["extra"]["created"] = str(d.core_properties.created)
        info["units"] = [("paragraphs", paras), ("tables", tables)]
    elif ext == ".pptx":
        import pptx

        prs = pptx.Presentation(str(path))
        for i, slide in enumerate(prs.slides, 1):
            parts = [sh.text_frame.text for sh in slide.shapes if sh.has_text_frame]
            if slide.has_notes_slide:
                notes = slide.notes_slide.notes_text_frame.text
                if notes:
                    parts.append(notes)
                    info["extra"].setdefault("notes_on", []).append(i)
            info["units"].append((f"slide {i}", "\n".join(parts)))
        info["extra"]["created"] = str(prs.core_properties.created)
    elif ext == ".pdf":
        from pypdf import PdfReader

        reader = PdfReader(str(path))
        for i, page in enumerate(reader.pages, 1):
            info["units"].append((f"page {i}", page.extract_text()))
        info["extra"]["creation_date"] = (reader.metadata or {}).get("/CreationDate")
    else:
        raise ValueError(path)
    if ext in (".html", ".htm"):
        info["text"] = info["units"][1][1]
    else:
        info["text"] = "\n".join(t for _, t in info["units"])
    return info


def main() -> int:
    failures: list[str] = []

    def check(cond: bool, msg: str) -> None:
        if not cond:
            failures.append(msg)

    docs = sorted(
        p for p in CORPUS.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED
    )
    for p in docs:
        check("_build" not in p.relative_to(CORPUS).parts, f"supported file inside _build: {p}")
    check((CORPUS / "LICENSE").is_file(), "LICENSE missing")

    extracted = {p.relative_to(CORPUS).as_posix(): extract(p) for p in docs}

    # ---- per-document checks and summary table
    rows = []
    for name, info in extracted.items():
        path = CORPUS / name
        text = info["text"] if not name.endswith((".html", ".htm")) else info["units"][0][1]
        n = size_units(text)
        lang = language(text)
        check(300 <= n <= 1200, f"{name}: size {n} words/chars outside 300-1200")
        fmt = path.suffix.lstrip(".").upper()
        detail = ""
        if fmt == "TXT":
            detail = info["extra"]["encoding"]
            fmt = f"TXT ({detail})"
        elif fmt == "PDF":
            detail = f"{len(info['units'])} pages"
            check(len(info["units"]) >= 3, f"{name}: fewer than 3 pages")
        elif fmt == "PPTX":
            detail = f"{len(info['units'])} slides, notes on {info['extra'].get('notes_on')}"
            check(4 <= len(info["units"]) <= 6, f"{name}: slide count")
            check(bool(info["extra"].get("notes_on")), f"{name}: no speaker notes")
        elif fmt == "DOCX":
            detail = f"{info['extra']['tables']} table(s)"
            for style in ("Title", "Heading 1", "Heading 2", "List Bullet"):
                check(style in info["extra"]["styles"], f"{name}: style {style} missing")
        elif fmt == "HTML":
            check(str(info["extra"]["charset"]).lower() == "utf-8", f"{name}: meta charset")
            check(all(info["extra"]["tags"].values()), f"{name}: boilerplate tags {info['extra']['tags']}")
            detail = "header/nav/main/footer"
        rows.append((name, fmt, lang, path.stat().st_size, n, detail))

    gb = CORPUS / "distributed_training_gb18030.txt"
    raw = gb.read_bytes()
    try:
        raw.decode("utf-8")
        check(False, "GB18030 file is valid UTF-8 (should not be)")
    except UnicodeDecodeError:
        pass
    check(raw.decode("gb18030") == raw.decode("gbk"), "GB18030 file does not round-trip through GBK")

    # ---- questions
    questions = [json.loads(line) for line in (CORPUS / "questions.jsonl").read_text("utf-8").splitlines() if line.strip()]
    check(10 <= len(questions) <= 14, f"{len(questions)} questions, want 10-14")
    qrows = []
    for q in questions:
        for key in ("id", "question", "answers", "source", "location", "lang"):
            check(key in q, f"{q.get('id')}: missing key {key}")
        if not q["answers"]:
            check(q["source"] is None, f"{q['id']}: unanswerable question with a source")
            for term in ABSENT_PROBES.get(q["id"], []):
                hits = [n for n, i in extracted.items() if term.lower() in i["text"].lower()]
                check(not hits, f"{q['id']}: probe term {term!r} found in {hits}")
            qrows.append((q["id"], q["lang"], "-", "(not in corpus)", "ok"))
            continue
        src = q["source"]
        check(src in extracted, f"{q['id']}: source {src} not a corpus document")
        info = extracted[src]
        loc = q["location"] or ""
        if src.endswith((".pdf", ".pptx")):
            m = re.match(r"(page|slide) (\d+)", loc)
            check(bool(m), f"{q['id']}: location must be 'page N' / 'slide N'")
            target = dict(info["units"]).get(f"{m.group(1)} {m.group(2)}", "")
        elif src.endswith((".html", ".htm")):
            target = info["units"][0][1]  # inside <main>
        elif src.endswith(".docx") and q["id"] in EXCLUSIVE:
            target = dict(info["units"])["tables"]
        else:
            target = info["text"]
        for ans in q["answers"]:
            check(ans in target, f"{q['id']}: answer {ans!r} not found in {src} {loc}")
        if q["id"] in EXCLUSIVE:
            for ans in q["answers"]:
                others = [n for n, i in extracted.items() if n != src and ans in i["text"]]
                check(not others, f"{q['id']}: answer {ans!r} also in {others}")
                same_file_other_units = [
                    lbl for lbl, t in info["units"]
                    if t is not target and ans in t and lbl not in ("page",)
                ]
                check(not same_file_other_units, f"{q['id']}: answer {ans!r} also in {src} {same_file_other_units}")
        qrows.append((q["id"], q["lang"], src, loc, "ok"))
    cross = [q for q in questions if q["lang"] == "en" and q["source"] and language(extracted[q["source"]]["text"]).startswith("zh")]
    check(bool(cross), "no cross-lingual question (English question, Chinese source)")

    # ---- report
    print(f"{'file':36} {'format':18} {'lang':8} {'bytes':>7} {'words/字':>8}  detail")
    for r in rows:
        print(f"{r[0]:36} {r[1]:18} {r[2]:8} {r[3]:7d} {r[4]:8d}  {r[5]}")
    print()
    for r in qrows:
        status = "FAIL" if any(f.startswith(r[0] + ":") for f in failures) else r[4]
        print(f"{r[0]:4} {r[1]:3} {r[2]:36} {r[3]:50} {status}")
    print()
    if failures:
        print("FAILED:")
        for f in failures:
            print("  -", f)
        return 1
    print(f"all checks passed: {len(rows)} documents, {len(questions)} questions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
