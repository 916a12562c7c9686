"""The one layer both servers (HTTP and MCP) call: collections, limits, path checks and the single writer.

Reads run on any thread against a per-collection *reader* ``MemoryIndex``; every write (ingest, delete) is
a job run by ONE writer thread on its own *writer* ``MemoryIndex``, serially. Readers see a video only once
its status is ``ready`` (search joins on it) and tiers catch up by copy-and-swap, so a reader sees the
store before or after a commit, never half of it.
"""

from __future__ import annotations

import itertools
import logging
import math
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memindex.api import MemoryIndex
from memindex.config import StoreConfig
from memindex.errors import ConfigError, MemIndexError, NotFoundError, QueryError, StoreError, error_from_dict
from memindex.llm import LLMConfig
from memindex.operations import DEFAULT_LIMITS
from memindex.server.security import PathGuard
from memindex.store import _COLLECTION, Store

__all__ = ["Limits", "ServiceConfig", "Job", "Service", "MAX_ROW_ID", "check_span", "time_range"]

log = logging.getLogger(__name__)
MAX_ROW_ID = (1 << 63) - 1  # SQLite's INTEGER: a larger id names no row


def check_span(start: float | None, end: float | None) -> None:
    """Time bounds from a request must be finite numbers of seconds (NaN and infinities are refused)."""
    for name, value in (("start", start), ("end", end)):
        if value is not None and (isinstance(value, bool) or not math.isfinite(value)):
            raise QueryError(f"{name} must be a finite number of seconds, not {value!r}")


def time_range(start: float | None, end: float | None) -> tuple[float | None, float | None] | None:
    """Checked bounds as a range for ``MemoryIndex``; an open end stays ``None``."""
    check_span(start, end)
    if start is None and end is None:
        return None
    return (start, end)


def _check_row_id(kind: str, row_id: int) -> int:
    if isinstance(row_id, bool) or not isinstance(row_id, int) or not 0 <= row_id <= MAX_ROW_ID:
        raise NotFoundError(f"no {kind} {row_id!r}")
    return row_id


@dataclass(frozen=True)
class Limits:
    """Bounds on what one request may ask for (the defaults are ``memindex.operations.DEFAULT_LIMITS``; the
    servers publish the configured ones in their schemas)."""

    max_k: int = DEFAULT_LIMITS["max_k"]
    max_query_chars: int = DEFAULT_LIMITS["max_query_chars"]
    max_body_bytes: int = DEFAULT_LIMITS["max_body_bytes"]
    max_frames: int = DEFAULT_LIMITS["max_frames"]
    max_ask_steps: int = DEFAULT_LIMITS["max_ask_steps"]
    max_browse: int = DEFAULT_LIMITS["max_browse"]
    max_jobs_kept: int = 1000

    def published(self) -> dict[str, int]:
        """The bounds a client sees (``DEFAULT_LIMITS``' keys), as configured."""
        return {name: getattr(self, name) for name in DEFAULT_LIMITS}


@dataclass(frozen=True)
class ServiceConfig:
    store: Path
    allowed_roots: tuple[Path, ...] = ()
    limits: Limits = field(default_factory=Limits)
    store_config: StoreConfig | None = None  # for new collections; None: inherit the default's
    ingest_options: dict[str, Any] = field(default_factory=dict)  # passed to MemoryIndex.ingest
    agent: str = "default"
    resume: bool = True  # re-queue videos an earlier process left half-ingested
    # What the CLI read from the environment (memindex/environment.py), passed to every store and ask:
    catalog_url: str | None = field(default=None, repr=False)  # a shared catalog (may carry a password)
    tier_token: str | None = field(default=None, repr=False)  # the vector backend's token (never saved)
    llm: LLMConfig | None = None  # the agent's LLM; None: the deterministic planner


@dataclass
class Job:
    id: str
    kind: str  # ingest | delete | rename_entity | merge_entities | split_entity | rebuild | backfill | check
    collection: str
    target: str
    args: dict[str, Any] = field(default_factory=dict)
    status: str = "queued"  # queued | running | done | failed
    result: dict | None = None
    error: dict | None = None
    created: float = field(default_factory=time.time)
    finished: float | None = None
    _done: threading.Event = field(default_factory=threading.Event, repr=False)

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "collection": self.collection,
            "target": self.target,
            "status": self.status,
            "result": self.result,
            "error": self.error,
            "created": self.created,
            "finished": self.finished,
        }

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)


class Service:
    """Owns a store directory: readers per collection, one writer thread, the job table."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.root = Path(config.store).expanduser().resolve()
        (self.root / "collections").mkdir(parents=True, exist_ok=True)
        self.guard = PathGuard(config.allowed_roots)
        self._readers: dict[str, MemoryIndex] = {}
        self._writers: dict[str, MemoryIndex] = {}
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._ids = itertools.count(1)
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._thread = threading.Thread(target=self._writer_loop, name="memindex-writer", daemon=True)
        self._thread.start()
        self._recover()

    # -- collections -----------------------------------------------------------------------------------
    def collections(self) -> list[str]:
        return sorted(p.name for p in (self.root / "collections").iterdir() if p.is_dir() and _COLLECTION.match(p.name))

    def _check_name(self, collection: str) -> str:
        if not isinstance(collection, str) or not _COLLECTION.match(collection):
            raise ConfigError(f"invalid collection name {collection!r} (letters, digits, '_', '.', '-')")
        return collection

    def _new_store_config(self) -> StoreConfig | None:
        if self.config.store_config is not None:
            return self.config.store_config
        default = self.root / "collections" / "default" / "config.json"
        if default.exists():
            import json

            return StoreConfig.from_dict(json.loads(default.read_text()))
        return None

    def _open(self, cache: dict[str, MemoryIndex], collection: str, create: bool) -> MemoryIndex:
        self._check_name(collection)
        with self._lock:
            index = cache.get(collection)
            if index is not None:
                return index
            exists = (self.root / "collections" / collection / "catalog.sqlite").exists()
            if not exists and not create:
                raise NotFoundError(f"no collection {collection!r} in this store")
            cfg = None if exists else self._new_store_config()
            index = MemoryIndex(
                Store(
                    self.root,
                    config=cfg,
                    collection=collection,
                    catalog_url=self.config.catalog_url,
                    tier_token=self.config.tier_token,
                )
            )
            cache[collection] = index
            return index

    def reader(self, collection: str = "default") -> MemoryIndex:
        """The read-side index of a collection (404 when it does not exist)."""
        if collection == "default" and collection not in self._readers:
            return self._open(self._readers, collection, create=True)
        return self._open(self._readers, collection, create=False)

    def _writer(self, collection: str) -> MemoryIndex:
        return self._open(self._writers, collection, create=True)

    # -- reads -----------------------------------------------------------------------------------------
    def search(self, collection: str, query: str, k: int = 10, **filters: Any) -> list:
        self._check_k(k)
        if isinstance(query, str) and len(query) > self.config.limits.max_query_chars:
            raise QueryError(f"the query is {len(query)} characters; the limit is {self.config.limits.max_query_chars}")
        return self.reader(collection).search(query, k=k, **filters)

    def ask(self, collection: str, question: str, *, include_trace: bool = True, **options: Any) -> dict:
        """The answer as a dict; its ``trace`` is an empty list unless ``include_trace``."""
        answer = self.reader(collection).ask(question, **self._ask_options(question, options))
        data = answer.to_dict() if hasattr(answer, "to_dict") else dict(answer)
        return data if include_trace else {**data, "trace": []}

    def ask_stream(
        self, collection: str, question: str, *, include_trace: bool = True, **options: Any
    ) -> Iterator[dict]:
        """Checked now (errors before the first step); the steps come as the agent takes them."""
        checked = self._ask_options(question, options)
        steps = self.reader(collection).ask_stream(question, **checked)
        return steps if include_trace else ({**s, "trace": []} if s.get("type") == "answer" else s for s in steps)

    def _ask_options(self, question: str, options: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(question, str) or not question.strip():
            raise QueryError("the question is empty")
        if len(question) > self.config.limits.max_query_chars:
            raise QueryError(
                f"the question is {len(question)} characters; the limit is {self.config.limits.max_query_chars}"
            )
        steps = options.get("max_steps")
        if steps is not None and not (isinstance(steps, int) and 1 <= steps <= self.config.limits.max_ask_steps):
            raise QueryError(f"max_steps must be an integer from 1 to {self.config.limits.max_ask_steps}")
        options = {k: v for k, v in options.items() if v is not None}
        options.setdefault("agent", self.config.agent)
        if self.config.llm is not None:
            options.setdefault("llm", self.config.llm)
        return options

    def frames(
        self, collection: str, video: str, start: float | None = None, end: float | None = None, n: int | None = None
    ) -> list[dict]:
        limit = self.config.limits.max_frames
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= limit):
            raise QueryError(f"n must be an integer from 1 to {limit}, not {n!r}")
        check_span(start, end)
        return self.reader(collection).frames(video, start, end, n)

    def frame_jpeg(self, collection: str, frame_id: int) -> bytes:
        return self.reader(collection).reader.frame_jpeg(_check_row_id("frame", frame_id))

    def segment(self, collection: str, segment_id: int) -> dict:
        return self.reader(collection).get_segment(_check_row_id("segment", segment_id))

    def _check_k(self, k: Any) -> None:
        limit = self.config.limits.max_k
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= limit:
            raise QueryError(f"k must be an integer from 1 to {limit}, not {k!r}")

    # -- writes (jobs) ---------------------------------------------------------------------------------
    def submit_ingest(self, collection: str, path: str) -> Job:
        """Check the path (allowed roots, no escapes, a readable video) now; ingest it on the writer."""
        self._check_name(collection)
        checked = self.guard.check(path)
        self._probe(checked)
        return self._submit("ingest", collection, str(checked))

    def _probe(self, path: Path) -> None:
        if path.is_dir():
            return
        from memindex.ingest.decode import probe  # the server sits on top and may import the write side

        probe(str(path))

    def submit_delete(self, collection: str, video: str) -> Job:
        vid = self.reader(collection).reader.resolve_video(video)
        return self._submit("delete", collection, vid)

    def delete_video(self, collection: str, video: str, timeout: float = 120.0) -> dict:
        """Delete on the writer and wait: ``{id, uri, name}`` of the deleted video."""
        return self._wait(self.submit_delete(collection, video), timeout)

    def submit(self, kind: str, collection: str, target: str, **args: Any) -> Job:
        """Queue a write of ``kind`` (one of ``_run``'s) on the writer; the job says when it is done."""
        if kind not in _WRITES:
            raise QueryError(f"unknown job kind {kind!r}; valid: {sorted(_WRITES)}")
        self.reader(collection)  # a write to a collection that does not exist is not found
        return self._submit(kind, collection, target, args)

    def write(self, kind: str, collection: str, target: str, timeout: float = 120.0, **args: Any) -> dict:
        """A write on the writer, waited for: its result, or its error raised as the typed error."""
        return self._wait(self.submit(kind, collection, target, **args), timeout)

    def _wait(self, job: Job, timeout: float) -> dict:
        if not job.wait(timeout):
            raise StoreError(
                f"job {job.id} ({job.kind} {job.target}) is still running after {timeout:.0f}s; "
                f"follow it with ingest_status"
            )
        if job.status == "failed":
            raise error_from_dict(job.error or {"code": "internal", "message": "the job failed"})
        return job.result or {}

    def job(self, job_id: str, collection: str = "default") -> Job:
        """A job of this collection (another collection's jobs are not found)."""
        job = self._jobs.get(job_id)
        if job is None or job.collection != collection:
            raise NotFoundError(f"no job {job_id!r} in collection {collection!r}")
        return job

    def jobs(self, collection: str = "default") -> list[Job]:
        return [j for j in list(self._jobs.values()) if j.collection == collection]

    def _submit(self, kind: str, collection: str, target: str, args: dict[str, Any] | None = None) -> Job:
        job = Job(
            id=f"job-{next(self._ids)}-{int(time.time() * 1000) % 10**8}",
            kind=kind,
            collection=collection,
            target=target,
            args=dict(args or {}),
        )
        with self._lock:
            self._jobs[job.id] = job
            self._trim_jobs()
        self._queue.put(job)
        return job

    def _trim_jobs(self) -> None:
        finished = [j for j in self._jobs.values() if j.finished is not None]
        for j in finished[: max(0, len(self._jobs) - self.config.limits.max_jobs_kept)]:
            del self._jobs[j.id]

    def _writer_loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            job.status = "running"
            try:
                job.result = self._run(job)
                job.status = "done"
            except MemIndexError as exc:
                job.status, job.error = "failed", exc.to_dict()
            except Exception as exc:  # one bad job must not stop the writer; logged with its traceback
                log.exception("job %s failed", job.id)
                job.status, job.error = "failed", {"code": "internal", "message": type(exc).__name__}
            job.finished = time.time()
            job._done.set()

    def _run(self, job: Job) -> dict:
        index = self._writer(job.collection)
        if job.kind == "ingest":
            return self._run_ingest(index, job)
        options = self.config.ingest_options if job.kind in ("rebuild", "backfill") else {}
        result = _WRITES[job.kind](index, job, options)
        return result.to_dict() if hasattr(result, "to_dict") else dict(result)

    def _run_ingest(self, index: MemoryIndex, job: Job) -> dict:
        report = index.ingest([job.target], **self.config.ingest_options)
        data: dict = report.to_dict()
        if report.failed and not report.ingested and not report.skipped:
            first = report.failed[0]
            raise error_from_dict({"code": first.get("code", "media"), "message": first["error"]})
        return data

    # -- recovery and shutdown -------------------------------------------------------------------------
    def _recover(self) -> None:
        """After a crash: drop media of videos no longer in the catalog; re-queue half-ingested videos."""
        for name in self.collections():
            try:
                index = self._writer(name)
                index.store.collect_garbage()
                if not self.config.resume:
                    continue
                for v in index.videos():
                    if v["status"] != "ready" and self._resumable(v["uri"]):
                        log.info("resuming the interrupted ingest of %s (%s)", v["id"], v["uri"])
                        self._submit("ingest", name, v["uri"])
            except MemIndexError as exc:
                log.error("collection %s could not be recovered: %s", name, exc)

    def _resumable(self, uri: str) -> bool:
        try:
            self.guard.check(uri)
            return True
        except MemIndexError:
            return False

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)
        for index in [*self._readers.values(), *self._writers.values()]:
            index.close()


_WRITES: dict[str, Any] = {  # what the writer runs for each kind of job but ingest: (index, job, options)
    "delete": lambda ix, job, _o: ix.delete_video(job.target),
    "rename_entity": lambda ix, job, _o: ix.rename_entity(job.target, job.args["name"]),
    "merge_entities": lambda ix, job, _o: ix.merge_entities(job.target, job.args["sources"]),
    "split_entity": lambda ix, job, _o: ix.split_entity(job.target, **job.args),
    "rebuild": lambda ix, job, o: ix.rebuild(job.target, job.args.get("videos"), **o),
    "backfill": lambda ix, job, o: ix.backfill(job.target, **o),
    "check": lambda ix, job, _o: ix.check(repair=bool(job.args.get("repair"))),
}
