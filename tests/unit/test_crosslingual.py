"""Cross-lingual search (rag.crosslingual): when a question is translated, how the two versions
are merged, and that nothing is translated where it cannot help."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ingest.embedding import HashingEmbedder
from ingest.errors import ModelNotInstalled
from ingest.language import language_of, other_language
from ingest.pipeline import TextRecord
from rag.crosslingual import GeneratorTranslator, GlossaryTranslator, by_language, usable
from rag.engine import Engine
from rag.generation.scripted import ScriptedGenerator
from rag.settings import Settings

# English documents with no Chinese in them, and one Chinese one: BM25 cannot match a Chinese
# question with the English answer, and the hashing embedder has no cross-lingual sense at all
DOCS = [
    ("en/paging.md", "Paged attention",
     "vLLM keeps the key value cache in fixed-size blocks, like pages of virtual memory, so "
     "almost no GPU memory is wasted."),
    ("en/offload.md", "Optimizer offload",
     "Paged optimizers move optimizer states to CPU RAM with unified memory when the GPU "
     "runs out."),
    ("en/sampling.md", "Sampling",
     "A higher sampling temperature gives more diverse but less coherent text."),
    ("zh/lora.md", "LoRA 简介",
     "LoRA 在冻结的权重旁边训练两个低秩矩阵，只更新很少的参数，显存占用因此大幅下降。"),
]  # fmt: skip
QUESTION = "键值缓存分块"  # "key-value cache in blocks": the answer is en/paging.md
TRANSLATION = "key value cache blocks"
GLOSSARY = {"键值": "key value", "缓存": "cache", "分块": "blocks", "What is": "什么是"}


def _engine(tmp_path: Path, translator: GlossaryTranslator | None, **overrides: str) -> Engine:
    settings = Settings.from_env(
        {"HOME": str(tmp_path)}, store_dir=tmp_path / "kb", embedder="hashing", **overrides
    )
    engine = Engine(
        settings, embedder=HashingEmbedder(), generator=ScriptedGenerator("[1]"),
        translator=translator,
    )  # fmt: skip
    engine.ingest_texts([TextRecord(key, title, text, {}) for key, title, text in DOCS])
    return engine


def test_language_of_puts_mixed_text_on_the_side_of_its_grammar() -> None:
    assert language_of("vLLM 用 PagedAttention 管理 KV cache") == "zh"
    assert language_of("LoRA 是谁在哪一年提出的？") == "zh"
    assert language_of("What does 显存 mean in LoRA fine-tuning papers?") == "en"
    assert language_of("ΔW = B·A, r=8") == "en" and language_of("") == "en"
    assert other_language("zh") == "en" and other_language("en") == "zh"


def test_usable_keeps_a_translation_and_refuses_what_is_not_one() -> None:
    assert usable("LoRA 是什么？", 'Translation: "What is LoRA?"\n', "en") == "What is LoRA?"
    assert usable("What is LoRA?", "译文：LoRA 是什么？", "zh") == "LoRA 是什么？"
    assert usable("LoRA 是什么？", "LoRA 是什么？", "en") is None  # the source again
    assert usable("What is LoRA?", "What is LoRA? It is", "zh") is None  # wrong language
    assert usable("LoRA 是什么？", "  \n", "en") is None
    assert usable("LoRA 是什么？", "LoRA is " + "a method " * 40, "en") is None  # an answer


def test_by_language_scores_each_chunk_with_the_question_in_its_language() -> None:
    lang = {"zh1": "zh", "zh2": "zh", "en1": "en", "en2": "en"}
    original = [("zh1", 0.9), ("zh2", 0.85), ("en1", 0.80)]  # a Chinese question
    translated = [("zh1", 0.95), ("en1", 0.88), ("en2", 0.70)]
    # BM25 as it is: zh1 keeps the original's 0.9, not the translation's 0.95; en1, in the
    # other language, takes the better of the two (0.88)
    keyword = by_language(original, translated, lang, "zh", "keyword")  # type: ignore[arg-type]
    assert keyword == [("zh1", 0.9), ("en1", 0.88), ("zh2", 0.85), ("en2", 0.70)]
    # cosines: each version relative to its own median (0.875 and 0.79), so en1 stands out more
    dense = by_language(original, translated, lang, "zh", "dense")  # type: ignore[arg-type]
    assert [c for c, _ in dense] == ["en1", "zh1", "zh2", "en2"]
    assert dict(dense)["en1"] == pytest.approx(0.09) and dict(dense)["zh1"] == pytest.approx(0.025)


def test_a_chinese_question_finds_the_english_passage_through_its_translation(
    tmp_path: Path,
) -> None:
    with _engine(tmp_path / "off", None, translate_queries="off") as plain:
        assert plain.retrieve(QUESTION, k=1, method="bm25") == []  # no shared word at all
    translator = GlossaryTranslator(GLOSSARY)
    with _engine(tmp_path / "on", translator) as engine:
        for method in ("bm25", "hybrid", "dense"):
            hits = engine.retrieve(QUESTION, k=1, method=method)  # type: ignore[arg-type]
            assert hits[0].document.source == "en/paging.md", method
        ctx = engine.context(QUESTION)
        assert ctx.trace[0]["translation"] == TRANSLATION
        assert ctx.hits[0].document.source == "en/paging.md"
        # the Chinese passage is still ranked by the Chinese question
        assert engine.retrieve("低秩矩阵", k=1)[0].document.source == "zh/lora.md"
    assert {target for _, target in translator.calls} == {"en"}


def test_no_translation_where_the_store_has_too_little_of_the_other_language(
    tmp_path: Path,
) -> None:
    translator = GlossaryTranslator(GLOSSARY)
    with _engine(tmp_path, translator) as engine:
        engine.ingest_texts(  # 1 Chinese chunk in 21 stays (< 5 %) after 17 more English ones
            [TextRecord(f"en/more{i}.md", f"More {i}", f"English note number {i}.", {})
             for i in range(17)]
        )  # fmt: skip
        assert engine.services.languages() == {"en": 20, "zh": 1}
        assert engine.services.translation("What is LoRA?") is None  # Chinese is 1 chunk in 21
        assert engine.services.translation(QUESTION) == TRANSLATION
        engine.ingest_texts(
            [TextRecord(f"zh/{i}.md", "笔记", "显存很重要。", {}) for i in range(3)]
        )
        # the language mix is read again once the store changed (4 Chinese chunks in 24)
        assert engine.services.translation("What is LoRA?") is not None
    assert translator.calls[0] == (QUESTION, "en")


def test_translation_off_never_calls_a_translator(tmp_path: Path) -> None:
    translator = GlossaryTranslator(GLOSSARY)
    with _engine(tmp_path, translator, translate_queries="off") as engine:
        engine.ask(QUESTION)
        assert engine.retrieve(QUESTION, k=1, method="bm25") == []
    assert translator.calls == []


def test_kag_translates_the_question_but_not_its_step_queries(tmp_path: Path) -> None:
    translator = GlossaryTranslator(GLOSSARY)
    with _engine(tmp_path, translator, graph="fast") as engine:
        engine.context(QUESTION, mode="kag")
    assert [text for text, _ in translator.calls] == [QUESTION] * len(translator.calls)


def test_generator_translator_asks_once_per_question_and_survives_a_missing_model(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gen = ScriptedGenerator("How is GPU memory managed in blocks?")
    tr = GeneratorTranslator(lambda: gen)
    assert tr.translate(QUESTION, "en") == "How is GPU memory managed in blocks?"
    assert tr.translate(QUESTION, "en") == "How is GPU memory managed in blocks?"
    assert len(gen.calls) == 1 and QUESTION in gen.calls[0][0]["content"]

    def missing() -> ScriptedGenerator:
        raise ModelNotInstalled("model qwen2.5-1.5b is not installed: run `rag models install`")

    broken = GeneratorTranslator(missing)
    with caplog.at_level(logging.WARNING):
        assert broken.translate(QUESTION, "en") is None
        assert broken.translate("另一个问题", "en") is None
    assert [r.message for r in caplog.records].count(
        "cross-lingual search is off: the model cannot translate "
        "(model qwen2.5-1.5b is not installed: run `rag models install`)"
    ) == 1


def test_an_answer_whose_model_is_missing_still_fails_clearly(tmp_path: Path) -> None:
    """Auto translation over a bilingual store with no model installed: search goes on in one
    language, and asking is the one clear error it was before."""
    settings = Settings.from_env(
        {"HOME": str(tmp_path)}, store_dir=tmp_path / "kb", embedder="hashing",
        models_dir=tmp_path / "no-models",
    )  # fmt: skip
    with Engine(settings, embedder=HashingEmbedder()) as engine:
        engine.ingest_texts([TextRecord(key, title, text, {}) for key, title, text in DOCS])
        assert engine.retrieve("低秩矩阵", k=1)[0].document.source == "zh/lora.md"
        with pytest.raises(ModelNotInstalled):
            engine.ask("低秩矩阵")
