"""The ingestion fan-out on Ray (the optional `[ray]` extra): each job is a Ray task on one CPU,
and each Ray worker process builds the embedder once and keeps it for the jobs that follow.

With no address a local Ray instance is started with one CPU per worker and stopped on `close`;
with an address (`RAG_RAY_ADDRESS`, e.g. "ray://head:10001" or "auto") the jobs go to that
cluster, whose workers need this package and the model files installed. Files travel as bytes,
so the workers need not share the writer's disk."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from ingest.embedding import Embedder
from ingest.errors import MissingDependency
from ingest.fanout import FileJob, JobResult, chunk_job

if TYPE_CHECKING:
    from ingest.pipeline import FileResult, IngestConfig

_T = TypeVar("_T")

# the embedder of this (worker) process, with the factory it was built from
_built: tuple[Callable[[], Embedder], Embedder] | None = None


def _embedder(factory: Callable[[], Embedder]) -> Embedder:
    global _built
    if _built is None or _built[0] != factory:
        _built = (factory, factory())
    return _built[1]


def _chunk(
    job: FileJob, factory: Callable[[], Embedder], config: IngestConfig
) -> JobResult | FileResult:
    return chunk_job(job, _embedder(factory), config)


def _embed(texts: list[str], factory: Callable[[], Embedder]) -> np.ndarray:
    return _embedder(factory).embed_passages(texts)


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise MissingDependency(
            "ingesting with workers needs Ray: pip install 'rag-kg[ray]'"
        ) from None
    return ray


class RayFanout:
    """Jobs as Ray tasks. `factory` must pickle and compare equal to its copies (a frozen
    dataclass does): a worker process rebuilds the embedder only when it changes."""

    def __init__(
        self,
        factory: Callable[[], Embedder],
        config: IngestConfig,
        workers: int,
        address: str | None = None,
    ) -> None:
        _ray()  # a missing extra is reported before anything is read
        self._factory = factory
        self._config = config
        self._workers = workers
        self._address = address
        self._started = False
        # once connected: the two remote functions, and the factory and config in Ray's store
        self._remote: tuple[Any, Any, Any, Any] | None = None

    def _connect(self) -> tuple[Any, Any, Any, Any]:
        """Ray is started (or joined) on the first job: a re-ingest with nothing new or
        changed does not pay for it."""
        ray = _ray()
        if self._remote is None:
            if not ray.is_initialized():
                os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
                where: dict[str, Any] = (
                    {"address": self._address} if self._address else {"num_cpus": self._workers}
                )
                ray.init(
                    **where, include_dashboard=False, log_to_driver=False,
                    logging_level=logging.ERROR, configure_logging=True,
                )  # fmt: skip
                self._started = True
            remote = ray.remote(num_cpus=1, max_retries=0)
            self._remote = (remote(_chunk), remote(_embed), ray.put(self._factory),
                            ray.put(self._config))  # fmt: skip
        return self._remote

    @property
    def workers(self) -> int:
        return self._workers

    def submit(self, job: FileJob) -> Future[JobResult | FileResult]:
        chunk, _, factory, config = self._connect()
        return _unwrapped(chunk.remote(job, factory, config).future())

    def embed(self, texts: list[str]) -> Future[np.ndarray]:
        _, embed, factory, _ = self._connect()
        return _unwrapped(embed.remote(texts, factory).future())

    def close(self) -> None:
        if self._started:
            _ray().shutdown()
        self._started, self._remote = False, None


def _unwrapped(theirs: Future[_T]) -> Future[_T]:
    """Ray's future with an error raised in the worker coming out as itself, not wrapped in
    a RayTaskError: a RagError stops the ingest with its own message."""
    ours: Future[_T] = Future()

    def done(f: Future[_T]) -> None:
        if f.cancelled():
            ours.cancel()
        elif (error := f.exception()) is not None:
            cause = getattr(error, "cause", None)
            ours.set_exception(cause if isinstance(cause, Exception) else error)
        else:
            ours.set_result(f.result())

    theirs.add_done_callback(done)
    return ours
