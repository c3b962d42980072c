"""The relation spill: relation mentions folded on disk equal an in-memory fold, and the
scratch file never outlives the rebuild that made it."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from graph.relation_spill import DESCRIPTION_CHARS, NAME, RelationSpill
from graph.resolution import resolve_streaming
from graph.types import EntityMention, Extraction, Relation, RelationMention
from ingest.hashing import content_id

Mention = tuple[str, str, str, str, str, tuple[str, ...], float]


def _mentions(seed: int, n: int) -> list[Mention]:
    """Mentions in chunk order: few relation ids (so each has many mentions), repeated and
    long sentences (so descriptions dedupe and hit the cap), keywords now and then, an
    empty one (an LLM keyword of punctuation only) and one with the separator among them."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        rid = f"r{rng.randrange(12):02}"
        text = rng.choice(["short", "short", "x" * 250, "y" * 380, f"sentence {rng.randrange(9)}"])
        kw = tuple(rng.sample(["uses", "extends", "cites", "", "a\x1fb"], rng.randrange(3)))
        out.append((rid, f"a{rid}", f"b{rid}", f"c{i // 3:04}", text, kw, rng.choice([0.5, 1.0])))
    return out


def _fold_in_memory(mentions: list[Mention]) -> list[Relation]:
    """The oracle: what the old in-memory resolution kept per relation."""
    groups: dict[str, list[Mention]] = {}
    for m in mentions:
        groups.setdefault(m[0], []).append(m)
    out = []
    for rid in sorted(groups):
        texts: list[str] = []
        size, full = 0, False
        keywords: set[str] = set()
        weight = 0.0
        chunks: list[str] = []
        for _, _, _, chunk, text, kw, strength in groups[rid]:
            t = text.strip()
            if not full and t and t not in texts:
                if size + len(t) > DESCRIPTION_CHARS and texts:
                    full = True
                else:
                    texts.append(t)
                    size += len(t)
            keywords.update(kw)
            weight += strength
            if chunk not in chunks:
                chunks.append(chunk)
        first = groups[rid][0]
        out.append(Relation(rid, first[1], first[2], " ".join(texts), tuple(sorted(keywords)),
                            round(weight, 4), tuple(chunks)))  # fmt: skip
    return out


@pytest.mark.parametrize("seed", range(5))
def test_the_spill_folds_as_memory_would_every_walk(tmp_path: Path, seed: int) -> None:
    mentions = _mentions(seed, 400)
    with RelationSpill(tmp_path) as spill:
        for m in mentions:
            spill.add(*m)
        first, second = list(spill), list(spill)
        assert len(spill) == len(first) == 12
    assert first == second == _fold_in_memory(mentions)
    assert any(len(r.description) > 300 for r in first)  # the cap was reached somewhere


def test_many_mentions_pass_through_several_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from graph import relation_spill

    monkeypatch.setattr(relation_spill, "BATCH", 7)  # inserts and the fold both batch
    mentions = _mentions(9, 300)
    with RelationSpill(tmp_path) as spill:
        for m in mentions:
            spill.add(*m)
        assert list(spill) == _fold_in_memory(mentions)


def test_the_scratch_file_lives_only_while_the_block_runs(tmp_path: Path) -> None:
    exs = [Extraction("c1", [EntityMention("LoRA"), EntityMention("QLoRA")],
                      [RelationMention("LoRA", "QLoRA", "QLoRA quantises LoRA.")])]  # fmt: skip
    with resolve_streaming(exs, scratch=tmp_path) as resolved:
        [scratch] = tmp_path.glob(f".{NAME}.*.tmp")
        [rel] = list(resolved.relations)
        assert rel.description == "QLoRA quantises LoRA."
    assert not scratch.exists()
    with pytest.raises(RuntimeError), resolve_streaming(exs, scratch=tmp_path):
        raise RuntimeError("the rebuild failed half way")
    assert list(tmp_path.iterdir()) == []


def test_a_killed_builds_scratch_file_is_swept_and_a_live_ones_kept(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    killed = tmp_path / f".{NAME}.{dead.stdout.strip()}.0badf00d.tmp"
    live = tmp_path / f".{NAME}.{os.getppid()}.0badf00d.tmp"  # a running process's
    killed.write_bytes(b"half a build")
    live.write_bytes(b"another build, running")
    with RelationSpill(tmp_path):
        assert not killed.exists() and live.exists()
    assert sorted(tmp_path.iterdir()) == [live]


def _co_occurrences(chunks: int) -> list[Extraction]:
    """Ten names a chunk from a pool of 1,000: the pairs are mostly new relations, as in a
    large corpus, while the entities stay few."""
    rng = random.Random(chunks)
    out = []
    for i in range(chunks):
        names = [content_id(str(n)) for n in rng.sample(range(1000), 10)]  # unalike
        sentence = f"Sentence {i} names " + ", ".join(names) + "."
        out.append(Extraction(
            f"c{i:06}", [EntityMention(n, "concept", sentence) for n in names],
            [RelationMention(a, b, sentence) for j, a in enumerate(names) for b in names[j + 1:]],
        ))  # fmt: skip
    return out


def _peak_while_walking(exs: list[Extraction], folder: Path) -> tuple[int, int]:
    """Relations resolved and walked, and the peak of Python memory meanwhile beyond the
    extractions themselves."""
    import tracemalloc

    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    with resolve_streaming(exs, scratch=folder) as resolved:
        n = sum(1 for _ in resolved.relations)
        n_again = sum(1 for _ in resolved.relations)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    assert n == n_again == len(resolved.relations)
    return n, peak


def test_resolving_four_times_the_relations_takes_no_more_memory(tmp_path: Path) -> None:
    """The relations live in the scratch file, not in memory: 4x the relations, about the
    same peak (14 MB at both sizes when measured). Held as objects, as the old fold held
    them, the 22k relations took 14 MB and the 82k 55 MB."""
    small_n, small_peak = _peak_while_walking(_co_occurrences(500), tmp_path)
    large_n, large_peak = _peak_while_walking(_co_occurrences(2000), tmp_path)
    assert large_n > small_n + 40_000
    assert large_peak < small_peak + 8 * 2**20, (small_peak, large_peak)
