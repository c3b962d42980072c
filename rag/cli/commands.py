"""The `rag` subcommands. Each returns the process exit code."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any

from ingest.errors import UsageError
from ingest.hygiene import BOILERPLATE_KINDS
from ingest.types import Chunk, SearchFilter
from rag.engine import Engine
from rag.filters import make_filter, parse_where
from rag.settings import Settings
from rag.types import Done, Retrieved, Source, Token


def _settings(args: argparse.Namespace, **extra: Any) -> Settings:
    return Settings.from_env(
        store_dir=getattr(args, "store", None), write_wait=getattr(args, "wait", None), **extra
    )


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=2))


def _snippet(text: str, width: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def cmd_ingest(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from ingest.pipeline import IngestEvent

    engine = Engine(
        _settings(args, parser=args.parser, graph=args.graph, llm_extract=args.llm_extract)
    )
    bar = tqdm(total=0, unit="file", desc="ingest", file=sys.stderr, disable=args.json or None)
    graph_bar = tqdm(
        total=0, unit="chunk", desc="graph", file=sys.stderr, disable=args.json or None
    )

    def graph_progress(done: int, total: int) -> None:
        graph_bar.total = total
        graph_bar.update(done - graph_bar.n)

    def progress(ev: IngestEvent) -> None:
        bar.total = ev.total
        bar.update(ev.done - bar.n)
        r = ev.result
        if r and r.status == "failed":
            bar.write(f"skipped: {r.error}", file=sys.stderr)

    with engine:
        report = engine.ingest(args.paths, progress=progress, graph_progress=graph_progress,
                               metadata=_metadata(args.meta), workers=args.workers)  # fmt: skip
    bar.close()
    graph_bar.close()
    if args.json:
        _print_json({
            "store": str(engine.settings.store_dir),
            "results": [r.__dict__ for r in report.results],
            "ignored": report.ignored, "seconds": round(report.seconds, 3),
        })  # fmt: skip
    else:
        print(f"{report.summary()} → {engine.location}", file=sys.stderr)
    return 1 if report.failed and len(report.failed) == len(report.results) else 0


def _filters(args: argparse.Namespace) -> SearchFilter | None:
    return make_filter(args.doc, args.path, parse_where(args.where))


def _metadata(items: list[str]) -> dict[str, str]:
    meta: dict[str, str] = {}
    for key, value in parse_where(items):
        if key in meta:
            raise UsageError(f"--meta {key} is given twice")
        meta[key] = value
    return meta


def _print_sources(sources: list[Source], cited: list[int] | None = None) -> None:
    print("\nSources:")
    for s in sources:
        mark = "*" if cited and s.n in cited else " "
        where = f" ({s.location})" if s.location else ""
        print(f"{mark}[{s.n}] {s.document}{where}  score={s.score:.4f}")
        print(f"     {_snippet(s.text)}")


CHECK_LINES = 3  # sentences `rag ask` marks under an answer; --json has them all


def _print_check(sentences: list[dict[str, Any]], support: float | None) -> None:
    """The sentence check (rag.support), when a sentence is unsupported or cites the wrong
    passage (or none)."""
    if support is None or all(c["supported"] and not c["corrected"] for c in sentences):
        return
    ok = sum(1 for c in sentences if c["supported"])
    print(f"\nChecked against the sources: {ok} of {len(sentences)} sentences supported")
    marked = [c for c in sentences if not c["supported"] or c["corrected"]]
    for c in marked[:CHECK_LINES]:
        text = _snippet(c["text"], 100)
        if c["corrected"]:
            cites = "".join(f"[{n}]" for n in c["citations"]) or "nothing"
            fix = "".join(f"[{n}]" for n in c["corrected"])
            print(f"  ~ {text}  (cites {cites}; supported by {fix})")
        else:
            print(f"  ✗ {text}  (no passage supports it)")
    if len(marked) > CHECK_LINES:
        print(f"  … and {len(marked) - CHECK_LINES} more (rag ask --json lists every sentence)")


def cmd_ask(args: argparse.Namespace) -> int:
    engine = Engine(
        _settings(
            args, model=args.model, retrieval=args.retrieval, translate_queries=args.translate
        )
    )
    with engine:
        if args.retrieve_only:
            ctx = engine.context(args.question, mode=args.mode, strategy=args.graph_strategy,
                                 k=args.k, filters=_filters(args))  # fmt: skip
            hits = ctx.hits
            sources = [Source.from_hit(i, h) for i, h in enumerate(hits, start=1)]
            if args.json:
                _print_json({"question": args.question, "sources": [s.__dict__ for s in sources],
                             "trace": ctx.trace})  # fmt: skip
            else:
                for step in ctx.trace:
                    if "translation" in step:
                        print(f"(also searched as: {step['translation']})", file=sys.stderr)
                _print_sources(sources)
            return 0
        events = engine.stream(
            args.question, mode=args.mode, strategy=args.graph_strategy, k=args.k,
            filters=_filters(args),
        )  # fmt: skip
        for ev in events:
            if isinstance(ev, Token) and not args.json:
                print(ev.text, end="", flush=True)
            elif isinstance(ev, Retrieved) and not args.json and not ev.sources:
                pass
            elif isinstance(ev, Done):
                if args.json:
                    _print_json(ev.answer.to_dict())
                else:
                    if not ev.answer.sources:
                        print(ev.answer.answer, end="")
                    print()
                    _print_check(ev.answer.sentences, ev.answer.support)
                    if any(step.get("step") == "withheld" for step in ev.answer.trace):
                        print(f"\nWithheld: no passage supports this answer. {ev.answer.answer}")
                    _print_sources(ev.answer.sources, ev.answer.cited)
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    with Engine(_settings(args)) as engine:
        docs = engine.find_documents(args.doc) if args.doc else engine.documents()
        if args.where:
            flt = make_filter(metadata=parse_where(args.where))
            docs = [d for d in docs if flt is None or flt.admits(d)]
        chunks = {d.id: engine.chunks(d.id) for d in docs} if args.chunks else {}
        if args.json:
            _print_json([{**d.__dict__, "metadata": dict(d.metadata),
                          **({"chunks": [_chunk_json(c) for c in chunks[d.id]]} if chunks else {})}
                         for d in docs])  # fmt: skip
            return 0
        for d in docs:
            meta = " ".join(f"{k}={v}" for k, v in sorted(d.metadata.items()))
            print(
                f"{d.id}  {d.format:5} {d.n_chunks:5} chunks  {d.source}"
                + (f"  [{meta}]" if meta else "")
            )
            for c in chunks.get(d.id, []):
                print(_chunk_line(c))
        counts = engine.counts()
        print(f"{counts.documents} documents, {counts.chunks} chunks in {engine.location}")
    return 0


def _chunk_json(c: Chunk) -> dict[str, Any]:
    return {"id": c.id, "ordinal": c.ordinal, "page": c.page, "section": c.section,
            "kind": c.kind, "boilerplate": c.kind in BOILERPLATE_KINDS, "n_tokens": c.n_tokens,
            "text": c.text}  # fmt: skip


def _chunk_line(c: Chunk) -> str:
    """One chunk in a line: where it is, what kind (boilerplate in capitals), its text's start."""
    kind = f"[{c.kind.upper()} boilerplate]" if c.kind in BOILERPLATE_KINDS else f"[{c.kind}]"
    where = " ".join(p for p in (f"p.{c.page}" if c.page else "", c.section) if p)
    text = " ".join(c.text.split())
    return f"  {c.ordinal:4}  {kind} {where + '  ' if where else ''}{text[:100]}" + (
        "…" if len(text) > 100 else ""
    )


def cmd_delete(args: argparse.Namespace) -> int:
    with Engine(_settings(args)) as engine:
        for d in engine.delete(args.doc):
            print(f"deleted {d.id}  {d.source}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from web.serve import serve

    serve(_settings(args), args.host, args.port, args.workers, args.insecure)
    return 0


def cmd_mcp(args: argparse.Namespace) -> int:
    from rag.integrations.mcp_transports import run

    settings = _settings(args)
    if args.http is None and (args.host != "127.0.0.1" or args.insecure):
        raise UsageError("--host and --insecure go with --http PORT (stdio needs no address)")

    def ready(where: str) -> None:  # stderr: on stdio, stdout belongs to the protocol
        print(f"rag: MCP server for {settings.store_dir} on {where}  (Ctrl-C stops)",
              file=sys.stderr, flush=True)  # fmt: skip

    run(settings, args.http, args.host, insecure=args.insecure, on_ready=ready)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from rag.models.install import describe, install
    from rag.models.registry import MODELS

    settings = _settings(args)
    if args.action == "install":
        keys = args.only.split(",") if args.only else list(MODELS)
        install([k.strip() for k in keys if k.strip()], settings.models_dir,
                lambda m: print(m, file=sys.stderr), force=args.force)  # fmt: skip
    rows = describe(settings.models_dir)
    if args.json:
        _print_json({"models_dir": str(settings.models_dir), "models": rows})
        return 0
    print(f"models directory: {settings.models_dir}")
    for r in rows:
        state = (
            f"installed  {float(str(r['size_bytes'])) / 2**20:8.1f} MiB"
            if r["installed"]
            else "missing"
        )
        print(f"  {r['key']:14} {r['role']:9} {state:24} {r['description']}")
        print(f"  {'':14} {r['path'] if r['installed'] else 'install: ' + str(r['install'])}")
    try:
        import llama_cpp

        print(f"llama-cpp-python {llama_cpp.__version__}")
    except ImportError:
        print("llama-cpp-python: missing (install: make setup)")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rag.bench import run_bench

    settings = _settings(
        args, chunk_tokens=args.chunk_tokens, chunk_overlap=args.chunk_tokens // 8, graph=args.graph
    )
    store = Path(args.store) if args.store else None
    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit must be at least 1, not {args.limit}")
    if args.against:
        from rag.bench_against import format_against, run_against

        if args.graph != "off":
            raise UsageError("--graph and --against do not go together: --against times retrieval")
        compared = run_against([Path(d) for d in args.datasets], settings, args.against,
                               store=store, limit=args.limit, progress=not args.json)  # fmt: skip
        print(json.dumps(compared, ensure_ascii=False, indent=2) if args.json
              else format_against(compared))  # fmt: skip
        return 0
    result = run_bench(
        [Path(d) for d in args.datasets], settings, store=store, progress=not args.json,
        limit=args.limit,
    )  # fmt: skip
    if args.json:
        _print_json(result)
        return 0
    ing = result["ingest"]
    print(
        f"{result['documents']} documents, {result['chunks']} chunks ({result['chunk_tokens']} tokens)"
    )
    print(
        f"ingest: {ing['chunks_written']} chunks in {ing['seconds']} s ({ing['chunks_per_s']} chunks/s)"
    )
    if tr := result["translation"]:
        print(f"translation: {tr['questions']} of {result['queries']} questions, "
              f"p50 {tr['p50_ms']} ms  p95 {tr['p95_ms']} ms (the searches below reuse them)")  # fmt: skip
    for method, lat in result["retrieval"].items():
        print(
            f"{method:7} p50 {lat['p50_ms']} ms  p95 {lat['p95_ms']} ms  ({result['queries']} queries)"
        )
    if result["graph"]:
        print(f"graph: {json.dumps(result['graph'])}")
    print(f"peak RSS {result['peak_rss_mb']} MB")
    return 0


def cmd_graph(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ingest.errors import EntityNotFound

    with Engine(_settings(args)) as engine:
        kg = engine.graph()
        if args.graph_command == "stats":
            stats = {**asdict(engine.counts()), **kg.stats()}
            if args.json:
                _print_json(stats)
            else:
                for key, value in stats.items():
                    print(f"{key:17} {value}")
        elif args.graph_command == "show":
            entity = kg.find(args.entity)
            if entity is None:
                raise EntityNotFound(
                    f"no entity {args.entity!r} in the graph; see `rag graph export`"
                )
            rels = kg.relations_of(entity.id)
            if args.json:
                _print_json({
                    **asdict(entity),
                    "relations": [{"entity": e.name, "weight": r.weight, "description": r.description}
                                  for r, e in rels],
                })  # fmt: skip
                return 0
            print(f"{entity.name}  [{entity.type}]  id {entity.id}")
            if entity.aliases:
                print("aliases: " + ", ".join(entity.aliases))
            print(f"description: {entity.description}")
            print(f"relations ({len(rels)}):")
            for r, other in rels[:20]:
                print(f"  — {other.name}  (weight {r.weight:g}): {_snippet(r.description, 120)}")
            print(
                f"source chunks: {', '.join(entity.chunk_ids[:10])}"
                + (" …" if len(entity.chunk_ids) > 10 else "")
            )
        else:
            out = Path(args.output or f"graph.{args.format}")
            kg.export(out, args.format)
            print(
                f"wrote {out} ({kg.stats()['entities']} entities, {kg.stats()['relations']} relations)"
            )
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rag.evaluation import format_report, run_eval

    settings = _settings(
        args, model=args.model, retrieval=args.retrieval, fusion=args.fusion,
        translate_queries=args.translate,
    )  # fmt: skip
    report = run_eval(
        Path(args.dataset), settings, retrieve_only=args.retrieve_only, limit=args.limit,
        k=args.k, mode=args.mode, strategy=args.graph_strategy, progress=not args.json,
        store=Path(args.store) if args.store else None,
    )  # fmt: skip
    items = report.pop("items")
    if args.predictions:
        with open(args.predictions, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(i, ensure_ascii=False) + "\n" for i in items)
    if args.json:
        _print_json(report)
    else:
        print(format_report(report))
    return 0
