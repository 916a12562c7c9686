"""The MCP server (official ``mcp`` SDK): the service layer's operations as tools for agents.

Every result that points into a video carries ``video_id``, ``uri``, ``start`` and ``end`` so an agent can
cite it; ``frames`` returns the keyframes as MCP image content. Errors come back as a tool error whose text
ends with the JSON ``{code, message}`` the HTTP API returns (the SDK puts "Error executing tool ..." first).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from memindex.errors import MemIndexError
from memindex.server.service import Service

__all__ = ["build_mcp", "TOOLS"]

T = TypeVar("T")
TOOLS = ("search", "ask", "browse", "transcript", "screen_text", "frames", "list_videos", "get_segment",
         "add_video", "ingest_status", "delete_video")
INSTRUCTIONS = (
    "A memory of long videos. Start with `search` (ranked moments) or `ask` (an answer with timestamped "
    "evidence); narrow with `browse`, `transcript`, `screen_text` and `frames`. Cite results by their "
    "video_id, uri, start and end (seconds). Every tool takes an optional `collection`."
)


def _call(fn: Callable[[], T]) -> T:
    from mcp.server.mcpserver.exceptions import ToolError

    try:
        return fn()
    except MemIndexError as exc:
        raise ToolError(json.dumps(exc.to_dict())) from exc


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
    @server.tool()
    def search(query: str, k: int = 10, tiers: list[str] | None = None, levels: list[str] | None = None,
               videos: list[str] | None = None, start: float | None = None, end: float | None = None,
               collection: str = "default") -> dict[str, Any]:
        """Ranked moments for a text query (speech, screen text, keyframes; episodic levels by `levels`)."""
        tr = None if start is None and end is None else (start or 0.0, end if end is not None else 1e12)
        hits = _call(lambda: svc.search(collection, query, k=k, tiers=tiers, levels=levels, videos=videos,
                                        time_range=tr))
        return {"hits": [h.to_dict() for h in hits]}

    @server.tool()
    def ask(question: str, max_steps: int | None = None, collection: str = "default") -> dict[str, Any]:
        """Answer a question about the videos: {answer, confidence, evidence (cited moments), trace, cost}."""
        return _call(lambda: svc.ask(collection, question, max_steps=max_steps))

    @server.tool()
    def list_videos(collection: str = "default") -> dict[str, Any]:
        """The videos of the collection: id, uri, duration, status and more."""
        return {"videos": _call(lambda: svc.reader(collection).videos())}

    @server.tool()
    def browse(video: str, level: str = "chapter", start: float | None = None, end: float | None = None,
               collection: str = "default") -> dict[str, Any]:
        """A video's segments at `level` (shot, event, chapter, video), each with its children."""
        tr = None if start is None and end is None else (start or 0.0, end if end is not None else 1e12)
        index = svc.reader(collection)
        segs = _call(lambda: index.browse(video, level, tr))
        vid = _call(lambda: index.reader.resolve_video(video))
        return {"video_id": vid, "uri": _uri_of(svc, collection, vid), "segments": segs}

    @server.tool()
    def get_segment(segment_id: int, collection: str = "default") -> dict[str, Any]:
        """One segment by id: its level, span, parent and text fields."""
        return _call(lambda: svc.reader(collection).get_segment(segment_id))

    @server.tool()
    def transcript(video: str, start: float | None = None, end: float | None = None,
                   collection: str = "default") -> dict[str, Any]:
        """Utterances (with words and speakers) of a video, optionally within [start, end] seconds."""
        index = svc.reader(collection)
        utts = _call(lambda: index.transcript(video, start, end))
        vid = _call(lambda: index.reader.resolve_video(video))
        return {"video_id": vid, "uri": _uri_of(svc, collection, vid), "utterances": utts}

    @server.tool()
    def screen_text(video: str, start: float | None = None, end: float | None = None,
                    collection: str = "default") -> dict[str, Any]:
        """On-screen text lines (OCR) of a video, optionally within [start, end] seconds."""
        index = svc.reader(collection)
        lines = _call(lambda: index.screen_text(video, start, end))
        vid = _call(lambda: index.reader.resolve_video(video))
        return {"video_id": vid, "uri": _uri_of(svc, collection, vid), "lines": lines}


def _media_tools(server: Any, svc: Service) -> None:
    from mcp.server.mcpserver import Image

    @server.tool(structured_output=False)
    def frames(video: str, start: float | None = None, end: float | None = None, n: int = 4,
               collection: str = "default") -> list[Any]:
        """Up to `n` keyframes of a video in [start, end] as images, after a JSON list of their times."""
        index = svc.reader(collection)
        found = _call(lambda: svc.frames(collection, video, start, end, n))
        vid = _call(lambda: index.reader.resolve_video(video))
        uri = _uri_of(svc, collection, vid)
        meta = [{"frame_id": f["frame_id"], "video_id": vid, "uri": uri, "start": f["t"], "end": f["t"],
                 "t": f["t"], "width": f["width"], "height": f["height"]} for f in found]
        images = [Image(data=_call(lambda f=f: index.reader.frame_jpeg(f["frame_id"])), format="jpeg")
                  for f in found]
        return [json.dumps({"frames": meta}), *images]


def _write_tools(server: Any, svc: Service) -> None:
    @server.tool()
    def add_video(path: str, collection: str = "default") -> dict[str, Any]:
        """Queue a video file (or folder) on the server's allowed roots for ingest; returns the job."""
        return _call(lambda: svc.submit_ingest(collection, path).to_dict())

    @server.tool()
    def ingest_status(job_id: str, collection: str = "default") -> dict[str, Any]:
        """A job's status: queued, running, done (with the ingest report) or failed (with the error)."""
        return _call(lambda: svc.job(job_id, collection).to_dict())

    @server.tool()
    def delete_video(video: str, collection: str = "default") -> dict[str, Any]:
        """Delete a video and everything derived from it (segments, words, OCR, frames, vectors)."""
        return _call(lambda: svc.delete_video(collection, video))
