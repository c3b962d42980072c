"""Keyword tokens for BM25: jieba words for Chinese, lower-cased words for English."""

from __future__ import annotations

from ingest.keywords import keyword_tokens

QLORA_ZH = "它先把冻结的基座模型量化成 4-bit 存储，再在上面挂 LoRA 模块进行训练"


def test_chinese_sentence_yields_jieba_words() -> None:
    tokens = keyword_tokens("做矩阵乘法时，4-bit 权重会被临时反量化成 BF16 参与计算。")
    assert {"矩阵", "乘法", "权重", "量化", "计算"} <= set(tokens)


def test_chinese_stopwords_and_punctuation_are_dropped() -> None:
    tokens = keyword_tokens(QLORA_ZH)
    assert {"冻结", "基座", "模型", "量化", "存储", "训练"} <= set(tokens)
    assert not {"的", "把", "在", "，"} & set(tokens)


def test_english_is_lower_cased_without_stopwords() -> None:
    tokens = keyword_tokens("How does QLoRA reduce the memory needed for fine-tuning?")
    assert tokens == ["qlora", "reduce", "memory", "needed", "fine-tuning"]


def test_mixed_text_keeps_latin_and_chinese_words_in_order() -> None:
    tokens = keyword_tokens(QLORA_ZH)
    assert tokens.index("量化") < tokens.index("4-bit") < tokens.index("lora")
    assert keyword_tokens("什么是 QLoRA？") == ["什么", "qlora"]


def test_hyphenated_and_decimal_terms_stay_one_token() -> None:
    tokens = keyword_tokens("LLaMA-2-7B needs about 1.1 to 1.2 times the raw size in 4-bit")
    assert {"llama-2-7b", "1.1", "1.2", "4-bit"} <= set(tokens)
    assert not {"4", "bit", "llama", "7b"} & set(tokens)


def test_question_and_document_tokenise_terms_identically() -> None:
    question = keyword_tokens("What format does QLoRA use for 4-bit weights? NF4 or BF16?")
    glued = keyword_tokens("QLoRA把基座模型量化成4-bit的NF4格式，计算时反量化为BF16。")
    spaced = keyword_tokens(QLORA_ZH)
    for term in ("qlora", "4-bit", "nf4", "bf16"):
        assert term in question
        assert term in glued
    assert "4-bit" in spaced
