"""Local generation with llama.cpp (llama-cpp-python) from a GGUF file.

Every prompt of one kind starts with the same system rule (the answer rule, KAG's planner with
its worked examples, the step reader), and llama.cpp only skips the tokens that the previous
prompt shares with this one. Translation, planning and answering take turns, so each would
evaluate its rule again on every question: `PrefixStates` keeps, for the last few system rules,
the KV cache of the part of the prompt that two prompts with that rule shared, and puts it back
before the next prompt with that rule (docs/benchmarks.md, "Time to first token").
"""

from __future__ import annotations

import ctypes
import logging
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from ingest.errors import ModelNotInstalled
from rag.generation.base import GenerationError, Message

log = logging.getLogger(__name__)

# system rules whose prompt prefix is kept (answer en/zh, brief en/zh, planner, step reader…)
PREFIX_STATES = 8
# a shared prefix shorter than this is not worth a copy (about 0.25 s of prefill at 121 tok/s)
MIN_PREFIX = 32


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class PrefixStates:
    """The KV cache of each recent system rule's shared prompt prefix, for one `Llama`.

    `learn` runs after a prompt with that rule was answered: the first time it only remembers
    the prompt's tokens; the second time, the tokens both prompts share are the rule's prefix,
    and the KV cache is cut to them and copied (llama.cpp's per-sequence state: the keys and
    values only, about 28 KB a token for the 1.5B model; no logits). `restore` puts a copy back
    when the model holds something else, and llama-cpp-python's own prefix match then
    evaluates only the rest of the prompt. Uses llama-cpp-python internals (`n_tokens`,
    `input_ids`, `_requires_eval`, `_ctx`) of the version that scripts/setup.sh pins; the
    real-model test in tests/integration/test_prefix_states.py holds them.
    """

    def __init__(self, size: int = PREFIX_STATES) -> None:
        self._size = size
        self._states: OrderedDict[str, tuple[list[int], bytes]] = OrderedDict()
        self._seen: OrderedDict[str, list[int]] = OrderedDict()
        self.restored = 0  # how many prompts started from a kept prefix (tests, benchmarks)

    def __len__(self) -> int:
        return len(self._states)

    def restore(self, llm: Any, key: str) -> None:
        entry = self._states.get(key)
        if entry is None:
            return
        self._states.move_to_end(key)
        tokens, blob = entry
        n = len(tokens)
        if _common_prefix(llm.input_ids[: llm.n_tokens].tolist(), tokens) == n:
            return  # the model holds it already (the previous prompt had the same rule)
        import llama_cpp

        llm._ctx.kv_cache_seq_rm(-1, 0, -1)
        buf = (ctypes.c_uint8 * len(blob)).from_buffer_copy(blob)
        if not llama_cpp.llama_state_seq_set_data(llm._ctx.ctx, buf, len(blob), 0):
            log.warning("could not restore a kept prompt prefix; evaluating it again")
            llm.n_tokens = 0
            del self._states[key]
            return
        llm.input_ids[:n] = tokens
        llm.n_tokens = n
        llm._requires_eval = True
        self.restored += 1

    def learn(self, llm: Any, key: str) -> None:
        current = llm.input_ids[: llm.n_tokens].tolist()  # the prompt and the answer
        previous = self._seen.pop(key, None)
        self._seen[key] = current
        while len(self._seen) > self._size:
            self._seen.popitem(last=False)
        if key in self._states or previous is None:
            return
        n = _common_prefix(previous, current)
        if n < MIN_PREFIX:
            return
        import llama_cpp

        llm._ctx.kv_cache_seq_rm(-1, n, -1)  # keep the shared part only, then copy it
        llm.n_tokens = n
        size = llama_cpp.llama_state_seq_get_size(llm._ctx.ctx, 0)
        buf = (ctypes.c_uint8 * size)()
        got = llama_cpp.llama_state_seq_get_data(llm._ctx.ctx, buf, size, 0)
        if not got:
            return
        self._states[key] = (current[:n], bytes(buf)[:got])
        while len(self._states) > self._size:
            self._states.popitem(last=False)


class LlamaCppGenerator:
    def __init__(self, model_path: Path, *, context_tokens: int = 4096, threads: int = 2) -> None:
        self._path = Path(model_path)
        self._context_tokens = context_tokens
        self._threads = threads
        self.prefixes = PrefixStates()

    @property
    def name(self) -> str:
        return self._path.name

    @property
    def context_tokens(self) -> int:
        return self._context_tokens

    @cached_property
    def _llm(self) -> Any:
        try:
            from llama_cpp import Llama
        except ImportError as e:
            raise ModelNotInstalled(
                "llama-cpp-python is not installed; run: make setup (it builds it for this CPU)"
            ) from e
        log.info("loading %s", self._path)
        try:
            return Llama(
                model_path=str(self._path), n_ctx=self._context_tokens, n_threads=self._threads,
                n_threads_batch=self._threads, verbose=False,
            )  # fmt: skip
        except (ValueError, RuntimeError) as e:
            raise GenerationError(f"could not load GGUF model {self._path}: {e}") from e

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def stream(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        json_schema: dict[str, Any] | None = None,
    ) -> Iterator[str]:
        kwargs: dict[str, Any] = {}
        if json_schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": json_schema}
        # the system rule names the prefix; a prompt without one is not kept
        key = messages[0]["content"] if messages and messages[0]["role"] == "system" else None
        try:
            llm = self._llm
            if key is not None:
                self.prefixes.restore(llm, key)
            parts = llm.create_chat_completion(
                messages=list(messages), max_tokens=max_tokens, temperature=temperature,
                stream=True, **kwargs,
            )  # fmt: skip
            for part in parts:
                delta = part["choices"][0].get("delta", {}).get("content")
                if delta:
                    yield delta
            if key is not None:  # a stream closed early (a guard stopped it) learns nothing
                self.prefixes.learn(llm, key)
        except (ValueError, RuntimeError) as e:
            raise GenerationError(f"generation failed: {e}") from e
