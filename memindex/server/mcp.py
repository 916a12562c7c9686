"""The MCP server (official ``mcp`` SDK): the service layer's operations as tools for agents.

Every result that points into a video carries ``video_id``, ``uri``, ``start`` and ``end`` so an agent can
cite it; ``frames`` returns the keyframes as MCP image content. Errors come back as a tool error whose text
ends with the JSON ``{code, message}`` the HTTP API returns (the SDK puts "Error executing tool ..." first);
a bug is ``{"code": "internal"}`` with its traceback in the server's log only.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from memindex.errors import MemIndexError
from memindex.server.service import Service, check_span, time_range

__all__ = ["build_mcp", "TOOLS"]

log = logging.getLogger(__name__)
T = TypeVar("T")
TOOLS = ("search", "ask", "browse", "transcript", "screen_text", "frames", "list_videos", "get_segment",
         "add_video", "ingest_status", "delete_video")
INSTRUCTIONS = (
    "A memory of long videos. Start with `search` (ranked moments) or `ask` (an answer with timestamped "
    "evidence); narrow with `browse`, `transcript`, `screen_text` and `frames`. Cite results by their "
    "video_id, uri, start and end (seconds). Every tool takes an optional `collection`."
)


def _tool(server: Any, **options: Any) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """``server.tool()`` for a function whose every error becomes a tool error with ``{code, message}``."""

    def register(fn: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(fn)  # the SDK reads the signature and docstring through ``__wrapped__``
        def guarded(*args: Any, **kwargs: Any) -> T:
            from mcp.server.mcpserver.exceptions import ToolError

            try:
                return fn(*args, **kwargs)
            except MemIndexError as exc:
                raise ToolError(json.dumps(exc.to_dict())) from exc
            except Exception as exc:
                log.exception("MCP tool %s failed", fn.__name__)
                raise ToolError(json.dumps({"code": "internal", "message": "internal server error"})) from exc

        server.tool(**options)(guarded)
        return guarded

    return register


def _uri_of(svc: Service, collection: str, video_id: str) -> str:
    return svc.reader(collection).video(video_id)["uri"]


def build_mcp(svc: Service) -> Any:
    """An ``MCPServer`` whose tools call ``svc``; serve it over stdio or mount its streamable HTTP app."""
    from mcp.server.mcpserver import MCPServer

    root = logging.getLogger()
    guard = logging.NullHandler()
    root.addHandler(guard)  # MCPServer() calls logging.basicConfig; a library must not configure logging
    try:
        server = MCPServer("memindex", instructions=INSTRUCTIONS, log_level="WARNING")
    finally:
        root.removeHandler(guard)
    _read_tools(server, svc)
    _media_tools(server, svc)
    _write_tools(server, svc)
    return server


def _read_tools(server: Any, svc: Service) -> None:
    @_tool(server)
    def search(query: str, k: int = 10, tiers: list[str] | None = None, levels: list[str] | None = None,
               videos: list[str] | None = None, start: float | None = None, end: float | None = None,
               collection: str = "default") -> dict[str, Any]:
        """Ranked moments for a text query (speech, screen text, keyframes; episodic levels by `levels`)."""
        hits = svc.search(collection, query, k=k, tiers=tiers, levels=levels, videos=videos,
                          time_range=time_range(start, end))
        return {"hits": [h.to_dict() for h in hits]}

    @_tool(server)
    def ask(question: str, max_steps: int | None = None, collection: str = "default") -> dict[str, Any]:
        """Answer a question about the videos: {answer, confidence, evidence (cited moments), trace, cost}."""
        return svc.ask(collection, question, max_steps=max_steps)

    @_tool(server)
    def list_videos(collection: str = "default") -> dict[str, Any]:
        """The videos of the collection: id, uri, duration, status and more."""
        return {"videos": svc.reader(collection).videos()}

    @_tool(server)
    def browse(video: str, level: str = "chapter", start: float | None = None, end: float | None = None,
               collection: str = "default") -> dict[str, Any]:
        """A video's segments at `level` (shot, event, chapter, video), each with its children."""
        tr = time_range(start, end)
        index = svc.reader(collection)
        segs = index.browse(video, level, tr)
        vid = index.reader.resolve_video(video)
        return {"video_id": vid, "uri": _uri_of(svc, collection, vid), "segments": segs}

    @_tool(server)
    def get_segment(segment_id: int, collection: str = "default") -> dict[str, Any]:
        """One segment by id: its level, span, parent and text fields."""
        return svc.segment(collection, segment_id)

    @_tool(server)
    def transcript(video: str, start: float | None = None, end: float | None = None,
                   collection: str = "default") -> dict[str, Any]:
        """Utterances (with words and speakers) of a video, optionally within [start, end] seconds."""
        check_span(start, end)
        index = svc.reader(collection)
        utts = index.transcript(video, start, end)
        vid = index.reader.resolve_video(video)
        return {"video_id": vid, "uri": _uri_of(svc, collection, vid), "utterances": utts}

    @_tool(server)
    def screen_text(video: str, start: float | None = None, end: float | None = None,
                    collection: str = "default") -> dict[str, Any]:
        """On-screen text lines (OCR) of a video, optionally within [start, end] seconds."""
        check_span(start, end)
        index = svc.reader(collection)
        lines = index.screen_text(video, start, end)
        vid = index.reader.resolve_video(video)
        return {"video_id": vid, "uri": _uri_of(svc, collection, vid), "lines": lines}


def _media_tools(server: Any, svc: Service) -> None:
    from mcp.server.mcpserver import Image

    @_tool(server, structured_output=False)
    def frames(video: str, start: float | None = None, end: float | None = None, n: int = 4,
               collection: str = "default") -> list[Any]:
        """Up to `n` keyframes of a video in [start, end] as images, after a JSON list of their times."""
        index = svc.reader(collection)
        found = svc.frames(collection, video, start, end, n)
        vid = index.reader.resolve_video(video)
        uri = _uri_of(svc, collection, vid)
        meta = [{"frame_id": f["frame_id"], "video_id": vid, "uri": uri, "start": f["t"], "end": f["t"],
                 "t": f["t"], "width": f["width"], "height": f["height"]} for f in found]
        images = [Image(data=svc.frame_jpeg(collection, f["frame_id"]), format="jpeg") for f in found]
        return [json.dumps({"frames": meta}), *images]


def _write_tools(server: Any, svc: Service) -> None:
    @_tool(server)
    def add_video(path: str, collection: str = "default") -> dict[str, Any]:
        """Queue a video file (or folder) on the server's allowed roots for ingest; returns the job."""
        return svc.submit_ingest(collection, path).to_dict()

    @_tool(server)
    def ingest_status(job_id: str, collection: str = "default") -> dict[str, Any]:
        """A job's status: queued, running, done (with the ingest report) or failed (with the error)."""
        return svc.job(job_id, collection).to_dict()

    @_tool(server)
    def delete_video(video: str, collection: str = "default") -> dict[str, Any]:
        """Delete a video and everything derived from it (segments, words, OCR, frames, vectors)."""
        return svc.delete_video(collection, video)
