"""Schemathesis against the app's own OpenAPI document, in process: the driver shared by
tests/web/test_api_fuzz.py (a bounded run in CI) and scripts/fuzz_api.py (a long one).

The app is the real Flask app over a real store (the hashing embedder and a scripted generator
stand in for the models, as in the other web tests), called through its WSGI interface. Each
operation of /api/v1/openapi.json gets schema-valid requests (positive) and requests that break
the schema (negative); every response goes through schemathesis's checks: no 5xx, a documented
status and content type, a body (and every server-sent event) that matches its schema, invalid
input refused, valid input accepted, and, when the server has a key, no request served without
it. Path parameters are real ids of the store half of the time, so the fuzzer reaches past 404.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from jsonschema import Draft202012Validator
from schemathesis import GenerationMode
from schemathesis.core.failures import AcceptedNegativeData

from ingest.embedding import HashingEmbedder
from rag.engine import Engine
from rag.generation.scripted import ScriptedGenerator
from rag.settings import Settings
from web.app import create_app

SCHEMA_PATH = "/api/v1/openapi.json"
ANSWER = "QLoRA 把基座模型量化为 4-bit 再训练 LoRA [1], which fits one GPU [2]."
CORPUS = Path(__file__).resolve().parents[2] / "corpora" / "demo"

# Statuses a schema-valid request may get that its schema cannot rule out (positive data is
# accepted with 2xx, or refused with one of these): schemathesis's defaults (401, 403, 404,
# 409, 429, and 5xx, which not_a_server_error reports on its own), and
#  - 422: a value every part of which is valid but which the engine refuses as a whole (a
#    strategy the mode does not have, a filter on a method that cannot take it);
#  - 400 for POST /documents: two parts of one upload may not have one file name; the fuzzer
#    names every part after the documented example (a multipart schema cannot name parts);
#  - 400 for /v1/chat/completions: the *last* user message must have text, which JSON Schema
#    cannot say of an array (the document asks for one user message with text).
POSITIVE_STATUSES = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]
POSITIVE_EXTRA = {"POST /api/v1/documents": ["400"], "POST /v1/chat/completions": ["400"]}
ALWAYS_EXTRA = ["422"]


@dataclass
class OperationReport:
    label: str  # "GET /api/v1/documents"
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # first line of a failure → it all
    dismissed: int = 0  # "invalid data accepted" whose request, as sent, was valid
    seconds: float = 0.0


def make_fuzz_app(tmp: Path, api_key: str | None = None) -> Flask:
    """The app over a store in `tmp` holding three small documents of the demo corpus."""
    s = Settings.from_env(
        {"HOME": str(tmp / "home")}, store_dir=tmp / "store", embedder="hashing",
        api_key=api_key,
    )  # fmt: skip
    engine = Engine(s, embedder=HashingEmbedder(), generator=ScriptedGenerator(ANSWER))
    app = create_app(engine=engine)
    app.config["TESTING"] = True
    files = sorted(p for p in CORPUS.iterdir() if p.suffix in (".md", ".txt"))[:3]
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    data = {"file": [(io.BytesIO(p.read_bytes()), p.name) for p in files]}
    resp = app.test_client().post("/api/v1/documents", data=data, headers=headers,
                                  content_type="multipart/form-data")  # fmt: skip
    assert resp.status_code == 202, resp.get_data(as_text=True)
    job = app.extensions["rag"].default.jobs.wait(resp.json["job"]["id"], timeout=120)
    assert job["state"] == "done", job
    return app


def real_ids(app: Flask) -> dict[str, list[str]]:
    """Ids the store holds now, by the path parameter that takes them."""
    ws = app.extensions["rag"].default
    kg = ws.knowledge_graph()
    from web.openai_shapes import chat_models

    return {
        "doc_id": [d.id for d in ws.engine.documents()],
        "job_id": [j["id"] for j in ws.jobs.all()],
        "entity_id": sorted(kg.entities)[:20] + [e.name for e in kg.search("", 5)],
        "relation_id": sorted(kg.relations)[:20],
        "model_id": [m.id for m in chat_models()],
    }


@contextmanager
def real_path_parameters(schema: Any, app: Flask, on: bool = True) -> Iterator[None]:
    """Half of the generated path parameters replaced by ids the store has (when `on`)."""
    if not on:
        yield
        return
    ids = real_ids(app)

    def flatmap_path_parameters(
        context: Any, path_parameters: dict[str, Any]
    ) -> st.SearchStrategy[dict[str, Any]]:
        known = {k: v for k, v in ids.items() if k in (path_parameters or {}) and v}
        if not known:
            return st.just(path_parameters)
        real = st.fixed_dictionaries({k: st.sampled_from(v) for k, v in known.items()})
        return st.one_of(st.just(path_parameters), real.map(lambda r: {**path_parameters, **r}))

    schema.hooks.register_hook_with_name(flatmap_path_parameters, "flatmap_path_parameters")
    try:
        yield
    finally:
        schema.hooks.unregister(flatmap_path_parameters)


def query_as_sent_is_valid(operation: dict[str, Any], url: str) -> bool:
    """Whether a GET's query string, as it went over the wire, matches the document.

    A negative case that breaks a query parameter's type can come out valid once written
    into a URL: `entities: false` is the string "false", `chunks: 4000717` the string
    "4000717", both valid items of an array of strings. schemathesis spots most of these;
    where it does not, the request the server saw was valid and accepting it was right."""
    if "requestBody" in operation:
        return False  # the mutation may be in the body; only the query is read here
    sent = parse_qs(urlsplit(url).query, keep_blank_values=True)
    for param in operation.get("parameters", []):
        if param["in"] != "query" or param["name"] not in sent:
            continue
        values, schema = sent[param["name"]], param["schema"]
        if schema.get("type") == "array":
            items = values if param.get("explode", True) else values[0].split(",")
            candidates: list[Any] = [items]
        elif len(values) > 1:
            return False  # the route reads the first; the document allows one
        else:
            candidates = [values[0], *_numbers(values[0])]
        if not any(Draft202012Validator(schema).is_valid(c) for c in candidates):
            return False
    return True


def multipart_as_sent_is_valid(operation: dict[str, Any], body: Any) -> bool:
    """Whether a multipart body, as it went over the wire, matches the document: a field
    whose value is an empty list sends no part at all (`metadata: []` is no metadata)."""
    content = operation.get("requestBody", {}).get("content", {})
    if "multipart/form-data" not in content or not isinstance(body, dict):
        return False
    sent = {k: _as_text(v) for k, v in body.items() if v != []}
    return bool(Draft202012Validator(content["multipart/form-data"]["schema"]).is_valid(sent))


def _as_text(value: Any) -> Any:
    """A file part's bytes as the string its schema (`format: binary`) describes."""
    if isinstance(value, list):
        return [_as_text(v) for v in value]
    return "" if isinstance(value, bytes | bytearray) else value


def _numbers(text: str) -> list[Any]:
    """`text` as the number the route would read it as (web/api.py _int_arg), if any."""
    try:
        number = float(text)
    except ValueError:
        return []
    return [int(number)] if number.is_integer() else [number]


def _order(label: str) -> tuple[int, str]:
    """Reads first, deletes last: a fuzzer that deletes every document early leaves the
    retrieval and graph routes an empty store."""
    method = label.split(" ", 1)[0]
    return ({"GET": 0, "POST": 1, "DELETE": 2}.get(method, 1), label)


def load_schema(app: Flask, api_key: str | None) -> Any:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    schema = schemathesis.openapi.from_wsgi(SCHEMA_PATH, app, headers=headers)
    checks = schema.config.checks
    checks.positive_data_acceptance.expected_statuses = POSITIVE_STATUSES + ALWAYS_EXTRA
    return schema


def fuzz(
    app: Flask,
    examples: int,
    *,
    api_key: str | None = None,
    modes: tuple[GenerationMode, ...] = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE),
    only: Callable[[str], bool] = lambda label: True,
    random_seed: int | None = 0,
    progress: Callable[[OperationReport], None] | None = None,
) -> list[OperationReport]:
    """`examples` requests per operation and generation mode; a report per operation.
    `random_seed`: None draws fresh inputs each run, an int repeats them (CI)."""
    schema = load_schema(app, api_key)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
    operations = [r.ok() for r in schema.get_all_operations()]
    operations.sort(key=lambda op: _order(f"{op.method.upper()} {op.path}"))
    reports = []
    for op in operations:
        label = f"{op.method.upper()} {op.path}"
        if not only(label):
            continue
        report = OperationReport(label)
        t0 = time.perf_counter()
        for mode in modes:
            # real ids in positive requests only: a negative one must keep what breaks it
            with real_path_parameters(schema, app, mode is GenerationMode.POSITIVE):
                _fuzz_operation(op, mode, examples, headers, report, random_seed)
        report.seconds = time.perf_counter() - t0
        reports.append(report)
        if progress is not None:
            progress(report)
    return reports


def _fuzz_operation(
    op: Any, mode: GenerationMode, examples: int, headers: dict[str, str] | None,
    report: OperationReport, random_seed: int | None,
) -> None:  # fmt: skip
    extra = POSITIVE_EXTRA.get(report.label, [])
    config = op.schema.config.checks
    expected = POSITIVE_STATUSES + ALWAYS_EXTRA + extra
    config.positive_data_acceptance.expected_statuses = expected

    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet)  # fmt: skip
    @given(case=op.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        report.requests += 1
        try:
            response = case.call(headers=headers)
        except Exception as e:  # the transport itself failed: the app raised past Flask
            report.failures.setdefault(f"{type(e).__name__}: {e}"[:200], repr(e))
            return
        report.statuses[response.status_code] = report.statuses.get(response.status_code, 0) + 1
        try:
            case.validate_response(response, headers=headers)
        except BaseException as e:  # schemathesis's FailureGroup is a BaseExceptionGroup
            if isinstance(e, KeyboardInterrupt):
                raise
            for failure in getattr(e, "exceptions", [e]):
                if isinstance(failure, AcceptedNegativeData) and (
                    query_as_sent_is_valid(op.definition.raw, response.request.url)
                    or multipart_as_sent_is_valid(op.definition.raw, case.body)
                ):
                    report.dismissed += 1
                    continue
                title = (
                    f"[{response.status_code}] {getattr(failure, 'title', type(failure).__name__)}"
                )
                report.failures.setdefault(title, str(e))

    if random_seed is not None:
        run = seed(random_seed)(run)
    try:
        run()
    except Unsatisfiable:  # nothing breaks the schema here (a path string is any string)
        if mode is GenerationMode.POSITIVE:
            raise
