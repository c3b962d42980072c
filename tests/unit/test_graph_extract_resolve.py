"""Fast extraction on real Chinese and English text, and entity resolution."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph.extract.fast import FastExtractor, _written_as_alias, sentence_entities
from graph.names import name_key
from graph.resolution import resolve
from graph.types import ChunkText, EntityMention, Extraction, RelationMention


def _names(extraction: Extraction) -> set[str]:
    return {name_key(e.name) for e in extraction.entities}


def test_seed_notes_yield_the_key_methods(shared_dir: Path) -> None:
    extractor = FastExtractor()
    found: set[str] = set()
    for path in sorted((shared_dir / "seeds").glob("*.txt")):
        text = path.read_text("utf-8")
        chunks = [ChunkText(f"{path.stem}-{i}", path.stem, text[i : i + 800])
                  for i in range(0, len(text), 800)]  # fmt: skip
        for ex in extractor.extract(chunks):
            found |= _names(ex)
    for must in ("lora", "qlora", "dpo", "rlhf", "adalora", "ppo"):
        assert must in found, must


def test_english_proper_names_and_terms() -> None:
    names = [n for n, _ in sentence_entities(
        "Who was the first president of the American Psychological Association, which "
        "published the Journal of Psychotherapy Integration? vLLM and GPT-4 run on NVIDIA GPUs."
    )]  # fmt: skip
    assert "American Psychological Association" in names
    assert "Journal of Psychotherapy Integration" in names
    assert {"vLLM", "GPT-4", "NVIDIA GPUs"} <= set(names)
    assert "Who" not in names and "GPT-4 and" not in " ".join(names)


def test_chinese_terms_and_bracketed_aliases() -> None:
    [ex] = FastExtractor().extract([ChunkText(
        "c1", "d1",
        "QLoRA（Quantized LoRA）由 Dettmers 等人提出，华盛顿大学的团队用 NF4 量化基座模型。"
        "图谱社区用 Leiden 算法划分。",
    )])  # fmt: skip
    names = _names(ex)
    assert {"qlora", "lora", "dettmers", "nf4", "华盛顿大学", "leiden"} <= names
    aliases = {
        (name_key(r.source), name_key(r.target)) for r in ex.relations if "alias" in r.keywords
    }
    assert aliases == {("qlora", "quantizedlora")}
    linked = {frozenset((name_key(r.source), name_key(r.target))) for r in ex.relations}
    assert frozenset(("qlora", "dettmers")) in linked
    assert frozenset(("qlora", "leiden")) not in linked  # different sentences


def test_relation_description_is_the_linking_sentence() -> None:
    [ex] = FastExtractor().extract(
        [ChunkText("c", "d", "DPO skips the reward model that RLHF trains.")]
    )
    [rel] = ex.relations
    assert {rel.source, rel.target} == {"DPO", "RLHF"}
    assert rel.description == "DPO skips the reward model that RLHF trains."


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Q-LoRA", "qlora"),
        ("ＱＬｏＲＡ", "QLoRA"),
        ("參數高效微調", "参数高效微调"),
        ("Graph  RAG", "GraphRAG"),
    ],
)
def test_name_keys_fold_surface_differences(a: str, b: str) -> None:
    assert name_key(a) == name_key(b)


def _ex(chunk: str, *names: str, alias: tuple[str, str] | None = None) -> Extraction:
    rels = [RelationMention(names[0], n, f"{names[0]} and {n}") for n in names[1:]]
    if alias:
        rels.append(RelationMention(*alias, "", ("alias",)))
    return Extraction(chunk, [EntityMention(n, "concept", f"about {n}") for n in names], rels)


def test_resolution_merges_aliases_and_keeps_distinct_things_apart() -> None:
    exs = [
        _ex("c1", "LoRA", "QLoRA", "Llama 2"),
        _ex("c2", "低秩适配", "LoRA", alias=("低秩适配", "LoRA")),
        _ex("c3", "Transformers", "Llama 3"),
        _ex("c4", "Transformer", "lora"),
    ]
    resolved = resolve(exs)
    by_name = {e.name: e for e in resolved.entities}
    assert "QLoRA" in by_name and "Llama 2" in by_name and "Llama 3" in by_name
    lora = next(e for e in resolved.entities if "低秩适配" in (e.name, *e.aliases))
    assert lora.name == "LoRA" and set(lora.chunk_ids) == {"c1", "c2", "c4"}
    transformer = [e for e in resolved.entities if name_key(e.name).startswith("transformer")]
    assert len(transformer) == 1  # singular/plural merged by string similarity
    assert by_name["QLoRA"].id != lora.id


def test_resolution_does_not_depend_on_input_order() -> None:
    exs = [_ex("c1", "DPO", "RLHF"), _ex("c2", "GRPO", "DPO", alias=("GRPO", "Group Relative PO")),
           _ex("c3", "rlhf", "PPO")]  # fmt: skip
    a, b = resolve(exs), resolve(list(reversed(exs)))
    assert a.entities == b.entities and a.relations == b.relations


def test_resolution_from_a_stream_equals_resolution_from_a_list() -> None:
    """A store's `iter_extractions` is walked twice, one extraction at a time; what comes out
    is the graph the whole list gives, descriptions capped the same way."""
    long = "x" * 400
    exs = [
        Extraction(f"c{i:02}", [EntityMention("LoRA", "method", f"{long} {i}"),
                                EntityMention("QLoRA", "method", "QLoRA, 4-bit")],
                   [RelationMention("LoRA", "QLoRA", f"pair {i % 3}", ("k",), 0.5)])
        for i in range(12)
    ]  # fmt: skip
    walks = []

    def stream() -> Iterator[Extraction]:
        walks.append(1)
        return iter(exs)

    a, b = resolve(exs), resolve(stream)
    assert len(walks) == 2
    assert a.entities == b.entities and a.relations == b.relations
    lora = next(e for e in b.entities if e.name == "LoRA")
    assert lora.description == f"{long} 0"  # the second 400-character text would pass 600
    assert lora.chunk_ids == tuple(f"c{i:02}" for i in range(12))
    [rel] = b.relations
    assert rel.description == "pair 0 pair 1 pair 2" and rel.weight == 6.0


def _alias_by_pattern(sentence: str, a: str, b: str) -> bool:
    """The alias rule as one pattern per pair: what the extractor's cheap check must equal."""
    for x, y in ((a, b), (b, a)):
        pattern = rf"(?<![A-Za-z0-9]){re.escape(x)}\s*[（(]\s*{re.escape(y)}\s*[)）]"
        if re.search(pattern, sentence):
            return True
    return False


_NAMES = st.sampled_from(["LoRA", "Low-Rank Adaptation", "低秩适配", "QLoRA", "GPT-4", "x",
                          "a(b)", " LoRA", "Lo(RA", "9"])  # fmt: skip
_PIECES = st.sampled_from(["", " ", "\n ", "(", ")", "（", "）", "the ", "x", "9", "(b)"])


@settings(max_examples=400, deadline=None, derandomize=True)
@given(a=_NAMES, b=_NAMES, parts=st.lists(st.one_of(_NAMES, _PIECES), max_size=10))
def test_the_alias_check_equals_the_pattern_rule(a: str, b: str, parts: list[str]) -> None:
    sentence = "".join(parts)
    assert _written_as_alias(sentence, a, b) == _alias_by_pattern(sentence, a, b)
    bracketed = f"{a} ({b})"  # and the written-as-alias case itself, among other text
    assert _written_as_alias(sentence + bracketed, a, b) == _alias_by_pattern(
        sentence + bracketed, a, b
    )


def test_names_alike_in_meaning_merge_the_same_in_small_embedding_batches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Candidates (alike as strings, not enough to merge on that alone) go to the embedder a
    few names at a time; which of them merge does not depend on the batch."""
    from graph import resolution

    same = {"Llama Index": 0, "LlamaIndexer": 0, "Vector Store": 1, "Vector Stores DB": 1,
            "Mixtral": 2, "Mistral": 3}  # fmt: skip
    sizes: list[int] = []

    def embed(names: list[str]) -> np.ndarray:
        sizes.append(len(names))
        return np.eye(4, dtype=np.float32)[[same[n] for n in names]]

    exs = [_ex(f"c{i}", a, b) for i, (a, b) in enumerate(
        [("Llama Index", "Mixtral"), ("LlamaIndexer", "Vector Store"),
         ("Vector Stores DB", "Mistral")])]  # fmt: skip
    whole = resolve(exs, embed)
    assert max(sizes) == 6
    monkeypatch.setattr(resolution, "EMBED_BATCH", 2)
    sizes.clear()
    batched = resolve(exs, embed)
    assert max(sizes) <= 3 and len(sizes) >= 2
    assert batched == whole
    names = sorted((e.name, *e.aliases) for e in whole.entities)
    assert names == [("Llama Index", "LlamaIndexer"), ("Mistral",), ("Mixtral",),
                     ("Vector Store", "Vector Stores DB")]  # fmt: skip
