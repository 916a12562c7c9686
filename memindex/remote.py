"""``RemoteIndex``: the ``MemoryIndex`` methods over a memindex server's HTTP API (``memindex.open(url)``).

One method per operation of ``memindex.operations``; each request is built from the operation's row (method,
path, parameters), so the client cannot drift from the server. Return types match the local facade:
``search`` gives ``Hit`` objects, listings ``Results`` of the same records, ``ask`` an answer with
``to_dict()``, ``ingest`` a report with ``ok``; server errors are raised as the same ``MemIndexError``
subclasses the local index raises. Keyframes carry a ``url`` relative to the server instead of a ``path``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from memindex.errors import MemIndexError, StoreError, error_from_dict
from memindex.operations import checked_options, operation
from memindex.records import Frame, Results, ScreenText, Segment, Utterance, Video
from memindex.search import Hit

TOKEN_ENV = "MEMINDEX_TOKEN"  # the bearer token's variable: read by the app floor (CLI, server), not here

__all__ = ["RemoteIndex", "RemoteAnswer", "RemoteReport", "TOKEN_ENV"]

_HIT_FIELDS = set(Hit.__dataclass_fields__)


class RemoteAnswer(dict[str, Any]):
    """An answer dict[str, Any] (answer, confidence, citations, evidence, trace, cost) with attribute access."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(name) from exc

    def to_dict(self) -> dict[str, Any]:
        return dict(self)


class RemoteReport:
    def __init__(
        self, ingested: list[dict[str, Any]], skipped: list[dict[str, Any]], failed: list[dict[str, Any]]
    ) -> None:
        self.ingested, self.skipped, self.failed = ingested, skipped, failed

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {"ingested": self.ingested, "skipped": self.skipped, "failed": self.failed}


def _span(time_range: tuple[float | None, float | None] | None) -> dict[str, float | None]:
    """``time_range`` as ``start``/``end``; an open end (``None``, or infinity as ``MemoryIndex`` allows) is
    ``None``."""
    if time_range is None:
        return {"start": None, "end": None}
    start, end = time_range
    return {"start": start, "end": None if end is None or end == float("inf") else end}


def _most(op_name: str, param: str) -> int:
    """The largest value the table allows for a parameter (a server may allow less: it then says so)."""
    return int(operation(op_name).param(param).maximum or 0)


def _ask_body(
    question: str, budget: Any, max_steps: int | None, max_seconds: float | None, max_tokens: int | None
) -> dict[str, Any]:
    """The start of the ask operation's body: the question and the limits given, ``budget`` filling in the
    ones not given."""
    limits = {"max_steps": max_steps, "max_seconds": max_seconds, "max_tokens": max_tokens}
    if budget is not None:
        limits = {k: getattr(budget, k) if v is None else v for k, v in limits.items()}
    return {"question": question, **_given(**limits)}


def _given(**options: Any) -> dict[str, Any]:
    return {k: v for k, v in options.items() if v is not None}


_SERVER_ASKS = "; the server chooses its agent and LLM"
_SERVER_INGESTS = "; the server's ingest options are set when it starts (memindex serve --no-ocr, ...)"


class RemoteIndex:
    """A client of ``memindex serve`` with the method names and return types of ``MemoryIndex``. ``token``:
    the server's bearer token (the CLI passes ``$MEMINDEX_TOKEN``; the library reads no environment)."""

    def __init__(
        self,
        url: str,
        *,
        collection: str = "default",
        token: str | None = None,
        timeout: float = 120.0,
        transport: Any = None,
    ) -> None:
        import httpx

        headers = {"authorization": f"Bearer {token}"} if token else {}
        self.url, self.collection = url.rstrip("/"), collection
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=transport)

    # -- plumbing --------------------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        params = {k: v for k, v in kwargs.pop("params", {}).items() if v is not None}
        params["collection"] = self.collection
        try:
            resp = self._http.request(method, path, params=params, **kwargs)
        except httpx.HTTPError as exc:
            raise StoreError(f"cannot reach the memindex server at {self.url}: {exc}") from exc
        if resp.status_code >= 400:
            raise _error(resp)
        return resp

    def _prepare(self, op_name: str, args: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        """The operation's method, its path with the path parameters filled in, and the other arguments."""
        op = operation(op_name)
        path = op.path
        for key in op.path_params:
            path = path.replace("{" + key + "}", quote(str(args.pop(key)), safe=""))
        return op.method, path, {k: v for k, v in args.items() if v is not None}

    def _call(self, op_name: str, /, **args: Any) -> Any:
        """Run an operation: path parameters in the path, the rest as query (GET, DELETE) or JSON body."""
        method, path, rest = self._prepare(op_name, args)
        if method in ("GET", "DELETE"):
            return self._request(method, path, params=rest)
        return self._request(method, path, json=rest)

    def _json(self, op_name: str, /, **args: Any) -> Any:
        return self._call(op_name, **args).json()

    # -- read side -------------------------------------------------------------------------------------
    def search(
        self,
        query: str,
        k: int = 10,
        *,
        tiers: Sequence[str] | None = None,
        levels: Sequence[str] | None = None,
        videos: Sequence[str] | None = None,
        time_range: tuple[float | None, float | None] | None = None,
    ) -> list[Hit]:
        data = self._json("search", query=query, k=k, tiers=tiers, levels=levels, videos=videos, **_span(time_range))
        return [Hit(**{k: v for k, v in h.items() if k in _HIT_FIELDS}) for h in data["hits"]]

    @checked_options("ask over a server", _SERVER_ASKS)
    def ask(
        self,
        question: str,
        *,
        max_steps: int | None = None,
        max_seconds: float | None = None,
        max_tokens: int | None = None,
        min_confidence: float | None = None,
        videos: Sequence[str] | None = None,
        include_trace: bool = True,
        budget: Any = None,
    ) -> RemoteAnswer:
        """The server's agent with the ``ask`` operation's options; ``budget`` (a ``Budget``) as its limits.
        The answer carries its trace, as ``MemoryIndex``'s does, unless ``include_trace=False``."""
        body = _ask_body(question, budget, max_steps, max_seconds, max_tokens)
        body.update(_given(min_confidence=min_confidence, videos=videos, include_trace=include_trace))
        return RemoteAnswer(self._json("ask", **body))

    @checked_options("ask over a server", _SERVER_ASKS)
    def ask_stream(
        self,
        question: str,
        *,
        max_steps: int | None = None,
        max_seconds: float | None = None,
        max_tokens: int | None = None,
        min_confidence: float | None = None,
        videos: Sequence[str] | None = None,
        include_trace: bool = True,
        budget: Any = None,
    ) -> Iterator[dict[str, Any]]:
        """The agent's steps as the server sends them (server-sent events); the answer comes last."""
        body = _ask_body(question, budget, max_steps, max_seconds, max_tokens)
        body.update(_given(min_confidence=min_confidence, videos=videos, include_trace=include_trace))
        return self._stream(body)

    def _stream(self, args: dict[str, Any]) -> Iterator[dict[str, Any]]:
        _method, path, body = self._prepare("ask_stream", args)
        with self._http.stream("POST", path, json=body, params={"collection": self.collection}) as resp:
            if resp.status_code >= 400:
                resp.read()
                raise _error(resp)
            event = "message"
            for line in resp.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data = json.loads(line[5:])
                    if event == "error":
                        raise _from_body(data)
                    yield data

    def videos(self) -> Results[Video]:
        return Results.of(Video, self._json("videos")["videos"])

    def video(self, ref: str) -> Video:
        return Video(self._json("video", video=ref))

    def transcript(self, video: str, start: float | None = None, end: float | None = None) -> Results[Utterance]:
        return Results.of(Utterance, self._json("transcript", video=video, start=start, end=end)["utterances"])

    def screen_text(self, video: str, start: float | None = None, end: float | None = None) -> Results[ScreenText]:
        return Results.of(ScreenText, self._json("screen_text", video=video, start=start, end=end)["lines"])

    def frames(
        self, video: str, start: float | None = None, end: float | None = None, n: int | None = None
    ) -> Results[Frame]:
        """Keyframes with ``url`` (relative to the server; ``frame_jpeg`` fetches one)."""
        n = _most("frames", "n") if n is None else n  # as MemoryIndex: all of them, bounded
        return Results.of(Frame, self._json("frames", video=video, start=start, end=end, n=n)["frames"])

    def frame_jpeg(self, frame_id: int) -> bytes:
        return self._call("frame_jpeg", frame_id=int(frame_id)).content

    def browse(
        self,
        video: str,
        level: str = "chapter",
        time_range: tuple[float | None, float | None] | None = None,
        *,
        depth: int | None = None,
        limit: int | None = None,
    ) -> Results[Segment]:
        """The segment tree; ``depth``/``limit`` as the server takes them (None: the deepest and most)."""
        depth = _most("browse", "depth") if depth is None else depth
        limit = _most("browse", "limit") if limit is None else limit
        data = self._json("browse", video=video, level=level, depth=depth, limit=limit, **_span(time_range))
        return Results.of(Segment, data["segments"])

    def get_segment(self, segment_id: int) -> Segment:
        return Segment(self._json("get_segment", segment_id=int(segment_id)))

    def stats(self) -> dict[str, Any]:
        return self._json("stats")

    # -- semantic memory -------------------------------------------------------------------------------
    def entities(self, kind: str | None = None, query: str | None = None) -> list[dict[str, Any]]:
        return self._json("entities", kind=kind, query=query)["entities"]

    def entity(self, name_or_id: str | int) -> dict[str, Any]:
        return self._json("entity", name_or_id=name_or_id)

    def rename_entity(self, name_or_id: str | int, name: str) -> dict[str, Any]:
        return self._json("rename_entity", name_or_id=name_or_id, name=name)

    def merge_entities(self, target: str | int, sources: Sequence[str | int]) -> dict[str, Any]:
        return self._json("merge_entities", target=target, sources=[str(s) for s in sources])

    def split_entity(
        self,
        name_or_id: str | int,
        *,
        mention_ids: Sequence[int] | None = None,
        video: str | None = None,
        start: float | None = None,
        end: float | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        return self._json(
            "split_entity",
            name_or_id=name_or_id,
            mention_ids=list(mention_ids or []) or None,
            video=video,
            start=start,
            end=end,
            name=name,
        )

    # -- write side ------------------------------------------------------------------------------------
    @checked_options("ingest over a server", _SERVER_INGESTS)
    def ingest(self, paths: Sequence[str | Path], *, progress: Any = None, wait: float = 3600.0) -> RemoteReport:
        """Queue each path (it must lie on the server's allowed roots) and wait for the jobs; ``progress`` is
        not called (the server's jobs report when they are done)."""
        report = RemoteReport([], [], [])
        jobs = []
        for path in [paths] if isinstance(paths, (str, Path)) else paths:
            try:
                jobs.append(self.add_video(path))
            except MemIndexError as exc:
                report.failed.append({"path": str(path), "error": str(exc), "code": exc.code})
        for job in jobs:
            done = self.wait_job(job["id"], wait)
            if done["status"] == "done":
                for key in ("ingested", "skipped", "failed"):
                    getattr(report, key).extend(done["result"].get(key, []))
            else:
                err = done.get("error") or {"code": "error", "message": done["status"]}
                report.failed.append({"path": job["target"], "error": err["message"], "code": err["code"]})
        return report

    def add_video(self, path: str | Path) -> dict[str, Any]:
        """Queue one path for ingest; the job (follow it with ``ingest_status`` or ``wait_job``)."""
        return self._json("add_video", path=str(path))

    def ingest_status(self, job_id: str) -> dict[str, Any]:
        return self._json("ingest_status", job_id=job_id)

    def jobs(self) -> list[dict[str, Any]]:
        return self._json("jobs")["jobs"]

    def wait_job(self, job_id: str, timeout: float = 3600.0, poll: float = 0.2) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            job = self.ingest_status(job_id)
            if job["status"] in ("done", "failed") or time.monotonic() > deadline:
                return job
            time.sleep(poll)

    def _job_result(self, job: dict[str, Any], wait: float) -> dict[str, Any]:
        done = self.wait_job(job["id"], wait)
        if done["status"] == "failed":
            raise _from_body(done.get("error") or {"code": "error", "message": "the job failed"})
        if done["status"] != "done":
            raise StoreError(f"job {job['id']} is still {done['status']} after {wait:.0f}s")
        return done["result"] or {}

    @checked_options("rebuild over a server", _SERVER_INGESTS)
    def rebuild(self, stage: str, videos: Sequence[str] | None = None, *, wait: float = 3600.0) -> dict[str, Any]:
        """Rebuild a stage on the server's writer and wait for its report."""
        return self._job_result(self._json("rebuild", stage=stage, videos=list(videos) if videos else None), wait)

    @checked_options("backfill over a server", _SERVER_INGESTS)
    def backfill(self, stage: str = "visual", *, wait: float = 3600.0) -> dict[str, Any]:
        return self._job_result(self._json("backfill", stage=stage), wait)

    def check(self, *, repair: bool = False, wait: float = 3600.0) -> dict[str, Any]:
        return self._job_result(self._json("check", repair=repair), wait)

    def delete_video(self, ref: str) -> dict[str, Any]:
        """Delete one video on the server; ``{id, uri, name}`` of what was deleted."""
        return self._json("delete_video", video=ref)

    def collections(self) -> list[str]:
        return self._json("collections")["collections"]

    def health(self) -> dict[str, Any]:
        return self._json("health")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RemoteIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _from_body(body: Any) -> MemIndexError:
    if not isinstance(body, dict) or "code" not in body:
        return StoreError(f"unexpected server reply: {str(body)[:200]}")
    return error_from_dict(body)


def _error(resp: Any) -> MemIndexError:
    try:
        body = resp.json()
    except ValueError:
        return StoreError(f"server error {resp.status_code}: {resp.text[:200]}")
    exc = _from_body(body)
    exc.http_status = resp.status_code
    return exc
