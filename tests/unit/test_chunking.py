"""Sentence splitting and structure-aware chunking on real Chinese and English text."""

from __future__ import annotations

import re
from itertools import pairwise
from pathlib import Path

import pytest

from ingest.chunking import ChunkingConfig, chunk_document, indexed_text
from ingest.embedding import HashingEmbedder
from ingest.hashing import content_id
from ingest.loaders import load_document
from ingest.sentences import split_sentences
from ingest.types import Block, ParsedDocument

DEMO = Path(__file__).resolve().parents[2] / "corpora" / "demo"

# One token per CJK character (punctuation included) or per other whitespace-free run: what
# HashingEmbedder's docstring promises, and additive when chunking glues CJK text without spaces.
_CJK = "\u3000-\u9fff\uf900-\ufaff\uff00-\uffef"
_TOKEN = re.compile(f"[{_CJK}]|[^\\s{_CJK}]+")


def count(text: str) -> int:
    return len(_TOKEN.findall(text))


RAG_ZH = (
    "第一步是数据结构化。把 PDF、Word、网页等原始文档解析成纯文本，清洗掉页眉页脚、导航栏之类的噪声，"
    "再切成长度适中的文本块（chunk），相邻文本块之间通常保留少量重叠，避免一句话被拦腰截断。"
    "第二步是向量化与建索引。用嵌入模型（Embedding）把每个文本块变成一个稠密向量，"
    "语义相近的文本在向量空间里距离也更近。向量写入 FAISS 之类的向量索引，便于快速查找。"
    "第三步是检索。用户提问时，同样把问题编码成向量，按余弦相似度取出最相近的 top-k 个文本块。"
    "第四步是生成。把检索到的文本块拼进提示词，要求模型只依据这些材料回答，并标注引用出处；"
    "如果材料里找不到答案，就老老实实回答“不知道”，而不是凭空发挥。"
)
SCENARIO_B = (
    "Scenario B - LoRA on a 7B model. The frozen FP16 weights take 14 GB. The LoRA adapters "
    "and their optimizer states add only tens of megabytes, so activations decide the rest. "
    "A single 24 GB GPU works for moderate sequence lengths."
)
PEFT_TABLE = "\n".join(
    [
        "Method | What is trained | Where it acts | Remarks",
        "Adapter tuning | Small bottleneck MLPs (project down, then up) | Inserted inside each Transformer layer | Houlsby et al., 2019; good for many tasks sharing one backbone",
        "LoRA | Two low-rank matrices whose product approximates the weight change | Linear layers such as `q_proj` and `v_proj` | Hu et al., 2021; no change to the model architecture at inference",
        "Prefix tuning | Trainable prefix vectors that take part in attention | Every attention layer | Li and Liang, 2021; aimed at generation tasks",
        'Prompt tuning | A few learnable "virtual tokens" (soft prompt embeddings) | Input layer only | Extremely small number of parameters',
        "BitFit | Only the bias terms | All layers | Ben Zaken et al., 2021; trivial to implement",
        "Sparse fine-tuning | A subset of weights, e.g. those with large gradients | Scattered | Shrinks the space of changes further",
    ]
)
LORA_FAMILY_TABLE = "\n".join(
    [
        "方法 | 核心改动 | 适用场景",
        "LoRA | 固定秩的低秩增量 | 单卡或少量 GPU 的常规微调",
        "QLoRA | 4-bit NF4 基座 + LoRA | 显存不足以放下 16-bit 模型时",
        "AdaLoRA | 按权重矩阵的重要性分数分配秩 | 参数预算有限、希望更高效利用参数",
        "DyLoRA | 在一个秩的范围内动态训练 | 不想事先固定秩的大小",
    ]
)


def _doc(*blocks: Block, title: str = "LoRA 与 QLoRA") -> ParsedDocument:
    return ParsedDocument(source="lora_qlora_zh.md", title=title, format="md", blocks=list(blocks))


# --- sentences -------------------------------------------------------------------------------


def test_chinese_splits_after_full_stop_exclamation_question_and_semicolon() -> None:
    text = "大模型会编造答案吗？会！" + RAG_ZH[RAG_ZH.index("第四步") :]
    assert split_sentences(text) == [
        "大模型会编造答案吗？",
        "会！",
        "第四步是生成。",
        "把检索到的文本块拼进提示词，要求模型只依据这些材料回答，并标注引用出处；",
        "如果材料里找不到答案，就老老实实回答“不知道”，而不是凭空发挥。",
    ]


def test_closing_quote_stays_with_its_sentence() -> None:
    text = "RAG 的思路很直接：“回答之前先去外部知识库里找资料。”这样做不需要重新训练模型。「看着材料作答。」"
    assert split_sentences(text) == [
        "RAG 的思路很直接：“回答之前先去外部知识库里找资料。”",
        "这样做不需要重新训练模型。",
        "「看着材料作答。」",
    ]


def test_english_sentences_end_after_acronyms_and_numbers() -> None:
    assert split_sentences(SCENARIO_B) == [
        "Scenario B - LoRA on a 7B model.",
        "The frozen FP16 weights take 14 GB.",
        "The LoRA adapters and their optimizer states add only tens of megabytes, so activations decide the rest.",
        "A single 24 GB GPU works for moderate sequence lengths.",
    ]
    grpo = (
        "DeepSeek introduced it in the DeepSeekMath work in 2024 and later used it to train the "
        "reasoning behaviour of DeepSeek-R1. The key idea is to get rid of the value (critic) "
        "network that PPO needs:"
    )
    assert len(split_sentences(grpo)) == 2


def test_english_abbreviations_initials_and_decimals_do_not_end_a_sentence() -> None:
    text = (
        "Sparse fine-tuning trains a subset of weights, e.g. those with large gradients. "
        "J. Smith measured an overhead factor of about 1.1 to 1.2 in practice."
    )
    assert split_sentences(text) == [
        "Sparse fine-tuning trains a subset of weights, e.g. those with large gradients.",
        "J. Smith measured an overhead factor of about 1.1 to 1.2 in practice.",
    ]


# --- chunking --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["lora_qlora_zh.md", "finetuning_overview.md", "rag_graphrag_kag_zh.txt"]
)
def test_every_chunk_of_a_demo_document_fits_max_tokens(name: str) -> None:
    doc = load_document(DEMO / name)
    chunks = chunk_document(doc, "d", count, ChunkingConfig(max_tokens=40, overlap_tokens=10))
    assert len(chunks) > 10
    assert max(count(c.text) for c in chunks) <= 40
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))


def test_heading_path_is_carried_onto_chunks_and_sections_never_mix() -> None:
    lora = ("LoRA 与 QLoRA", "一、LoRA：只学习一个“低秩增量”")
    qlora = ("LoRA 与 QLoRA", "二、QLoRA：在 4-bit 基座上训练 LoRA")
    doc = _doc(
        Block("heading", "LoRA 与 QLoRA", lora[:1]),
        Block("heading", lora[1], lora),
        Block("paragraph", "LoRA 的全称是 Low-Rank Adaptation（低秩适配）。", lora),
        Block("heading", qlora[1], qlora),
        Block("paragraph", "QLoRA 先把冻结的基座模型量化成 4-bit 存储。", qlora),
    )
    chunks = chunk_document(doc, "d", count)
    assert [(c.heading_path, c.text) for c in chunks] == [
        (lora, "LoRA 的全称是 Low-Rank Adaptation（低秩适配）。"),
        (qlora, "QLoRA 先把冻结的基座模型量化成 4-bit 存储。"),
    ]


def test_long_table_splits_between_rows_and_repeats_the_header() -> None:
    rows = PEFT_TABLE.split("\n")
    doc = _doc(Block("table", PEFT_TABLE, ("PEFT",)))
    chunks = chunk_document(doc, "d", count, ChunkingConfig(max_tokens=60, overlap_tokens=10))
    assert len(chunks) >= 3
    assert all(c.kind == "table" and count(c.text) <= 60 for c in chunks)
    body: list[str] = []
    for c in chunks:
        lines = c.text.split("\n")
        assert lines[0] == rows[0]
        assert set(lines) <= set(rows)
        body += lines[1:]
    assert body == rows[1:]


def test_second_table_in_a_section_repeats_its_own_header() -> None:
    path = ("LoRA 家族对比",)
    doc = _doc(Block("table", PEFT_TABLE, path), Block("table", LORA_FAMILY_TABLE, path))
    chunks = chunk_document(doc, "d", count, ChunkingConfig(max_tokens=60, overlap_tokens=10))
    rows = LORA_FAMILY_TABLE.split("\n")[1:]
    family = [c for c in chunks if any(row in c.text for row in rows)]
    assert len(family) >= 2
    assert all(c.text.startswith("方法 | 核心改动 | 适用场景\n") for c in family)


def _shared_sentences(prev: str, nxt: str) -> list[str]:
    """The longest run of sentences that ends `prev` and starts `nxt`."""
    a, b = split_sentences(prev), split_sentences(nxt)
    k = max((k for k in range(1, min(len(a), len(b)) + 1) if a[-k:] == b[:k]), default=0)
    return b[:k]


def test_next_prose_chunk_begins_with_the_last_sentences_of_the_previous() -> None:
    cfg = ChunkingConfig(max_tokens=100, overlap_tokens=40)
    chunks = chunk_document(_doc(Block("paragraph", RAG_ZH)), "d", count, cfg)
    assert len(chunks) >= 3
    for prev, nxt in pairwise(chunks):
        shared = _shared_sentences(prev.text, nxt.text)
        assert shared
        assert sum(count(s) for s in shared) <= 40


def test_without_overlap_chunks_partition_the_text() -> None:
    cfg = ChunkingConfig(max_tokens=100, overlap_tokens=0)
    chunks = chunk_document(_doc(Block("paragraph", RAG_ZH)), "d", count, cfg)
    assert len(chunks) >= 3
    assert "".join(c.text for c in chunks) == RAG_ZH


def test_english_overlap_repeats_whole_sentences() -> None:
    cfg = ChunkingConfig(max_tokens=30, overlap_tokens=10)
    chunks = chunk_document(_doc(Block("paragraph", SCENARIO_B)), "d", count, cfg)
    assert [c.text for c in chunks] == [
        "Scenario B - LoRA on a 7B model. The frozen FP16 weights take 14 GB.",
        "The frozen FP16 weights take 14 GB. The LoRA adapters and their optimizer states add only tens of megabytes, so activations decide the rest.",
        "A single 24 GB GPU works for moderate sequence lengths.",
    ]


def test_chunk_ids_are_deterministic_and_follow_the_text() -> None:
    cfg = ChunkingConfig(max_tokens=50, overlap_tokens=0)
    first = chunk_document(_doc(Block("paragraph", RAG_ZH)), "d", count, cfg)
    again = chunk_document(_doc(Block("paragraph", RAG_ZH)), "d", count, cfg)
    edited = RAG_ZH.replace("FAISS", "Milvus")
    changed = chunk_document(_doc(Block("paragraph", edited)), "d", count, cfg)
    assert [c.id for c in first] == [c.id for c in again]
    assert len({c.id for c in first}) == len(first)
    differs = [a.id != b.id for a, b in zip(first, changed, strict=True)]
    assert differs == [a.text != b.text for a, b in zip(first, changed, strict=True)]
    assert any(differs)


def test_text_hash_is_shared_by_identical_indexed_text_across_documents() -> None:
    doc = _doc(Block("paragraph", SCENARIO_B, ("GPU memory",)))
    [a] = chunk_document(doc, "doc-a", count)
    [b] = chunk_document(doc, "doc-b", count)
    [other_title] = chunk_document(
        ParsedDocument("x.md", "Another title", "md", doc.blocks), "doc-a", count
    )
    assert a.id != b.id
    assert a.text_hash == b.text_hash
    assert a.text_hash == content_id(indexed_text("LoRA 与 QLoRA", ("GPU memory",), SCENARIO_B))
    assert other_title.text_hash != a.text_hash


@pytest.mark.parametrize(
    ("text", "joiner"),
    [
        (
            "检索增强生成的思路很直接回答之前先去外部知识库里找资料把找到的内容和问题一起交给模型让模型看着材料作答",
            "",
        ),
        (
            "low rank adaptation freezes the pretrained weights and trains two small matrices "
            "whose product is added to the frozen layer",
            " ",
        ),
    ],
)
def test_overlong_sentence_without_punctuation_is_hard_split(text: str, joiner: str) -> None:
    cfg = ChunkingConfig(max_tokens=6, overlap_tokens=0)
    chunks = chunk_document(_doc(Block("paragraph", text)), "d", count, cfg)
    assert len(chunks) >= count(text) // 6
    assert all(count(c.text) <= 6 for c in chunks)
    assert joiner.join(c.text for c in chunks) == text


def test_blocks_on_different_pages_never_share_a_chunk() -> None:
    page_one = "Low-rank adaptation freezes the pretrained weights and trains two small matrices."
    page_two = "Quantisation stores weights as four-bit integers and dequantises them on the fly."
    doc = ParsedDocument(
        "gpu_memory_sizing.pdf",
        "GPU memory sizing",
        "pdf",
        [Block("paragraph", page_one, page=1), Block("paragraph", page_two, page=2)],
    )
    chunks = chunk_document(doc, "d", count, ChunkingConfig(max_tokens=256))
    assert [(c.page, c.text) for c in chunks] == [(1, page_one), (2, page_two)]


def test_citation_marker_then_double_space_before_an_overlong_sentence() -> None:
    """Regression: rgb_zh passage eb6180886800 crashed chunking at 64 tokens ("[4]  2021年…")."""
    text = (
        "赛制无异。[4]  "
        + "2021年1月底国家体育总局发布通知要求在3月31日前收紧复赛审批优先考虑东京奥运会" * 3
        + "。"
    )
    doc = ParsedDocument("s", "t", "text", [Block("paragraph", text)])
    chunks = chunk_document(doc, "d", HashingEmbedder().count_tokens, ChunkingConfig(16, 2))
    assert chunks and all(c.text.strip() for c in chunks)
    assert "".join(c.text for c in chunks).count("国家体育总局") >= 3
