"""Reading text in pieces gives what reading it whole gives: sentences, cleaned paragraphs,
decoded bytes and chunks, on any cutting of the input into pieces (hypothesis picks them, and
the buffer sizes are shrunk so that every input is cut many times)."""

from __future__ import annotations

import codecs
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.chunking import ChunkingConfig, chunk_document, chunk_paragraphs
from ingest.embedding import HashingEmbedder
from ingest.errors import CorruptDocument
from ingest.loaders import text as text_loader
from ingest.loaders.cleaning import clean_text, collapse_spaces, join_lines, split_paragraphs
from ingest.loaders.text import TextFile, decode_with_encoding, normalised_pieces, paragraph_pieces
from ingest.sentences import split_sentence_stream, split_sentences
from ingest.types import Block, ParsedDocument

COUNT = HashingEmbedder().count_tokens

# the characters every rule of the splitter and the cleaner turns on
SENTENCE_CHARS = "ab AZ1 9.!?。！？；”’」』）)]\n\t" + "\u3000"
TEXT_CHARS = (
    SENTENCE_CHARS + "\r\u00a0\u200b\u00ad\ufeff\u0301\u0338e=\u4e00语\uac00\u1161\u2028\f\x0b"
)


def _cut(text: str, sizes: list[int]) -> list[str]:
    """`text` in consecutive pieces of the given sizes (cycled), the last one what is left."""
    pieces, pos, i = [], 0, 0
    while pos < len(text):
        step = sizes[i % len(sizes)] if sizes else len(text)
        pieces.append(text[pos : pos + step])
        pos, i = pos + step, i + 1
    return pieces


def _whole_paragraphs(text: str) -> list[str]:
    """What load_text made of a decoded text before it streamed."""
    return [join_lines(p.split("\n")) for p in split_paragraphs(clean_text(text))]


def _streamed_paragraphs(pieces: list[str], size: int) -> list[str]:
    paragraphs: list[list[str]] = []
    for starts, part in paragraph_pieces(normalised_pieces(pieces, size)):
        if starts:
            paragraphs.append([])
        paragraphs[-1].append(part)
    return ["".join(p) for p in paragraphs]


sizes = st.lists(st.integers(1, 9), min_size=1, max_size=5)


@settings(max_examples=400, deadline=None)
@given(st.text(SENTENCE_CHARS, max_size=120), sizes, st.integers(1, 12))
def test_sentence_stream_splits_as_the_whole_text(text: str, cuts: list[int], look: int) -> None:
    assert list(split_sentence_stream(_cut(text, cuts), look=look)) == split_sentences(text)


def test_a_sentence_longer_than_the_cap_is_cut_at_a_space() -> None:
    words = " ".join(f"w{i}" for i in range(3000))  # no sentence end anywhere
    pieces = list(split_sentence_stream(_cut(words, [7]), look=16, cap=100))
    assert all(len(p) <= 100 for p in pieces)
    assert " ".join(pieces) == words


@settings(max_examples=400, deadline=None)
@given(st.text(TEXT_CHARS, max_size=150), sizes, st.integers(1, 6))
def test_text_is_cleaned_in_pieces_as_it_was_whole(text: str, cuts: list[int], size: int) -> None:
    assert _streamed_paragraphs(_cut(text, cuts), size) == _whole_paragraphs(text)


ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "utf-32", "gb18030", "gbk"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.text(TEXT_CHARS + "中文字符数据检索", min_size=1, max_size=80),
    st.sampled_from(ENCODINGS),
    st.integers(0, 3),
    st.integers(1, 7),
)
def test_a_file_decodes_in_blocks_as_it_did_whole(
    text: str, encoding: str, chop: int, block: int
) -> None:
    """Valid text in each encoding, sometimes cut short by a few bytes (a truncated download)."""
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        return
    data = data[: len(data) - chop] if chop < len(data) else data
    whole: object
    try:
        decoded, _ = decode_with_encoding(data, "t.txt")
        whole = _whole_paragraphs(decoded)
    except CorruptDocument as e:
        whole = str(e)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.txt"
        path.write_bytes(data)
        mp = pytest.MonkeyPatch()
        mp.setattr(text_loader, "READ_BLOCK", block)
        try:
            streamed: object = [b.text for b in TextFile.open(path).document().blocks]
        except CorruptDocument as e:
            streamed = str(e)
        finally:
            mp.undo()
    assert streamed == whole


@settings(max_examples=150, deadline=None)
@given(
    st.text(TEXT_CHARS + "中文字符数据检索 long words here", max_size=400),
    sizes,
    st.integers(8, 40),
)
def test_chunks_of_a_streamed_text_are_the_chunks_of_its_blocks(
    text: str, cuts: list[int], max_tokens: int
) -> None:
    cfg = ChunkingConfig(max_tokens=max_tokens, overlap_tokens=max_tokens // 4)
    blocks = [Block("paragraph", p) for p in _whole_paragraphs(text)]
    whole = chunk_document(ParsedDocument("s", "title", "txt", blocks), "doc", COUNT, cfg)
    pieces = paragraph_pieces(normalised_pieces(_cut(text, cuts), 4))
    assert list(chunk_paragraphs("title", pieces, "doc", COUNT, cfg)) == whole


def test_bytes_invalid_for_their_byte_order_mark_are_refused_in_a_stream(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(codecs.BOM_UTF16_LE + "fine text ".encode("utf-16-le") * 1000 + b"\x00")
    with pytest.raises(CorruptDocument, match="byte-order mark but is not valid utf-16"):
        TextFile.open(path).document()


def test_a_one_line_file_never_holds_the_line(tmp_path: Path) -> None:
    """A 6 MB line with no sentence end: pieces stay small and the words all arrive."""
    path = tmp_path / "line.txt"
    words = [f"word{i}" for i in range(700_000)]
    path.write_text(" ".join(words), "utf-8")
    text = TextFile.open(path)
    pieces = list(text.pieces())
    assert [starts for starts, _ in pieces].count(True) == 1  # one paragraph
    assert max(len(p) for _, p in pieces) <= 2 * text_loader.READ_BLOCK  # not 6 MB
    chunks = list(chunk_paragraphs("line", text.pieces(), "d", COUNT))
    assert max(len(c.text) for c in chunks) < 8_000
    assert " ".join(chunks[0].text.split()[:3]) == "word0 word1 word2"
    assert chunks[-1].text.endswith("word699999")


@settings(max_examples=300, deadline=None)
@given(st.text(" \t\u00a0\f\v\u3000a\n", max_size=60))
def test_collapsing_only_the_runs_that_change_collapses_as_before(text: str) -> None:
    assert collapse_spaces(text) == re.sub(r"[ \t\u00a0\f\v]+", " ", text)
