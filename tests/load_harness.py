"""Load on a real `rag serve` while other processes write the same store; every answer checked.

Used by scripts/load_test.py (the full 8 clients × 200 requests) and tests/integration/
test_load.py (a bounded run in CI). The pieces, all real processes on loopback:

- the store: the demo corpus and a few one-chunk "revision notes", ingested by `rag ingest`;
- `rag serve` over it, answering /ask with the smoke model (or a scripted OpenAI-compatible
  endpoint where that model is not installed);
- a writer running `rag ingest --json --wait` again and again, each run adding new multi-chunk
  documents and rewriting every revision note with its next version, and an uploader posting
  documents through POST /api/v1/documents (queued behind the writer's lock);
- N clients, each sending its share of mixed /retrieve and /ask requests.

What a reader must never see, and how each response is checked:

- a half-written index: a retrieval ranked in one generation and resolved in another drops
  the chunks that were replaced meanwhile, so every response must hold exactly k passages
  (each query is checked to find at least k in the store before the run starts);
- mixed generations: a revision note's title and text name the same version;
- a document in part: the first time a client sees a document it fetches it
  (GET /documents/<id>) and checks that it has all its chunks and that the hit is one of them;
- afterwards, against the store on disk: every passage any client was shown is a chunk of the
  store with that text (or of a revision note since rewritten), every document a writer
  reported as ingested is there whole, and the store is consistent (SQL, FAISS, keyword index,
  checked here and by `rag doctor`).

Any status other than 200 is an error. The report gives requests/s and p50/p95/p99 latency
per endpoint.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tests.web.test_serve import multipart  # the same hand-built upload body

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "corpora" / "demo"
LOAD_ENDPOINTS = ("POST /retrieve", "POST /ask")  # what the clients send; the rest are checks
REVISIONS = 6  # one-chunk notes every writer run rewrites with the next version
_REVISION_TITLE = re.compile(r"^Revision note (\d+) v(\d+)$")
# Questions for the revision notes and the writers' new documents; the demo questions join them.
EXTRA_QUESTIONS = [
    "How does QLoRA quantize the frozen base model? Which revision note says so?",
    "Which load note describes fine-tuning with adapters and low-rank matrices?",
    "What do the uploaded field notes say about training pipelines?",
]


@dataclass
class LoadConfig:
    clients: int = 8
    requests: int = 200  # per client
    ask_every: int = 8  # every n-th request of a client is an /ask, the others /retrieve; 0: none
    k: int = 5
    ask_k: int = 2  # passages in an answer's prompt: keeps the smoke model's prompt short
    embedder: str = "hashing"  # or "e5", the default of a real install
    graph: str = "off"  # the writers' knowledge graph (RAG_GRAPH)
    writer_docs: int = 6  # new documents per `rag ingest` run
    writer_pause_s: float = 0.5  # between runs
    uploads: int = 4  # documents posted through the API during the load
    answer_tokens: int = 16
    generator: str = "smoke"  # "smoke": the registry's smoke model; "scripted": a fake endpoint
    timeout_s: float = 3600.0  # the whole load phase


@dataclass
class Timing:
    endpoint: str
    seconds: float


@dataclass
class LoadReport:
    config: LoadConfig
    wall_s: float = 0.0
    timings: list[Timing] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    writer_runs: int = 0
    uploaded: int = 0
    reported_docs: int = 0  # documents the writers reported as ingested (distinct sources)
    lost: list[str] = field(default_factory=list)
    documents_checked: int = 0
    passages_checked: int = 0
    new_passages: int = 0  # of those, passages of documents the writers added during the load
    generator: str = ""
    store: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.lost

    def endpoints(self) -> dict[str, dict[str, float]]:
        rows: dict[str, dict[str, float]] = {}
        for name in sorted({t.endpoint for t in self.timings}):
            ms = np.array([t.seconds * 1000 for t in self.timings if t.endpoint == name])
            rows[name] = {
                "requests": len(ms), "rps": len(ms) / self.wall_s if self.wall_s else 0.0,
                "p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)),
                "p99_ms": float(np.percentile(ms, 99)),
            }  # fmt: skip
        return rows

    def table(self) -> str:
        c = self.config
        lines = [
            f"{c.clients} clients x {c.requests} requests "
            f"({f'1 in {c.ask_every}' if c.ask_every else 'none'} an /ask), "
            f"embedder {c.embedder}, generator {self.generator}, graph {c.graph}; "
            f"load phase {self.wall_s:.1f} s",
            f"{'endpoint':<24}{'requests':>9}{'req/s':>9}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}",
        ]
        for name, r in self.endpoints().items():
            lines.append(
                f"{name:<24}{r['requests']:>9.0f}{r['rps']:>9.2f}{r['p50_ms']:>10.1f}"
                f"{r['p95_ms']:>10.1f}{r['p99_ms']:>10.1f}"
            )
        served = sum(1 for t in self.timings if t.endpoint in LOAD_ENDPOINTS)
        lines += [
            f"served {served} load requests, {len(self.errors)} errors; writers: "
            f"{self.writer_runs} `rag ingest` runs and {self.uploaded} uploads during the load, "
            f"{self.reported_docs} documents reported ingested, {len(self.lost)} lost",
            f"checked {self.passages_checked} passages shown ({self.new_passages} of documents "
            f"written during the load) and {self.documents_checked} documents fetched; "
            f"store afterwards: {self.store}",
        ]
        lines += [f"ERROR {e}" for e in self.errors[:20]]
        lines += [f"LOST {x}" for x in self.lost[:20]]
        return "\n".join(lines)


# --- processes ---------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rag_env(tmp: Path, cfg: LoadConfig, **extra: str) -> dict[str, str]:
    """The environment of every `rag` process: this checkout, no RAG_* of the developer's."""
    from rag.settings import Settings

    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(
        PYTHONPATH=str(ROOT), HOME=str(tmp / "home"), HF_HUB_OFFLINE="1", LANG="C.UTF-8",
        RAG_MODELS_DIR=str(Settings.from_env().models_dir), RAG_EMBEDDER=cfg.embedder,
        RAG_GRAPH=cfg.graph, **extra,
    )  # fmt: skip
    return env


def rag(*args: str) -> list[str]:
    return [sys.executable, "-m", "rag.cli.main", *args]


def ingest(
    store: Path, paths: list[Path], env: dict[str, str], wait: float = 300
) -> list[dict[str, Any]]:
    """`rag ingest --json` in a child process; its per-file results (raises when it fails)."""
    proc = subprocess.run(
        rag("ingest", "--store", str(store), "--json", "--wait", str(wait), *map(str, paths)),
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=wait + 600,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"rag ingest exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    return list(json.loads(proc.stdout)["results"])


@contextmanager
def generator_env(cfg: LoadConfig) -> Iterator[tuple[str, dict[str, str]]]:
    """(what answers /ask, the variables that make `rag serve` use it)."""
    from rag.models.registry import MODELS, SMOKE_GENERATOR, is_installed
    from rag.settings import Settings

    if cfg.generator == "smoke":
        spec = MODELS[SMOKE_GENERATOR]
        if not is_installed(spec, Settings.from_env().models_dir):
            raise RuntimeError(f"{spec.key} is not installed: run {spec.install_command()}")
        yield spec.key, {"RAG_MODEL": spec.key}
        return
    from tests.fake_openai import fake_openai

    with fake_openai("The passages answer it [1].") as (url, _):
        yield "scripted endpoint", {"RAG_OPENAI_BASE_URL": url, "RAG_OPENAI_MODEL": "scripted"}


class Server:
    """`rag serve` on a free loopback port, its output in a log file."""

    def __init__(self, store: Path, env: dict[str, str], log: Path, workers: int) -> None:
        self.port = free_port()
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                rag("serve", "--store", str(store), "--port", str(self.port),
                    "--workers", str(workers)),
                env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def wait_ready(self, timeout: float = 180) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rag serve exited {self.proc.returncode}: {self.output()}")
            with suppress(OSError):
                status, body = Client(self.port).call("GET", "/api/v1/health")
                if status == 200:
                    return dict(body)
                raise RuntimeError(f"rag serve is not healthy ({status}): {body}")
            time.sleep(0.2)
        raise TimeoutError(f"rag serve did not answer within {timeout} s: {self.output()}")

    def output(self) -> str:
        return self.log.read_text("utf-8", errors="replace")[-3000:]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                return self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


class Client:
    """One keep-alive HTTP connection to the server, reopened after an error."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._conn: http.client.HTTPConnection | None = None

    def call(
        self, method: str, path: str, body: Any = None, raw: bytes | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, Any]:  # fmt: skip
        if self._conn is None:
            self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        headers = {"Content-Type": content_type} if data is not None else {}
        try:
            self._conn.request(method, path, body=data, headers=headers)
            resp = self._conn.getresponse()
            payload = resp.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        try:
            return resp.status, json.loads(payload)
        except ValueError:
            return resp.status, payload.decode("utf-8", "replace")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


# --- the corpus ----------------------------------------------------------------------------------


def _source_texts() -> list[str]:
    """Real prose to cut new documents from: the demo corpus's Markdown and UTF-8 text."""
    return [p.read_text("utf-8") for p in sorted(DEMO.glob("*.md"))] + [
        (DEMO / "rag_graphrag_kag_zh.txt").read_text("utf-8")
    ]


def revision_note(i: int, version: int) -> str:
    return (
        f"# Revision note {i} v{version}\n\nVersion {version} of revision note {i}. QLoRA "
        f"quantizes the frozen base model to 4-bit NF4 and trains LoRA adapters on top; "
        f"revision note {i} is at version {version}.\n"
    )


def write_revisions(folder: Path, version: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(REVISIONS):
        (folder / f"revision_{i}.md").write_text(revision_note(i, version), "utf-8")


def new_document(kind: str, n: int, texts: list[str]) -> str:
    """A document of several chunks: a heading, a line that says which one it is, then about
    2,000 characters of a demo text starting at a place that depends on n."""
    text = texts[n % len(texts)]
    start = (n * 997) % max(1, len(text) - 2000)
    return (
        f"# {kind.capitalize()} note {n}\n\nThis {kind} note {n} was written while the store was "
        f"under load; it describes fine-tuning, adapters and training pipelines.\n\n"
        f"{text[start : start + 2000]}\n"
    )


# --- the run -------------------------------------------------------------------------------------


@dataclass
class Seen:
    """What the clients were shown: chunk id → (document source, text), and checked docs."""

    chunks: dict[str, tuple[str, str]] = field(default_factory=dict)
    docs: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Load:
    def __init__(self, tmp: Path, cfg: LoadConfig) -> None:
        self.tmp, self.cfg = tmp, cfg
        self.store = tmp / "store"
        self.report = LoadReport(cfg)
        self.seen = Seen()
        self.reported: dict[str, str] = {}  # source → the doc id its latest ingest reported
        self.revision_version = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()  # the clients are done: the writers finish their run
        self._late = threading.Event()  # the load ran out of time: the clients stop
        self._texts = _source_texts()
        self._env: dict[str, str] = {}  # of the `rag` processes, set when the run starts

    # --- errors and timings (any thread) ---

    def error(self, message: str) -> None:
        with self._lock:
            self.report.errors.append(message)

    def timed(
        self, client: Client, endpoint: str, method: str, path: str, **kw: Any
    ) -> tuple[int, Any]:
        t0 = time.perf_counter()
        try:
            status, body = client.call(method, path, **kw)
        except (OSError, http.client.HTTPException) as e:
            self.error(f"{endpoint}: {type(e).__name__}: {e}")
            return 0, None
        with self._lock:
            self.report.timings.append(Timing(endpoint, time.perf_counter() - t0))
        if status != 200 and not (endpoint == "POST /documents" and status == 202):
            self.error(f"{endpoint} {path}: HTTP {status}: {str(body)[:300]}")
        return status, body

    def record(self, results: list[dict[str, Any]]) -> None:
        with self._lock:
            for r in results:
                if r["status"] in ("added", "updated", "unchanged"):
                    self.reported[r["source"]] = r["doc_id"]
                else:
                    self.report.errors.append(
                        f"ingest of {r['source']}: {r['status']} {r.get('error')}"
                    )

    # --- phases ---

    def run(self) -> LoadReport:
        cfg, tmp = self.cfg, self.tmp
        write_revisions(tmp / "revisions", 0)
        with generator_env(cfg) as (gen_name, gen_env):
            self.report.generator = gen_name
            env = rag_env(tmp, cfg, RAG_WRITE_WAIT="300",
                          RAG_MAX_ANSWER_TOKENS=str(cfg.answer_tokens), **gen_env)  # fmt: skip
            self._env = env
            self.record(ingest(self.store, [DEMO, tmp / "revisions"], env))
            server = Server(self.store, env, tmp / "serve.log", workers=cfg.clients + 2)
            try:
                server.wait_ready()
                questions = self._questions(server.port)
                self._load(server.port, env, questions)
                self._check_reported(server.port)
            finally:
                code = server.stop()
            log = server.output()
            if "Traceback" in log:
                self.error(f"the server logged a traceback: {log[-1500:]}")
            if code not in (0, -15):
                self.error(f"rag serve exited {code}")
        self._check_store()
        return self.report

    def _questions(self, port: int) -> list[str]:
        """The demo questions and ours, each checked to find at least k passages already."""
        lines = (DEMO / "questions.jsonl").read_text("utf-8").splitlines()
        questions = [json.loads(x)["question"] for x in lines if x.strip()] + EXTRA_QUESTIONS
        client = Client(port)
        for q in questions:
            for method in ("hybrid", "dense", "bm25"):
                status, body = client.call("POST", "/api/v1/retrieve",
                                           {"question": q, "k": self.cfg.k, "method": method})  # fmt: skip
                if status != 200 or len(body["sources"]) < self.cfg.k:
                    raise RuntimeError(
                        f"before the load, {method} found too little for {q!r}: {body}"
                    )
        # one answer before the clock starts: the generator (a model, or the OpenAI client for
        # the scripted endpoint) loads on the first question, not during the load
        status, body = client.call("POST", "/api/v1/ask", {"question": questions[0], "k": 1})
        if status != 200:
            raise RuntimeError(f"before the load, /ask failed: HTTP {status}: {body}")
        client.close()
        return questions

    def _load(self, port: int, env: dict[str, str], questions: list[str]) -> None:
        threads = [threading.Thread(target=self._writer, args=(env,), name="writer"),
                   threading.Thread(target=self._uploader, args=(port,), name="uploader")]  # fmt: skip
        clients = [
            threading.Thread(target=self._client, args=(port, n, questions), name=f"client-{n}")
            for n in range(self.cfg.clients)
        ]
        for t in threads:
            t.start()
        t0 = time.perf_counter()
        for t in clients:
            t.start()
        deadline = time.monotonic() + self.cfg.timeout_s
        for t in clients:
            t.join(max(0.0, deadline - time.monotonic()))
        self.report.wall_s = time.perf_counter() - t0
        if any(t.is_alive() for t in clients):
            self.error(f"the clients did not finish within {self.cfg.timeout_s} s")
            self._late.set()
            for t in clients:
                t.join(600)  # each ends after its request in flight
        self._stop.set()
        for t in threads:
            t.join(600)

    def _writer(self, env: dict[str, str]) -> None:
        """`rag ingest` runs one after another until the clients are done: new documents, and
        every revision note at its next version."""
        run = 0
        while not self._stop.is_set():
            run += 1
            batch = self.tmp / "writes" / f"run_{run:03d}"
            batch.mkdir(parents=True)
            for i in range(self.cfg.writer_docs):
                n = run * 100 + i
                (batch / f"load_{n}.md").write_text(new_document("load", n, self._texts), "utf-8")
            write_revisions(self.tmp / "revisions", run)
            try:
                self.record(ingest(self.store, [batch, self.tmp / "revisions"], env))
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                self.error(f"writer run {run}: {e}")
                return
            with self._lock:
                self.revision_version = run
                self.report.writer_runs = run
            self._stop.wait(self.cfg.writer_pause_s)

    def _uploader(self, port: int) -> None:
        """Documents posted through the API, spread over the load, each job waited for."""
        client = Client(port)
        for n in range(self.cfg.uploads):
            if self._stop.wait(2.0 if n else 1.0):
                break
            name = f"field_{n}.md"
            body, ctype = multipart([(name, new_document("field", n, self._texts).encode())])
            status, resp = self.timed(client, "POST /documents", "POST", "/api/v1/documents",
                                      raw=body, content_type=ctype)  # fmt: skip
            if status != 202:
                continue
            job = resp["job"]
            while job["state"] in ("queued", "running"):
                time.sleep(0.2)
                status, job = client.call("GET", f"/api/v1/jobs/{job['id']}")
            f = job["files"][0]
            if job["state"] != "done" or not f.get("doc_id"):
                self.error(f"upload {name}: job {job['state']}: {f.get('error')}")
                continue
            with self._lock:
                self.reported[str((self.store / "uploads" / name).resolve())] = f["doc_id"]
                self.report.uploaded += 1
        client.close()

    def _client(self, port: int, n: int, questions: list[str]) -> None:
        client = Client(port)
        cfg = self.cfg
        methods = ("hybrid", "dense", "bm25")
        for j in range(cfg.requests):
            if self._late.is_set():
                break
            q = questions[(n * 7 + j) % len(questions)]
            if cfg.ask_every and (j + n) % cfg.ask_every == 0:
                status, body = self.timed(client, "POST /ask", "POST", "/api/v1/ask",
                                          body={"question": q, "k": cfg.ask_k})  # fmt: skip
                if status == 200:
                    self._check_answer(client, q, body)
            else:
                method = methods[(n + j) % 3]
                status, body = self.timed(client, "POST /retrieve", "POST", "/api/v1/retrieve",
                                          body={"question": q, "k": cfg.k, "method": method})  # fmt: skip
                if status == 200:
                    self._check_sources(client, f"retrieve {method} {q!r}", body["sources"], cfg.k)
        client.close()

    # --- what a reader sees ---

    def _check_answer(self, client: Client, q: str, body: dict[str, Any]) -> None:
        where = f"ask {q!r}"
        if not str(body.get("answer", "")).strip():
            self.error(f"{where}: an empty answer")
        numbers = {s["n"] for s in body["sources"]}
        if not set(body["cited"]) <= numbers:
            self.error(f"{where}: cites {body['cited']} of passages {sorted(numbers)}")
        # the prompt holds the passages that fit its budget: at least one, at most ask_k
        self._check_sources(client, where, body["sources"], None, most=self.cfg.ask_k)

    def _check_sources(
        self, client: Client, where: str, sources: list[dict[str, Any]], k: int | None,
        most: int = 0,
    ) -> None:  # fmt: skip
        if k is not None and len(sources) != k:
            self.error(f"{where}: {len(sources)} passages, not {k} (a half-written index?)")
        if k is None and not 1 <= len(sources) <= most:
            self.error(f"{where}: {len(sources)} passages, not 1 to {most}")
        if [s["n"] for s in sources] != list(range(1, len(sources) + 1)):
            self.error(f"{where}: passages numbered {[s['n'] for s in sources]}")
        if len({s["chunk_id"] for s in sources}) != len(sources):
            self.error(f"{where}: the same passage twice")
        for s in sources:
            m = _REVISION_TITLE.match(s["title"])
            if m and f"Version {m[2]} of revision note {m[1]}." not in s["text"]:
                self.error(f"{where}: title {s['title']!r} over another version's text")
            with self.seen.lock:
                self.seen.chunks.setdefault(s["chunk_id"], (s["document"], s["text"]))
                first = s["doc_id"] not in self.seen.docs
                self.seen.docs.add(s["doc_id"])
            if first and not m:  # revision notes are replaced whole: their ids come and go
                self._check_document(client, where, s)

    def _check_document(self, client: Client, where: str, s: dict[str, Any]) -> None:
        status, body = self.timed(
            client, "GET /documents/<id>", "GET", f"/api/v1/documents/{s['doc_id']}"
        )
        if status != 200:
            return
        ids = [c["id"] for c in body["chunks"]]
        with self._lock:
            self.report.documents_checked += 1
        if body["document"]["chunks"] != len(ids) or s["chunk_id"] not in ids:
            self.error(f"{where}: document {s['document']} has {len(ids)} of "
                       f"{body['document']['chunks']} chunks, hit {s['chunk_id']} in them: "
                       f"{s['chunk_id'] in ids}")  # fmt: skip

    # --- afterwards ---

    def _check_reported(self, port: int) -> None:
        """Every document a writer reported is served whole by the server."""
        client = Client(port)
        self.report.reported_docs = len(self.reported)
        for source, doc_id in sorted(self.reported.items()):
            status, body = client.call("GET", f"/api/v1/documents/{doc_id}")
            if status != 200:
                self.report.lost.append(f"{source} ({doc_id}): HTTP {status}")
            elif body["document"]["chunks"] != len(body["chunks"]) or not body["chunks"]:
                self.report.lost.append(
                    f"{source}: {len(body['chunks'])} chunks of {body['document']['chunks']}"
                )
        client.close()

    def _check_store(self) -> None:
        """On disk: the store is consistent, holds every reported document whole at its
        latest version, and every passage shown is in it (or was a revision since rewritten)."""
        self.report.errors += [f"store: {p}" for p in store_problems(self.store)]
        self.report.errors += [f"rag doctor: {p}" for p in doctor(self.store, self._env)]
        with sqlite3.connect(self.store / "store.sqlite") as db:
            docs = {
                r[0]: r[1:] for r in db.execute("SELECT source, id, n_chunks, title FROM documents")
            }
            chunks = {r[0]: r[1:] for r in db.execute(
                "SELECT c.id, d.source, c.text FROM chunks c JOIN documents d ON d.id = c.doc_id")}  # fmt: skip
            self.report.store = {
                "documents": len(docs), "chunks": len(chunks),
                "generation": int(db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0]),
            }  # fmt: skip
        for source, doc_id in sorted(self.reported.items()):
            if source not in docs or docs[source][0] != doc_id:
                self.report.lost.append(f"{source} ({doc_id}): not in the store")
            m = re.search(r"revision_(\d+)\.md$", source)
            if (
                m
                and source in docs
                and docs[source][2] != f"Revision note {m[1]} v{self.revision_version}"
            ):
                self.report.lost.append(
                    f"{source}: {docs[source][2]!r}, not the last version written"
                )
        for chunk_id, (source, text) in self.seen.chunks.items():
            self.report.passages_checked += 1
            if re.search(r"/(load|field)_\d+\.md$", source):
                self.report.new_passages += 1
            if chunk_id in chunks:
                if chunks[chunk_id] != (source, text):
                    self.error(f"passage {chunk_id} was shown with other text or document")
            elif not re.search(r"revision_\d+\.md$", source):
                self.error(f"passage {chunk_id} of {source} was shown but is in no document")


def doctor(store: Path, env: dict[str, str]) -> list[str]:
    """`rag doctor --json` on the store: its problems, one line each ([] when it passes)."""
    proc = subprocess.run(
        rag("doctor", "--store", str(store), "--json", "--wait", "120"),
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        return [f"rag doctor exited {proc.returncode}: {proc.stderr.strip()[-500:]}"]
    problems = [f"{p['code']}: {p['count']} {p['message']}" for p in report["problems"]]
    if (proc.returncode == 0) != (not problems):
        problems.append(f"rag doctor exited {proc.returncode} with {len(problems)} problems")
    return problems


def store_problems(store: Path) -> list[str]:
    """What is inconsistent in the store: documents against their chunks, the keyword index
    and the vectors in SQLite, and the FAISS index against the chunks."""
    from ingest.store import EmbeddedStore

    problems: list[str] = []
    with sqlite3.connect(store / "store.sqlite") as db:
        checks = {
            "documents without all their chunks": "SELECT COUNT(*) FROM (SELECT d.id FROM documents d LEFT JOIN chunks c ON c.doc_id = d.id GROUP BY d.id HAVING COUNT(c.rowid) != d.n_chunks)",
            "chunks of no document": "SELECT COUNT(*) FROM chunks c LEFT JOIN documents d ON d.id = c.doc_id WHERE d.id IS NULL",
            "chunks without a vector": "SELECT COUNT(*) FROM chunks c LEFT JOIN embeddings e ON e.text_hash = c.text_hash WHERE e.text_hash IS NULL",
            "keyword rows that are not chunks": "SELECT COUNT(*) FROM chunks_fts f LEFT JOIN chunks c ON c.rowid = f.rowid WHERE c.rowid IS NULL",
            "chunks without a keyword row": "SELECT COUNT(*) FROM chunks c LEFT JOIN chunks_fts f ON f.rowid = c.rowid WHERE f.rowid IS NULL",
        }  # fmt: skip
        for what, sql in checks.items():
            if n := db.execute(sql).fetchone()[0]:
                problems.append(f"{n} {what}")
        if (ok := db.execute("PRAGMA integrity_check").fetchone()[0]) != "ok":
            problems.append(f"SQLite integrity_check: {ok}")
        n_chunks = db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    built = json.loads((store / "manifest.json").read_text("utf-8"))["embedder"]
    es = EmbeddedStore(store, embedder_name=built["name"], dim=int(built["dim"]), create=False)
    try:
        if (n := len(es.dense)) != n_chunks:
            problems.append(f"the FAISS index holds {n} vectors for {n_chunks} chunks")
    finally:
        es.close()
    return problems


def run_load(tmp: Path, cfg: LoadConfig) -> LoadReport:
    return Load(tmp, cfg).run()
