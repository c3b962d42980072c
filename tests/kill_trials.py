"""Kill trials: a real `rag ingest` process killed with SIGKILL, then checked and re-run.

A `Bench` is the fixed setting every trial shares: two folders of notes cut from the real seed
texts, a base store holding the first (the "previous store"), and a reference store where the
second was ingested on top without interruption, which also says how many boundary calls each
phase makes and how long that ingest runs. A trial copies the base store, starts the ingest of
the second folder under `tests.fault_injection`, and kills it — at the Nth call at a phase's
boundary, or after a random delay. Then:

1. on a copy of what the kill left (so nothing the check does can repair the original):
   the consistency check (`store_checks.problems`, and `rag doctor`'s, which may only report
   what the next ingest resumes: `RESUMABLE`), every
   document present is whole and the same as in the reference store — in particular every
   document the progress output had reported — and the store opens and answers;
2. the ingest is run again, to completion, and the store must then equal the reference one:
   all documents, whole, none twice, the graph resolved to the same entities and relations,
   `rag doctor` finds nothing, and no temp file or stale cache is left behind.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fault_injection import PHASES, POINTS
from tests.store_checks import answers, fingerprint, graph_print, leftovers, problems

ROOT = Path(__file__).resolve().parents[1]
DIM = 256  # the hashing embedder's


def notes(folder: Path, seeds: Path, n: int, size: int = 600, start: int = 0) -> None:
    """n small Markdown documents cut from the real seed texts (numbered from `start`)."""
    text = "".join(p.read_text("utf-8") for p in sorted(seeds.glob("*.txt")))
    folder.mkdir(parents=True)
    step = max(1, (len(text) - size) // n)
    for i in range(n):
        (folder / f"note_{start + i:04d}.md").write_text(
            f"# Note {start + i}\n\n{text[i * step : i * step + size]}\n", encoding="utf-8"
        )


def articles(folder: Path, corpus: Path, n: int, per_doc: int = 4, start: int = 0) -> None:
    """n Markdown documents of `per_doc` real passages each (a section per passage), from a
    dataset's corpus.jsonl, starting at document `start`.

    The kill trials use English passages: the graph's fast extractor tags Chinese with jieba's
    POS model, measured at 160 ms a chunk and 3.9 s to load in each process, against 11 ms a
    chunk for English, and each trial runs the graph twice (the killed run and the re-run)."""
    import json

    lines = corpus.read_text("utf-8").splitlines()
    folder.mkdir(parents=True)
    for i in range(start, start + n):
        parts = [json.loads(x) for x in lines[i * per_doc : (i + 1) * per_doc]]
        body = "\n\n".join(f"## {p['title']}\n\n{p['text']}" for p in parts)
        (folder / f"article_{i:04d}.md").write_text(f"# Article {i}\n\n{body}\n", "utf-8")


def rag_env(store: Path, graph: str = "fast", **fault: str) -> dict[str, str]:
    env = {**os.environ, "RAG_EMBEDDER": "hashing", "RAG_STORE": str(store), "RAG_GRAPH": graph}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update({f"RAG_FAULT{'_' + k.upper() if k != 'spec' else ''}": v for k, v in fault.items()})
    return env


def start_ingest(
    store: Path, paths: list[Path], stderr: Path, graph: str = "fast", **fault: str
) -> subprocess.Popen[bytes]:
    """`rag ingest PATHS` under the fault wrapper; `fault` holds spec=, log=, fill= for
    RAG_FAULT, RAG_FAULT_LOG, RAG_FAULT_FILL. stderr goes to a file: a pipe nobody reads
    could fill up and stall the process, which would then die at a point of our choosing."""
    with stderr.open("wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.fault_injection", "ingest", *map(str, paths)],
            cwd=ROOT, env=rag_env(store, graph, **fault), stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip


@dataclass
class Events:
    """What the event log of one run says."""

    started: bool = False
    phases: list[str] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=lambda: dict.fromkeys(POINTS, 0))
    reported: dict[str, str] = field(default_factory=dict)  # doc id → source
    faults: list[str] = field(default_factory=list)
    resumable: list[str] = field(default_factory=list)  # what `rag doctor` found to resume

    @classmethod
    def read(cls, path: Path) -> Events:
        ev = cls()
        lines = path.read_text("utf-8").splitlines() if path.exists() else []
        for line in lines:
            kind, _, rest = line.partition(" ")
            if kind == "start":
                ev.started = True
            elif kind == "phase":
                ev.phases.append(rest)
            elif kind == "call":
                phase, n = rest.split()
                ev.calls[phase] = max(ev.calls[phase], int(n))
            elif kind == "reported":
                _status, doc_id, _n, source = rest.split(" ", 3)
                ev.reported[doc_id] = source
            elif kind == "fault":
                ev.faults.append(rest)
        return ev

    @property
    def last_phase(self) -> str:
        return self.phases[-1] if self.phases else "startup"


def _wait_started(log: Path, proc: subprocess.Popen[bytes], limit: float = 60.0) -> float:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and proc.poll() is None:
        if log.exists() and log.read_bytes().startswith(b"start"):
            return time.monotonic()
        time.sleep(0.005)
    raise RuntimeError(f"the ingest did not start (exit {proc.poll()})")


@dataclass
class Bench:
    work: Path
    first: Path
    second: Path
    base: Path
    reference: Path
    calls: dict[str, int]
    seconds: float  # the uninterrupted second ingest, from `start` to exit
    ref_docs: dict[str, Any]
    ref_graph: dict[str, Any]

    @classmethod
    def prepare(cls, work: Path, corpus: Path, n_first: int = 6, n_second: int = 12) -> Bench:
        """`corpus`: a dataset's corpus.jsonl (../shared/datasets/*/corpus.jsonl)."""
        first, second = work / "corpus" / "first", work / "corpus" / "second"
        articles(first, corpus, n_first, per_doc=3)
        articles(second, corpus, n_second, per_doc=3, start=n_first)
        base, reference = work / "base", work / "reference"
        proc = start_ingest(base, [first], work / "base.err")
        if proc.wait(timeout=300) != 0:
            raise RuntimeError((work / "base.err").read_text("utf-8", "replace"))
        shutil.copytree(base, reference)
        log = work / "reference.log"
        proc = start_ingest(reference, [second], work / "reference.err", log=str(log))
        t0 = _wait_started(log, proc)
        if proc.wait(timeout=300) != 0:
            raise RuntimeError((work / "reference.err").read_text("utf-8", "replace"))
        seconds = time.monotonic() - t0
        ev = Events.read(log)
        found = problems(reference, DIM) + leftovers_of(reference) + doctor(reference)[0]
        if found:
            raise RuntimeError(f"the uninterrupted reference store is not clean: {found}")
        return cls(work, first, second, base, reference, ev.calls, seconds,
                   fingerprint(reference), graph_print(reference))  # fmt: skip

    def schedule(self, n: int, rng: random.Random, random_share: float = 0.2) -> list[str | None]:
        """n trials: targeted faults cycling through the phases and their points at a random
        call, and (a `random_share` of them) None, a kill after a random delay."""
        n_random = round(n * random_share)
        targeted = []
        for i in range(n - n_random):
            phase = PHASES[i % len(PHASES)]
            points = POINTS[phase]
            point = points[(i // len(PHASES)) % len(points)]
            targeted.append(f"{phase}:{rng.randint(1, self.calls[phase])}:{point}")
        return targeted + [None] * n_random


def leftovers_of(store: Path) -> list[str]:
    return [f"left behind: {name}" for name in leftovers(store)]


@dataclass
class Outcome:
    phase: str  # where the process died: the fault's phase, or the last boundary it passed
    label: str  # the fault spec, or "random +Ns"
    problems: list[str]
    present: int = 0  # documents of the second folder the kill left
    resumable: list[str] = field(default_factory=list)  # `rag doctor` codes the re-run cleared

    @property
    def survived(self) -> bool:
        return not self.problems


def run_trial(
    bench: Bench, fault: str | None, trial_dir: Path, rng: random.Random, latest: float = 0.0
) -> Outcome:
    """One trial; `fault` None kills after a random delay up to `latest` seconds (default:
    80 % of the uninterrupted run), halving it when the ingest finished before the kill."""
    trial_dir.mkdir(parents=True)
    store, log = trial_dir / "kb", trial_dir / "events.log"
    shutil.copytree(bench.base, store)
    proc = start_ingest(store, [bench.second], trial_dir / "stderr", log=str(log),
                        **({"spec": fault} if fault else {}))  # fmt: skip
    label = fault or ""
    if fault is None:
        latest = latest or 0.8 * bench.seconds
        delay = rng.uniform(0.0, latest)
        label = f"random +{delay:.2f}s"
        _wait_started(log, proc)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        if proc.wait(timeout=300) == 0 and latest > 0.05:  # it won the race: not a kill trial
            shutil.rmtree(trial_dir)
            return run_trial(bench, None, trial_dir, rng, latest / 2)
    rc = proc.wait(timeout=300)
    ev = Events.read(log)
    phase = fault.split(":")[0] if fault else ev.last_phase
    found: list[str] = []
    if rc != -signal.SIGKILL:
        err = (trial_dir / "stderr").read_text("utf-8", "replace").strip().splitlines()
        found.append(f"not killed: exit {rc}, {err[-1:] or 'no output'}")
    elif fault and not ev.faults:
        found.append("killed before the fault point")
    found += check_after_kill(bench, store, trial_dir / "after-kill", ev)
    present = len(fingerprint(trial_dir / "after-kill")) - len(fingerprint(bench.base))
    found += check_rerun(bench, store, trial_dir)
    if not found:
        shutil.rmtree(trial_dir)  # keep a failed trial's files for whoever looks into it
    return Outcome(phase, label, found, present, ev.resumable)


def check_after_kill(bench: Bench, store: Path, copy: Path, ev: Events) -> list[str]:
    """The checks on what a kill left, run on a copy: opening a store may write its caches."""
    shutil.copytree(store, copy)
    found, lag = doctor(copy, RESUMABLE)
    found += problems(copy, DIM)
    ev.resumable = sorted(lag)
    got = fingerprint(copy)
    for doc_id, source in ev.reported.items():
        if doc_id not in got:
            found.append(f"reported as ingested but missing: {Path(source).name}")
    for doc_id, doc in got.items():
        if bench.ref_docs.get(doc_id) != doc:
            found.append(f"not whole or not as ingested: {Path(doc[0]).name}")
    return found + answers(copy, DIM)


def check_rerun(bench: Bench, store: Path, trial_dir: Path) -> list[str]:
    """Ingest both folders again, in this process, and compare with the reference store."""
    from rag.engine import Engine
    from rag.settings import Settings

    before = len(fingerprint(store))
    settings = Settings.from_env(
        {"HOME": str(trial_dir / "home")}, store_dir=store, embedder="hashing", graph="fast"
    )
    with Engine(settings) as engine:
        report = engine.ingest([bench.first, bench.second])
    found = []
    expected = {"added": len(bench.ref_docs) - before, "unchanged": before, "updated": 0,
                "failed": 0}  # fmt: skip
    got = {k: report.count(k) for k in expected}  # type: ignore[arg-type]
    if got != expected:
        found.append(f"re-run reported {got}, expected {expected}")
    if (docs := fingerprint(store)) != bench.ref_docs:
        lost = sorted(set(bench.ref_docs) - set(docs))
        found.append(
            f"after the re-run the documents differ from the reference ({len(lost)} missing)"
        )
    graph = graph_print(store)
    if graph != bench.ref_graph:
        diff = [k for k in graph if graph[k] != bench.ref_graph[k]]
        found.append(f"after the re-run the graph differs from the reference in {diff}")
    found += doctor(store)[0] + problems(store, DIM) + leftovers_of(store)
    return found + answers(store, DIM)


# What `rag doctor` reports after a kill that is no damage: the state an interrupted ingest
# leaves and the next one resumes from (documents stored but not yet in the graph, a resolved
# graph behind its extractions, the cache file of the generation before the last commit, which
# no reader loads). After the re-run not even these may remain.
RESUMABLE = frozenset({"graph_missing_docs", "graph_stale", "stale_vector_cache"})


def doctor(
    store: Path, allowed: frozenset[str] = frozenset(), graph: str = "fast"
) -> tuple[list[str], set[str]]:
    """`rag doctor`'s check (rag.doctor.diagnose, in this process: a `rag` process per check
    would double a trial's time) of `store`: its problems but the `allowed` codes, one line
    each, and the allowed codes it did report."""
    from rag.doctor import diagnose
    from rag.settings import Settings

    settings = Settings.from_env(
        {"HOME": str(store.parent / "home")}, store_dir=store, embedder="hashing", graph=graph
    )
    report = diagnose(settings)
    found = [f"rag doctor: {p.code} ({p.count}): {p.message}" for p in report.found
             if p.code not in allowed]  # fmt: skip
    assert {p.code for p in report.unfinished} <= RESUMABLE  # never damage called unfinished
    return found, {p.code for p in report.found if p.code in allowed}
