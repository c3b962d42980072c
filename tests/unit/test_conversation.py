"""A chat as a retrieval question and a prompt history (rag.conversation), the history in the
answer prompt (rag.prompting), and a front-end's housekeeping prompts (rag.chat_tasks)."""

from __future__ import annotations

import json

import pytest

from rag.chat_tasks import answer_task, housekeeping_task, title_for
from rag.conversation import last_user_message, prompt_history, retrieval_question
from rag.generation.base import Message
from rag.generation.scripted import ScriptedGenerator
from rag.prompting import build_messages
from rag.types import Source


def chat(*turns: str) -> list[Message]:
    """Alternating user and assistant messages, starting with the user."""
    roles = ("user", "assistant")
    return [{"role": roles[i % 2], "content": t} for i, t in enumerate(turns)]


# --- the retrieval question ------------------------------------------------------------------


def test_a_follow_up_is_retrieved_with_the_earlier_questions_most_recent_first() -> None:
    messages = chat("What is QLoRA?", "QLoRA quantizes [1].", "Which data type?", "NF4 [2].",
                    "Why does that fit on one GPU?")  # fmt: skip
    assert retrieval_question(messages) == (
        "Why does that fit on one GPU? Which data type? What is QLoRA?"
    )


def test_a_single_question_is_itself() -> None:
    assert retrieval_question(chat("  What is QLoRA?  ")) == "What is QLoRA?"
    system: list[Message] = [{"role": "system", "content": "You are terse."}]
    assert retrieval_question(system + chat("What is DPO?")) == "What is DPO?"


def test_earlier_questions_stop_at_the_bound_and_are_not_repeated() -> None:
    long = "x" * 300
    messages = chat("What is QLoRA?", "a", long, "b", "What is QLoRA?", "c", "And DPO?")
    # most recent first: the repeated question once, then the long one does not fit in 100
    assert retrieval_question(messages, earlier_chars=100) == "And DPO? What is QLoRA?"
    assert retrieval_question(messages, earlier_chars=0) == "And DPO?"


def test_the_last_user_message_is_the_question_even_after_an_assistant_turn() -> None:
    messages = chat("What is QLoRA?", "It is [1].")
    assert last_user_message(messages) == "What is QLoRA?"
    assert retrieval_question(messages) == "What is QLoRA?"
    assert last_user_message(chat()) == "" and retrieval_question([]) == ""


# --- the history the answer prompt carries ---------------------------------------------------


def test_history_is_the_turns_before_the_question_without_citations_or_system() -> None:
    messages: list[Message] = [
        {"role": "system", "content": "Be nice."},
        *chat("What is QLoRA?", "QLoRA quantizes the base model to 4-bit NF4 [1][2], then "
              "trains LoRA [3].", "Why does that fit on one GPU?"),
    ]  # fmt: skip
    assert prompt_history(messages) == [
        {"role": "user", "content": "What is QLoRA?"},
        {"role": "assistant",
         "content": "QLoRA quantizes the base model to 4-bit NF4, then trains LoRA."},
    ]  # fmt: skip
    assert prompt_history(chat("Only one question")) == []


def test_history_keeps_the_most_recent_messages_each_cut_short() -> None:
    messages = chat(*(f"turn {i} " + "y" * 50 for i in range(9)))  # ends with a user turn
    kept = prompt_history(messages, max_messages=3, max_chars=10)
    assert [m["content"] for m in kept] == ["turn 5 yyy", "turn 6 yyy", "turn 7 yyy"]
    assert prompt_history(messages, max_messages=0) == []


def _source(n: int, text: str) -> Source:
    return Source(n, f"c{n}", "d", "/docs/a.md", "A", "", 1.0, text)


def test_the_prompt_puts_history_between_the_rule_and_the_question() -> None:
    gen = ScriptedGenerator(context_tokens=400)
    history = prompt_history(chat("What is QLoRA?", "It quantizes [1].", "Why one GPU?"))
    messages, used = build_messages("Why one GPU?", [_source(1, "QLoRA is 4-bit.")], gen, 50,
                                    history=history)  # fmt: skip
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[1:3] == history
    assert "Question: Why one GPU?" in messages[-1]["content"] and used


def test_history_gives_way_to_passages_oldest_turn_first() -> None:
    gen = ScriptedGenerator(context_tokens=400)
    old = [{"role": "user", "content": "old " * 80}, {"role": "assistant", "content": "ok"}]
    history: list[Message] = [*old, {"role": "user", "content": "recent question"}]  # type: ignore[list-item]
    messages, _ = build_messages("Why?", [_source(1, "text")], gen, 50, history=history)
    assert [m["content"] for m in messages[1:-1]] == ["ok", "recent question"]
    without, _ = build_messages("Why?", [_source(1, "text")], gen, 50)
    assert without[-1] == messages[-1]  # the passages and the question are unchanged


# --- housekeeping prompts --------------------------------------------------------------------

HISTORY = "<chat_history>\nUSER: What is QLoRA and why does it fit on one GPU?\nASSISTANT: It " \
          "quantizes the base model [1].\nIt trains adapters.\nUSER: How much memory?\n</chat_history>"  # fmt: skip
TEMPLATES = {  # the shape of Open WebUI's task prompts: a task, the JSON it wants, the chat
    "title": '### Task:\nGenerate a concise, 3-5 word title.\n### Output:\nJSON format: '
             '{ "title": "your concise title here" }\n### Chat History:\n' + HISTORY,
    "tags": '### Task:\nGenerate 1-3 broad tags.\n### Output:\nJSON format: '
            '{ "tags": ["tag1", "tag2"] }\n### Chat History:\n' + HISTORY,
    "follow_ups": '### Task:\nSuggest 3-5 follow-up questions.\n### Output:\nJSON format: '
                  '{ "follow_ups": ["Question 1?"] }\n### Chat History:\n' + HISTORY,
    "queries": '### Task:\nAnalyze the chat history to determine the necessity of generating '
               'search queries.\n- respond in the format: { "queries": ["query1"] }\n'
               '### Chat History:\n' + HISTORY,
    "autocomplete": '### Task:\nYou are an autocompletion system.\n5. If unsure, return: '
                    '`{ "text": "" }`.\n### Context:\n' + HISTORY + '\n<text>What is</text>',
    "image_prompt": '### Task:\nGenerate a detailed prompt for an image generation task.\n'
                    '{\n    "prompt": "Your detailed description here."\n}\n' + HISTORY,
    "other": "### Task:\nSomething new.\n" + HISTORY,
}  # fmt: skip
ANSWERS = {
    "title": {"title": "What is QLoRA and why does…"},
    "tags": {"tags": []},
    "follow_ups": {"follow_ups": []},
    "queries": {"queries": ["How much memory?"]},
    "autocomplete": {"text": ""},
    "image_prompt": {"prompt": "How much memory?"},
    "other": {},
}


@pytest.mark.parametrize("kind", list(TEMPLATES))
def test_each_housekeeping_prompt_gets_the_json_it_asks_for(kind: str) -> None:
    task = housekeeping_task(TEMPLATES[kind])
    assert task is not None and task.kind == kind
    assert json.loads(answer_task(task)) == ANSWERS[kind]


def test_the_quoted_chat_is_read_turn_by_turn() -> None:
    task = housekeeping_task(TEMPLATES["title"])
    assert task is not None and task.turns == (
        ("user", "What is QLoRA and why does it fit on one GPU?"),
        ("assistant", "It quantizes the base model [1].\nIt trains adapters."),
        ("user", "How much memory?"),
    )


@pytest.mark.parametrize("text", [
    "What is QLoRA?",
    "### Task:\nExplain QLoRA to me.",  # a user's own heading, no quoted chat
    "Please summarise: <chat_history>USER: hi</chat_history>",  # a chat, but not a task prompt
])  # fmt: skip
def test_real_questions_are_not_housekeeping(text: str) -> None:
    assert housekeeping_task(text) is None


def test_titles_are_the_questions_first_words() -> None:
    assert title_for("What is DPO?") == "What is DPO"
    assert title_for("Explain the KV cache. Then size it.") == "Explain the KV cache"
    assert title_for("什么是 QLoRA？它把冻结的基座模型量化成什么格式？") == "什么是 QLoRA"
    assert title_for("数据并行中除了参数服务器架构另一种让GPU首尾相连成环的方式叫什么") == (
        "数据并行中除了参数服务器架构另一…"
    )
    assert title_for("") == ""
