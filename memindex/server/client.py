"""``RemoteIndex``: the ``MemoryIndex`` methods over a memindex server's HTTP API (``memindex.open(url)``).

Return types match the local facade: ``search`` gives ``memindex.search.Hit`` objects, ``ask`` an answer
with ``to_dict()``, ``ingest`` a report with ``ok`` and ``to_dict()``; server errors are raised as the same
``MemIndexError`` subclasses the local index raises.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from memindex.errors import MemIndexError, StoreError
from memindex.search import Hit
from memindex.server.security import TOKEN_ENV

__all__ = ["RemoteIndex", "RemoteAnswer", "RemoteReport"]


class RemoteAnswer(dict):
    """An answer dict (answer, confidence, evidence, trace, cost) with attribute access and ``to_dict``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(name) from exc

    def to_dict(self) -> dict:
        return dict(self)


class RemoteReport:
    def __init__(self, ingested: list[dict], skipped: list[dict], failed: list[dict]) -> None:
        self.ingested, self.skipped, self.failed = ingested, skipped, failed

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict:
        return {"ingested": self.ingested, "skipped": self.skipped, "failed": self.failed}


def _tr(time_range: tuple[float, float] | None) -> dict[str, float | None]:
    if time_range is None:
        return {}
    start, end = time_range
    return {"start": start, "end": None if end == float("inf") else end}


class RemoteIndex:
    """A client of ``memindex serve`` with the method names and return types of ``MemoryIndex``."""

    def __init__(self, url: str, *, collection: str = "default", token: str | None = None,
                 timeout: float = 120.0, transport: Any = None) -> None:
        import httpx

        token = token or os.environ.get(TOKEN_ENV) or None
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

    def _get(self, path: str, **params: Any) -> Any:
        return self._request("GET", path, params=params).json()

    # -- read side -------------------------------------------------------------------------------------
    def search(self, query: str, k: int = 10, *, tiers: Sequence[str] | None = None,
               levels: Sequence[str] | None = None, videos: Sequence[str] | None = None,
               time_range: tuple[float, float] | None = None) -> list[Hit]:
        body = {"query": query, "k": k, "tiers": tiers, "levels": levels, "videos": videos, **_tr(time_range)}
        data = self._request("POST", "/v1/search", json={k: v for k, v in body.items() if v is not None}).json()
        return [Hit(**h) for h in data["hits"]]

    def ask(self, question: str, **options: Any) -> RemoteAnswer:
        body = {"question": question, "max_steps": options.get("max_steps")}
        return RemoteAnswer(self._request("POST", "/v1/ask", json=body).json())

    def ask_stream(self, question: str, **options: Any) -> Iterator[dict]:
        """The agent's steps as the server sends them (server-sent events); the answer comes last."""
        body = {"question": question, "max_steps": options.get("max_steps")}
        params = {"collection": self.collection}
        with self._http.stream("POST", "/v1/ask/stream", json=body, params=params) as resp:
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

    def videos(self) -> list[dict]:
        return self._get("/v1/videos")["videos"]

    def video(self, ref: str) -> dict:
        return self._get(f"/v1/videos/{ref}")

    def transcript(self, video: str, start: float | None = None, end: float | None = None) -> list[dict]:
        return self._get(f"/v1/videos/{video}/transcript", start=start, end=end)["utterances"]

    def screen_text(self, video: str, start: float | None = None, end: float | None = None) -> list[dict]:
        return self._get(f"/v1/videos/{video}/screen_text", start=start, end=end)["lines"]

    def frames(self, video: str, start: float | None = None, end: float | None = None,
               n: int | None = None) -> list[dict]:
        return self._get(f"/v1/videos/{video}/frames", start=start, end=end, n=n)["frames"]

    def frame_jpeg(self, frame_id: int) -> bytes:
        return self._request("GET", f"/v1/frames/{int(frame_id)}.jpg").content

    def browse(self, video: str, level: str = "chapter",
               time_range: tuple[float, float] | None = None) -> list[dict]:
        return self._get(f"/v1/videos/{video}/browse", level=level, **_tr(time_range))["segments"]

    def get_segment(self, segment_id: int) -> dict:
        return self._get(f"/v1/segments/{int(segment_id)}")

    def stats(self) -> dict:
        return self._get("/v1/stats")

    # -- write side ------------------------------------------------------------------------------------
    def ingest(self, paths: Sequence[str | Path], *, progress: Any = None, wait: float = 3600.0,
               **_options: Any) -> RemoteReport:
        """Queue each path (it must lie on the server's allowed roots) and wait for the jobs."""
        report = RemoteReport([], [], [])
        jobs = []
        for path in [paths] if isinstance(paths, (str, Path)) else paths:
            try:
                jobs.append(self._request("POST", "/v1/videos", json={"path": str(path)}).json())
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

    def wait_job(self, job_id: str, timeout: float = 3600.0, poll: float = 0.2) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            job = self._get(f"/v1/jobs/{job_id}")
            if job["status"] in ("done", "failed") or time.monotonic() > deadline:
                return job
            time.sleep(poll)

    def delete_video(self, ref: str) -> None:
        self._request("DELETE", f"/v1/videos/{ref}")

    def health(self) -> dict:
        return self._get("/v1/health")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RemoteIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _from_body(body: Any) -> MemIndexError:
    from memindex.server.service import _error_from

    if not isinstance(body, dict) or "code" not in body:
        return StoreError(f"unexpected server reply: {str(body)[:200]}")
    return _error_from(body)


def _error(resp: Any) -> MemIndexError:
    try:
        body = resp.json()
    except ValueError:
        return StoreError(f"server error {resp.status_code}: {resp.text[:200]}")
    exc = _from_body(body)
    exc.http_status = resp.status_code  # type: ignore[misc]
    return exc
