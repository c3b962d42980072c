"""The answer prompt: language, numbered passages within the context budget, citations."""

from __future__ import annotations

from rag.generation.base import Message
from rag.generation.scripted import ScriptedGenerator
from rag.prompting import (
    BRIEF,
    REMINDER,
    SYSTEM,
    build_messages,
    detect_language,
    parse_citations,
)
from rag.types import Source

PASSAGES = [
    (
        "Fine-Tuning Large Language Models",
        "A pretrained language model already knows a lot about language in general, but it "
        "rarely behaves exactly the way a product team needs. Fine-tuning is the step that "
        "adapts such a general model to a narrower job: a legal assistant, a customer-service "
        "bot, a code reviewer for one company's style.",
    ),
    (
        "Fine-Tuning Large Language Models",
        "PEFT methods freeze almost all pretrained weights and train only a small set of new or "
        "selected parameters. The frozen backbone can be shared between many tasks, and the "
        "trainable part is often only a fraction of a percent of the model.",
    ),
    (
        "LoRA 与 QLoRA",
        "QLoRA（Quantized LoRA）由 Dettmers 等人在 2023 年提出。它先把冻结的基座模型量化成 4-bit "
        "存储，再在上面挂 LoRA 模块进行训练。",
    ),
    (
        "GPU memory sizing",
        "Scenario B - LoRA on a 7B model. The frozen FP16 weights take 14 GB.",
    ),
]
PEFT_TABLE = "\n".join(
    [
        "Method | What is trained | Where it acts",
        "Adapter tuning | Small bottleneck MLPs (project down, then up) | Inside each Transformer layer",
        "LoRA | Two low-rank matrices whose product approximates the weight change | Linear layers",
        "Prefix tuning | Trainable prefix vectors that take part in attention | Every attention layer",
        "BitFit | Only the bias terms | All layers",
    ]
)
QUESTION_EN = "Which weights does parameter-efficient fine-tuning train?"
QUESTION_ZH = "什么是 QLoRA？它把冻结的基座模型量化成什么格式？"


def _sources(passages: list[tuple[str, str]] = PASSAGES) -> list[Source]:
    return [
        Source(
            n=i,
            chunk_id=f"c{i}",
            doc_id="d",
            document=f"{title}.md",
            title=title,
            location="",
            score=1.0 - i / 10,
            text=text,
        )
        for i, (title, text) in enumerate(passages, start=1)
    ]


def _total_tokens(gen: ScriptedGenerator, messages: list[Message]) -> int:
    return sum(gen.count_tokens(m["content"]) for m in messages)


def test_detect_language_chinese_english_and_mixed() -> None:
    assert detect_language(QUESTION_ZH) == "zh"
    assert detect_language("How much KV cache does a Llama-2-7B model need?") == "en"
    assert detect_language("什么是 QLoRA？") == "zh"
    assert detect_language("What does 量化 mean for QLoRA fine-tuning?") == "en"


def test_passages_are_numbered_in_best_first_order() -> None:
    gen = ScriptedGenerator(context_tokens=4096)
    sources = _sources()
    messages, used = build_messages(QUESTION_EN, sources, gen, max_answer_tokens=256)
    user = messages[1]["content"]
    assert used == sources
    positions = [user.index(f"[{n}] (") for n in range(1, 5)]
    assert positions == sorted(positions)
    assert user.index(PASSAGES[0][1]) < user.index(PASSAGES[3][1])
    assert user.endswith(f"Question: {QUESTION_EN}\n{REMINDER['en']}")


def test_small_context_keeps_only_the_first_passages_within_budget() -> None:
    gen = ScriptedGenerator(context_tokens=400)
    sources = _sources()
    messages, used = build_messages(QUESTION_EN, sources, gen, max_answer_tokens=100)
    user = messages[1]["content"]
    assert 0 < len(used) < len(sources)
    assert used == sources[: len(used)]
    assert all(s.text in user for s in used)
    assert not any(s.text in user for s in sources[len(used) :])
    assert _total_tokens(gen, messages) <= 400 - 100


def test_passage_that_does_not_fit_is_cut_at_a_line_break() -> None:
    rows = PEFT_TABLE.split("\n")
    sources = _sources([("Fine-Tuning Large Language Models", PEFT_TABLE), *PASSAGES])
    # room for the system rule and the fence, and for part of the table but not all of it
    gen = ScriptedGenerator(context_tokens=340)
    messages, used = build_messages(QUESTION_EN, sources, gen, max_answer_tokens=50)
    user = messages[1]["content"]
    assert used == sources[:1]
    assert rows[0] in user
    assert PEFT_TABLE not in user
    kept = [row for row in rows if row in user]
    assert kept == rows[: len(kept)]
    assert len(kept) >= 2
    assert _total_tokens(gen, messages) <= 340 - 50


def test_system_prompt_follows_the_question_language() -> None:
    gen = ScriptedGenerator()
    zh, _ = build_messages(QUESTION_ZH, _sources(), gen, max_answer_tokens=256)
    en, _ = build_messages(QUESTION_EN, _sources(), gen, max_answer_tokens=256)
    assert zh[0] == {"role": "system", "content": SYSTEM["zh"]}
    assert en[0] == {"role": "system", "content": SYSTEM["en"]}
    assert f"问题: {QUESTION_ZH}" in zh[1]["content"]
    assert f"Question: {QUESTION_EN}" in en[1]["content"]


def test_brief_adds_the_short_answer_rule() -> None:
    gen = ScriptedGenerator()
    for question, lang in ((QUESTION_ZH, "zh"), (QUESTION_EN, "en")):
        plain, _ = build_messages(question, _sources(), gen, max_answer_tokens=64)
        brief, _ = build_messages(question, _sources(), gen, max_answer_tokens=64, brief=True)
        assert BRIEF[lang] not in plain[0]["content"]
        assert brief[0]["content"] == SYSTEM[lang] + BRIEF[lang]


def test_parse_citations_reads_every_bracket_style() -> None:
    answer = (
        "QLoRA 把基座模型量化成 NF4 格式【2】，并用双重量化压缩量化常数[1, 3]。"
        "分页优化器避免显存溢出 [4][1]，见 [1，2]。"
    )
    assert parse_citations(answer, {1, 2, 3, 4}) == [2, 1, 3, 4]


def test_parse_citations_ignores_numbers_outside_the_passages() -> None:
    answer = "The frozen FP16 weights take 14 GB [7]. A 24 GB GPU is enough [3][2, 9]. In 2023 [0]."
    assert parse_citations(answer, {1, 2, 3}) == [3, 2]
    assert parse_citations("No citations, only 14 GB and 2023.", {1, 2}) == []
