"""A chat front-end's housekeeping prompts, answered without retrieval and without a model.

Open WebUI asks the chat's own model for a title after the first answer, for tags, for
follow-up suggestions, for search queries and for autocompletion. Each of these is one user
message built from a template (backend/open_webui/config.py, DEFAULT_*_PROMPT_TEMPLATE) that
starts with "### Task:", quotes the conversation between <chat_history> tags as "USER: …" and
"ASSISTANT: …" lines, and asks for one JSON object. Sent through retrieval they would become a
long, odd question and cost a whole answer (30 s on a laptop CPU); a deterministic answer in
the JSON shape the template asks for costs nothing and is what the front-end parses.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

from rag.prompting import detect_language

TaskKind = Literal[
    "title", "tags", "follow_ups", "queries", "autocomplete", "image_prompt", "other"
]

_HEAD = "### Task:"
# The first JSON key a template shows decides its kind; each template names its own first.
_OUTPUT_KEY = re.compile(r'\{\s*"(title|tags|follow_ups|queries|text|prompt)"\s*:')
_KINDS: dict[str, TaskKind] = {"title": "title", "tags": "tags", "follow_ups": "follow_ups",
                               "queries": "queries", "text": "autocomplete",
                               "prompt": "image_prompt"}  # fmt: skip
_HISTORY = re.compile(r"<chat_history>\n?(.*?)\n?</chat_history>", re.S)
_TURN = re.compile(r"^(USER|ASSISTANT|SYSTEM): ?", re.M)
_SENTENCE_END = re.compile(r"[?!.。？！]\s|[?!.。？！]$|[。？！]")
TITLE_WORDS = 6  # Open WebUI asks for 3-5 words; a question's first six read as its topic
TITLE_CHARS = 16  # the same for a Chinese question, which has no spaces to count


@dataclass(frozen=True)
class HousekeepingTask:
    kind: TaskKind
    turns: tuple[tuple[str, str], ...]  # (role, text) of the quoted conversation, in order

    def user_texts(self) -> list[str]:
        return [text for role, text in self.turns if role == "user"]


def housekeeping_task(message: str) -> HousekeepingTask | None:
    """The task a front-end's housekeeping prompt asks for, or None for a real question."""
    text = message.lstrip()
    history = _HISTORY.search(text)
    if not text.startswith(_HEAD) or history is None:
        return None
    key = _OUTPUT_KEY.search(text)
    kind = _KINDS[key.group(1)] if key else "other"
    return HousekeepingTask(kind, _turns(history.group(1)))


def _turns(block: str) -> tuple[tuple[str, str], ...]:
    """The quoted conversation's "USER: …" / "ASSISTANT: …" lines as (role, text)."""
    marks = list(_TURN.finditer(block))
    turns = []
    for mark, nxt in zip(marks, [*marks[1:], None], strict=True):
        end = nxt.start() if nxt else len(block)
        body = block[mark.end() : end].strip()
        if body:
            turns.append((mark.group(1).lower(), body))
    return tuple(turns)


def title_for(question: str) -> str:
    """A short title from the question itself: its first sentence, its first few words."""
    question = question.strip()
    end = _SENTENCE_END.search(question)
    first = (question[: end.start()] if end else question).strip()
    if detect_language(first) == "zh":
        return first[:TITLE_CHARS] + ("…" if len(first) > TITLE_CHARS else "")
    words = first.split()
    return " ".join(words[:TITLE_WORDS]) + ("…" if len(words) > TITLE_WORDS else "")


def answer_task(task: HousekeepingTask) -> str:
    """The JSON text the task's template asks for, from the quoted conversation alone."""
    users = task.user_texts()
    first, last = (users[0], users[-1]) if users else ("", "")
    body: dict[str, object]
    if task.kind == "title":
        body = {"title": title_for(first) or "New chat"}
    elif task.kind == "tags":
        body = {"tags": []}  # the documents, not the chat, are what this server categorises
    elif task.kind == "follow_ups":
        body = {"follow_ups": []}  # suggestions would need the model: a whole answer's time
    elif task.kind == "queries":
        body = {"queries": [last] if last else []}  # this server retrieves for the chat itself
    elif task.kind == "autocomplete":
        body = {"text": ""}
    elif task.kind == "image_prompt":
        body = {"prompt": last}
    else:
        body = {}
    return json.dumps(body, ensure_ascii=False)
