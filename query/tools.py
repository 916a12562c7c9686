"""The agent's tools: typed functions over a ``MemoryIndex`` with JSON schemas (the same set an external agent
gets over MCP). Every tool returns a ``ToolResult`` whose items are ``Evidence`` with video, uri and times."""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field, fields
from typing import Any

from memindex.errors import NotFoundError, QueryError
from memindex.operations import operation
from memindex.search import Hit

__all__ = ["Evidence", "ToolResult", "Toolbox", "TOOL_SCHEMAS", "EVIDENCE_KEYS"]

log = logging.getLogger(__name__)

EVIDENCE_KEYS = ("video_id", "uri", "start", "end", "level", "tier", "modality", "score", "text", "keyframe")


@dataclass
class Evidence(Hit):
    """One timestamped piece of evidence: a search hit, or a row another tool read (``source`` names the
    tool); ``source``, ``doc_id`` and ``signals`` stay internal."""

    source: str = "search"

    def to_dict(self) -> dict:
        """The public view: ``text`` is what was said or shown there (no segment-description scaffolding)."""
        from memindex.query.hygiene import spoken_text

        out = {k: getattr(self, k) for k in EVIDENCE_KEYS}
        out["start"], out["end"], out["score"] = round(self.start, 3), round(self.end, 3), round(self.score, 4)
        out["text"] = spoken_text(self)
        return out

    @classmethod
    def of(cls, hit: Hit) -> Evidence:
        """A search hit as evidence, every field of ``Hit`` kept (``confidence`` too, where the search sets it)."""
        values = {f.name: getattr(hit, f.name) for f in fields(Hit) if f.init}
        values["signals"] = dict(hit.signals)
        return cls(**values, source="search")

    def key(self) -> tuple:
        return (self.video_id, self.tier, self.level, round(self.start, 1), round(self.end, 1))

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start)

    def overlaps(self, other: Evidence, slack: float = 0.0) -> bool:
        return self.video_id == other.video_id and self.start <= other.end + slack and other.start <= self.end + slack


@dataclass
class ToolResult:
    tool: str
    arguments: dict[str, Any]
    items: list[Evidence]
    note: str = ""
    raw: list[dict] = field(default_factory=list)

    def for_llm(self, limit: int = 8, chars: int = 240, terms: tuple[str, ...] = ()) -> dict:
        """A compact view of the result for a chat message: what was said or shown (the part holding the
        question's ``terms``), never the segment descriptions' scaffolding."""
        from memindex.query.hygiene import spoken_text

        items = [
            {
                "video": os.path.basename(e.uri),
                "video_id": e.video_id,
                "start": round(e.start, 2),
                "end": round(e.end, 2),
                "tier": e.tier,
                "level": e.level,
                "score": round(e.score, 3),
                "text": spoken_text(e, terms, 40)[:chars],
            }
            for e in self.items[:limit]
        ]
        out: dict[str, Any] = {"count": len(self.items), "items": items}
        if self.note:
            out["note"] = self.note
        return out


# The agent's tools are rows of the one operations table (memindex/operations.py): the same names,
# parameters, bounds and descriptions an external agent sees over MCP.
TOOL_SCHEMAS: list[dict[str, Any]] = [
    operation(name).function_schema() for name in ("search", "browse", "transcript", "screen_text", "frames", "entity")
]
TOOL_NAMES = tuple(s["function"]["name"] for s in TOOL_SCHEMAS)


def _range(value: Any, start: float | None = None, end: float | None = None) -> tuple[float, float] | None:
    """A span from the table's ``start``/``end`` (an open end is None) or an internal ``time_range`` pair."""
    if value is None:
        if start is None and end is None:
            return None
        return float(start or 0.0), float(end) if end is not None else math.inf
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise QueryError(f"time_range must be [start, end], not {value!r}")
    return float(value[0]), float(value[1]) if value[1] is not None else math.inf


class Toolbox:
    """The tools over one index. ``call(name, arguments)`` validates names and dispatches."""

    def __init__(self, index: Any) -> None:
        self.index = index
        self._uris: dict[str, str] = {}

    def call(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        if name not in TOOL_NAMES:
            raise QueryError(f"unknown tool {name!r}; valid: {list(TOOL_NAMES)}")
        try:
            return getattr(self, name)(**arguments)
        except TypeError as exc:  # wrong or missing arguments from a model
            raise QueryError(f"bad arguments for {name}: {exc}") from exc

    def uri(self, video_id: str) -> str:
        if video_id not in self._uris:
            self._uris = {v["id"]: v["uri"] for v in self.index.videos()}
        return self._uris.get(video_id, "")

    def video_id(self, ref: str) -> str:
        return self.index.reader.resolve_video(ref)

    def search(
        self,
        query: str,
        tiers: list[str] | None = None,
        levels: list[str] | None = None,
        videos: list[str] | None = None,
        time_range: Any = None,
        k: int = 10,
        start: float | None = None,
        end: float | None = None,
    ) -> ToolResult:
        span = _range(time_range, start, end)
        hits = self.index.search(query, k=int(k), tiers=tiers, levels=levels, videos=videos, time_range=span)
        time_range = None if span is None else [span[0], span[1] if math.isfinite(span[1]) else None]
        items = [Evidence.of(h) for h in hits]
        args = {"query": query, "tiers": tiers, "levels": levels, "videos": videos, "time_range": time_range, "k": k}
        return ToolResult("search", {a: v for a, v in args.items() if v is not None}, items)

    def transcript(self, video: str, start: float | None = None, end: float | None = None) -> ToolResult:
        vid = self.video_id(video)
        rows = self.index.transcript(vid, start, end)
        items = [
            Evidence(
                video_id=vid,
                uri=self.uri(vid),
                start=u["start"],
                end=u["end"],
                level="utterance",
                tier="speech",
                modality="speech",
                score=0.0,
                text=u["text"].strip(),
                source="transcript",
                signals={"speaker": u.get("speaker")},
            )
            for u in rows
        ]
        return ToolResult("transcript", {"video": video, "start": start, "end": end}, items, raw=rows)

    def screen_text(self, video: str, start: float | None = None, end: float | None = None) -> ToolResult:
        vid = self.video_id(video)
        rows = self.index.screen_text(vid, start, end)
        items = [
            Evidence(
                video_id=vid,
                uri=self.uri(vid),
                start=r["start"],
                end=r["end"],
                level="frame",
                tier="screen",
                modality="screen_text",
                score=0.0,
                text=r["text"],
                source="screen_text",
            )
            for r in rows
        ]
        return ToolResult("screen_text", {"video": video, "start": start, "end": end}, items, raw=rows)

    def frames(self, video: str, start: float | None = None, end: float | None = None, n: int | None = 4) -> ToolResult:
        vid = self.video_id(video)
        rows = self.index.frames(vid, start, end, n)
        items = [
            Evidence(
                video_id=vid,
                uri=self.uri(vid),
                start=f["t"],
                end=f["t"],
                level="frame",
                tier="visual",
                modality="visual",
                score=0.0,
                text="",
                keyframe={"frame_id": f["frame_id"], "t": round(f["t"], 3), "path": f["path"]},
                source="frames",
            )
            for f in rows
        ]
        return ToolResult("frames", {"video": video, "start": start, "end": end, "n": n}, items, raw=rows)

    def browse(
        self,
        video: str,
        level: str = "chapter",
        time_range: Any = None,
        start: float | None = None,
        end: float | None = None,
        depth: int | None = None,
        limit: int | None = None,
    ) -> ToolResult:
        vid = self.video_id(video)
        span = _range(time_range, start, end)
        tree = self.index.browse(vid, level=level, time_range=span)
        time_range = None if span is None else [span[0], span[1] if math.isfinite(span[1]) else None]
        tree = tree[: int(limit)] if limit else tree
        items = [
            Evidence(
                video_id=vid,
                uri=self.uri(vid),
                start=n["start"],
                end=n["end"],
                level=n["level"],
                tier="episodic",
                modality="text",
                score=0.0,
                text=segment_text(n),
                source="browse",
                signals={"segment_id": n["id"], "children": len(n["children"])},
            )
            for n in tree
        ]
        return ToolResult("browse", {"video": video, "level": level, "time_range": time_range}, items, raw=tree)

    def entity(self, name_or_id: str) -> ToolResult:
        lookup = getattr(self.index, "entity", None)
        if lookup is None:
            return ToolResult("entity", {"name_or_id": name_or_id}, [], note="no semantic memory in this store")
        try:
            found = lookup(name_or_id)
        except NotFoundError:
            return ToolResult("entity", {"name_or_id": name_or_id}, [], note=f"no entity named {name_or_id!r}")
        found = found.to_dict() if hasattr(found, "to_dict") else found
        mentions = _mention_list(found)
        items = [
            Evidence(
                video_id=m["video_id"],
                uri=self.uri(m["video_id"]),
                start=m["start"],
                end=m["end"],
                level=m.get("level", "segment"),
                tier="semantic",
                modality="semantic",
                score=float(m.get("score", 0.0)),
                text=m.get("text", ""),
                source="entity",
            )
            for m in mentions
            if {"video_id", "start", "end"} <= set(m)
        ]
        return ToolResult("entity", {"name_or_id": name_or_id}, items, raw=[found] if found else [])


def segment_text(node: dict) -> str:
    """A browsed segment in the episodic tier's own layout (summary, then labelled sections), so answers
    take its spoken and on-screen parts the same way (``memindex.query.hygiene.sections``)."""
    parts = [
        node.get("summary") or "",
        *(
            f"{label}{node[k]}"
            for k, label in (("caption", "Seen: "), ("transcript", "Said: "), ("ocr", "On screen: "))
            if node.get(k)
        ),
    ]
    return "\n".join(p for p in parts if p)


def _mention_list(found: object) -> list[dict]:
    """The entity's mentions (``mention_list`` in the catalog's entity view; ``mentions`` if it is a list)."""
    if not isinstance(found, dict):
        return []
    for key in ("mention_list", "mentions"):
        if isinstance(found.get(key), list):
            return found[key]
    return []
