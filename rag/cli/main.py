"""`rag` — argument parsing and error translation; each command lives in rag/cli/commands.py.

Only argparse and the choice lists (rag/choices.py, typing only) are imported at start-up so
`rag --help` stays fast; a command imports what it needs when it runs.

Errors are translated here and nowhere else: the project's own errors (RagError) print one
line and exit 2 when the caller asked for something invalid (UsageError, ConfigError) or 1
when the operation failed; anything else is a bug, reported as an internal error (exit 1)
rather than dressed up as a usage mistake — except a full disk, which is no bug whichever write
meets it (the store's own writes raise DiskFull; this catches the rest). `-v` adds the
traceback to either.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Sequence

from rag.choices import (
    BACKENDS,
    FUSIONS,
    GRAPH_MODES,
    PARSERS,
    RETRIEVAL_METHODS,
    TRANSLATE_QUERIES,
)
from rag.modes.registry import DEFAULT_GRAPH_STRATEGY, GRAPH_STRATEGIES, MODE_NAMES

EPILOG = """environment: RAG_STORE (store directory), RAG_HOME (cache root), RAG_MODELS_DIR,
RAG_MODEL (generator: registry key or .gguf path), RAG_GENERATOR=openai with
RAG_OPENAI_BASE_URL / RAG_OPENAI_MODEL / RAG_OPENAI_API_KEY, RAG_THREADS; every other setting
as RAG_<SETTING> (RAG_TOP_K, RAG_GRAPH, RAG_RETRIEVAL, RAG_BM25_WEIGHT, …; see README).
exit codes: 0 done, 1 the operation failed, 2 bad usage or a bad setting."""


TRANSLATE_HELP = (
    "auto (default): also search the question in translation when the store holds the other "
    "language (Chinese or English); off: never"
)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--store", help="store directory (default: $RAG_STORE or ~/.local/share/rag/store)"
    )
    common.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    writer = argparse.ArgumentParser(add_help=False)
    writer.add_argument("--wait", type=float, metavar="SECONDS",
                        help="wait this long for another writer to finish (default 5)")  # fmt: skip

    p = argparse.ArgumentParser(
        prog="rag", description="Answer questions over your own documents, offline.", epilog=EPILOG
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ing = sub.add_parser(
        "ingest", parents=[common, writer], help="add files or folders to the store"
    )
    ing.add_argument("paths", nargs="+", metavar="PATH")
    ing.add_argument("--parser", choices=PARSERS, help="document parser backend")
    ing.add_argument("--graph", choices=GRAPH_MODES, help="knowledge graph (default fast)")
    ing.add_argument("--llm-extract", metavar="all|top:N", help="with --graph llm: which chunks")
    ing.add_argument("--json", action="store_true", help="print the report as JSON")
    ing.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE",
                     help="metadata for every document of this run (repeatable)")  # fmt: skip
    ing.add_argument("--workers", type=int, default=1, metavar="N",
                     help="parse, chunk and embed on N Ray workers (the ray extra; "
                          "RAG_RAY_ADDRESS, or a local Ray instance); default 1: in this process")  # fmt: skip

    ask = sub.add_parser("ask", parents=[common], help="answer a question with citations")
    ask.add_argument("question")
    ask.add_argument("--mode", default="rag", choices=MODE_NAMES, help="answering mode")
    ask.add_argument("--graph-strategy", choices=GRAPH_STRATEGIES,
                     help=f"with --mode graph (default {DEFAULT_GRAPH_STRATEGY})")  # fmt: skip
    ask.add_argument("--k", type=int, help="passages to retrieve (default 5)")
    ask.add_argument("--retrieval", choices=RETRIEVAL_METHODS, help="default: hybrid")
    ask.add_argument("--translate", choices=TRANSLATE_QUERIES, help=TRANSLATE_HELP)
    ask.add_argument("--retrieve-only", action="store_true", help="show passages, no generation")
    ask.add_argument("--json", action="store_true", help="print one JSON object (schema: README)")
    ask.add_argument("--model", help="generator: registry key or path to a .gguf file")
    ask.add_argument(
        "--doc", action="append", default=[], help="only this document id (repeatable)"
    )
    ask.add_argument("--path", help="only documents whose path matches this glob")
    ask.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                     help="only documents with this metadata (repeatable: different keys all "
                     "match, the same key any of its values)")  # fmt: skip

    docs = sub.add_parser("docs", parents=[common], help="list the documents in the store")
    docs.add_argument(
        "doc",
        nargs="?",
        metavar="DOC",
        help="only the documents this names: id (or prefix), path, file name or glob",
    )
    docs.add_argument("--chunks", action="store_true",
                      help="with each document, its chunks: ordinal, page, section, kind (boilerplate "
                      "such as a table of contents is marked) and text")  # fmt: skip
    docs.add_argument("--json", action="store_true")
    docs.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                      help="only documents with this metadata (repeatable)")  # fmt: skip

    dele = sub.add_parser(
        "delete", parents=[common, writer], help="remove a document from the store"
    )
    dele.add_argument("doc", metavar="DOC", help="document id (or prefix), path or file name")

    models = sub.add_parser("models", parents=[common], help="show or install model files")
    models.add_argument("action", nargs="?", choices=["list", "install"], default="list")
    models.add_argument("--only", help="comma-separated model keys to install")
    models.add_argument("--force", action="store_true", help="reinstall even if verified")
    models.add_argument("--json", action="store_true")

    gr = sub.add_parser("graph", parents=[common], help="inspect or export the knowledge graph")
    gr_sub = gr.add_subparsers(dest="graph_command", required=True, metavar="ACTION")
    st = gr_sub.add_parser(
        "stats", parents=[common], help="documents, chunks, entities, relations…"
    )
    st.add_argument("--json", action="store_true")
    show = gr_sub.add_parser(
        "show", parents=[common], help="an entity: aliases, relations, sources"
    )
    show.add_argument("entity", metavar="ENTITY", help="entity name, alias or id")
    show.add_argument("--json", action="store_true")
    exp = gr_sub.add_parser("export", parents=[common], help="write GraphML (Gephi) or JSON")
    exp.add_argument("--format", choices=["graphml", "json"], default="graphml")
    exp.add_argument("-o", "--output", help="file to write (default: graph.<format>)")

    ev = sub.add_parser("eval", parents=[common], help="measure retrieval and answers on a QA set")
    ev.add_argument(
        "dataset", metavar="DATASET_DIR", help="folder with corpus.jsonl and questions.jsonl"
    )
    ev.add_argument("--mode", default="rag", choices=MODE_NAMES)
    ev.add_argument("--graph-strategy", choices=GRAPH_STRATEGIES)
    ev.add_argument("--retrieval", choices=RETRIEVAL_METHODS, help="default: hybrid")
    ev.add_argument("--fusion", choices=FUSIONS, help="how hybrid fuses (default score)")
    ev.add_argument("--translate", choices=TRANSLATE_QUERIES, help=TRANSLATE_HELP)
    ev.add_argument("--retrieve-only", action="store_true", help="skip generation (no EM/F1)")
    ev.add_argument("--limit", type=int, help="only the first N questions")
    ev.add_argument("--predictions", metavar="FILE",
                    help="write each question's ranked passages, answer and scores (jsonl)")  # fmt: skip
    ev.add_argument("--k", type=int, default=5, help="passages given to the generator")
    ev.add_argument("--model", help="generator: registry key or path to a .gguf file")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    srv = sub.add_parser("serve", parents=[common], help="the web app and REST API (waitress)")
    srv.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    srv.add_argument("--port", type=int, default=8000, help="default 8000")
    srv.add_argument("--workers", type=int, default=8, metavar="N",
                     help="request threads (default 8; answers still run one at a time)")  # fmt: skip
    srv.add_argument("--insecure", action="store_true",
                     help="allow a non-loopback --host without RAG_API_KEY")  # fmt: skip
    mcp = sub.add_parser(
        "mcp", parents=[common], help="serve the store to MCP clients (stdio, or --http)"
    )
    mcp.add_argument("--http", type=int, metavar="PORT",
                     help="streamable HTTP on PORT (path /mcp) instead of stdio")  # fmt: skip
    mcp.add_argument("--host", default="127.0.0.1",
                     help="with --http: address to bind (default 127.0.0.1)")  # fmt: skip
    mcp.add_argument("--insecure", action="store_true",
                     help="with --http: allow a non-loopback --host without RAG_API_KEY")  # fmt: skip
    doc = sub.add_parser("doctor", parents=[common, writer],
                         help="check that the store's parts agree; --repair rebuilds them")  # fmt: skip
    doc.add_argument("--repair", action="store_true",
                     help="rebuild what is derived (keyword index, vectors, vector cache, "
                     "graph) from the documents and chunks; never deletes a document")  # fmt: skip
    doc.add_argument("--json", action="store_true", help="print one JSON object")
    bak = sub.add_parser("backup", parents=[common, writer],
                         help="copy the store, consistently, while it is in use")  # fmt: skip
    bak.add_argument("dest", metavar="DEST", help="a new (or empty) folder for the copy")
    res = sub.add_parser("restore", parents=[common, writer],
                         help="put a backup back as the store (the one there is kept aside)")  # fmt: skip
    res.add_argument("src", metavar="SRC", help="a folder `rag backup` wrote")
    res.add_argument("--force", action="store_true",
                     help="replace an existing store (it is moved aside, not deleted)")  # fmt: skip
    mig = sub.add_parser("migrate", parents=[common, writer],
                         help="copy the knowledge base into the other backend (no re-embedding)")  # fmt: skip
    mig.add_argument("--to", required=True, choices=BACKENDS,
                     help="the backend to copy into: cluster (RAG_POSTGRES_URL, RAG_MILVUS_URI, "
                     "RAG_CLUSTER_NAME) or embedded (--into DIR)")  # fmt: skip
    mig.add_argument("--into", metavar="DIR", help="with --to embedded: the new store's folder")
    mig.add_argument("--replace", action="store_true",
                     help="delete a knowledge base already at the target first")  # fmt: skip
    bench = sub.add_parser("bench", parents=[common], help="measure ingest speed, memory, latency")
    bench.add_argument("datasets", nargs="+", metavar="DATASET_DIR")
    bench.add_argument("--chunk-tokens", type=int, default=64, help="small chunks → more of them")
    bench.add_argument("--graph", choices=GRAPH_MODES, default="off",
                       help="also build the knowledge graph and time it")  # fmt: skip
    bench.add_argument("--against", choices=["llamaindex"],
                       help="compare with a plain LlamaIndex VectorStoreIndex on the same chunks "
                       "and embedder, ingesting into a fresh store (needs the llamaindex extra)")  # fmt: skip
    bench.add_argument("--limit", type=int, metavar="N", help="only the first N questions")
    bench.add_argument("--json", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    from ingest.atomic import disk_full, out_of_space
    from ingest.errors import RagError, UsageError
    from rag.cli import commands, maintenance

    module = maintenance if args.command in maintenance.COMMANDS else commands
    try:
        return int(getattr(module, f"cmd_{args.command}")(args))
    except RagError as e:
        _error(str(e), verbose=args.verbose)
        return 2 if isinstance(e, UsageError) else 1
    except BrokenPipeError:  # output piped into `head` and closed: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug: say so, rather than pass it off as the user's mistake
        if out_of_space(e):  # no bug: a full disk under a write the store does not guard
            _error(str(disk_full(None, e)), verbose=args.verbose)
            return 1
        hint = "" if args.verbose else " (run with -v for the traceback)"
        _error(f"internal error: {type(e).__name__}: {e}{hint}", verbose=args.verbose)
        return 1


def _error(message: str, *, verbose: bool) -> None:
    """One line on stderr; under -v the traceback comes first, so the line stays last."""
    if verbose:
        traceback.print_exc(file=sys.stderr)
    print("error: " + " ".join(message.split()), file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
