"""The one table of memindex's operations: names, typed parameters with bounds and enums, descriptions,
behaviour hints and result types.

The servers are generated from it (MCP tools, HTTP routes and their OpenAPI), ``RemoteIndex`` has one method
per operation, and ``tests/server/test_contract.py`` runs the same calls against a local ``MemoryIndex`` and a
``RemoteIndex``. Times are seconds from the start of a video; an open end is ``None`` (JSON ``null`` or
absent) everywhere, never infinity or a large number. The core stays free of pydantic: the server turns these
rows into models (``memindex.server.models``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from memindex.errors import ConfigError

__all__ = [
    "Param",
    "Operation",
    "OPERATIONS",
    "operation",
    "REQUIRED",
    "TIERS",
    "LEVELS",
    "ENTITY_KINDS",
    "REBUILD_STAGES",
    "COLLECTION_PATTERN",
    "DEFAULT_LIMITS",
    "checked_options",
]

TIERS = ("speech", "screen", "visual", "episodic", "semantic")
LEVELS = ("shot", "event", "chapter", "video")
ENTITY_KINDS = ("speaker", "face", "name", "term", "topic")
REBUILD_STAGES = ("events", "captions", "semantic")
COLLECTION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
DEFAULT_LIMITS = {
    "max_k": 100,
    "max_query_chars": 2000,
    "max_frames": 32,
    "max_ask_steps": 8,
    "max_browse": 1000,
    "max_body_bytes": 1 << 20,
}
_L = DEFAULT_LIMITS
_F = TypeVar("_F", bound=Callable[..., Any])
REQUIRED: Any = type("Required", (), {"__repr__": lambda self: "REQUIRED"})()


@dataclass(frozen=True)
class Param:
    """One parameter. ``type`` is a JSON Schema type (``array`` with ``items``); ``limit`` names the server
    limit (``memindex.server.service.Limits``) that sets ``maximum`` (numbers) or ``max_length`` (strings);
    ``wire`` marks a parameter that only shapes what a server sends (the in-process ``MemoryIndex`` returns
    the whole result: the answer with its trace, the whole segment tree)."""

    name: str
    type: str
    description: str
    default: Any = REQUIRED
    items: str | None = None
    enum: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    limit: str | None = None
    wire: bool = False

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def bounded(self, limits: dict[str, int]) -> Param:
        """This parameter with its ``limit`` taken from ``limits`` (a server's configured bounds)."""
        if self.limit is None or self.limit not in limits:
            return self
        if self.type in ("integer", "number"):
            bound = limits[self.limit]
            default = min(self.default, bound) if isinstance(self.default, (int, float)) else self.default
            return replace(self, maximum=bound, default=default)
        return replace(self, max_length=limits[self.limit])

    def schema(self) -> dict[str, Any]:
        """The JSON Schema of the parameter (what MCP publishes as the tool's input schema)."""
        kind: Any = [self.type, "null"] if self.default is None else self.type
        out: dict[str, Any] = {"type": kind, "description": self.description}
        inner = out
        if self.type == "array":
            inner = out["items"] = {"type": self.items}
        for key, value in (
            ("enum", list(self.enum) if self.enum else None),
            ("minimum", self.minimum),
            ("maximum", self.maximum),
            ("pattern", self.pattern),
        ):
            if value is not None:
                inner[key] = value
        if self.type == "array":
            _put(out, "maxItems", self.max_length)
            _put(out, "minItems", self.min_length)
        else:
            _put(out, "maxLength", self.max_length)
            _put(out, "minLength", self.min_length)
        if not self.required:
            out["default"] = self.default
        return out


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        out[key] = value


@dataclass(frozen=True)
class Operation:
    """One operation: ``method path`` over HTTP, a tool over MCP (when ``mcp``), a method of ``RemoteIndex``.

    ``job``: the server queues it on its single writer and answers ``202`` with the job (``ingest_status``
    follows it). ``collection``: it takes the ``collection`` parameter (all but the store-wide ones)."""

    name: str
    title: str
    description: str
    method: str
    path: str
    result: str
    params: tuple[Param, ...] = ()
    read_only: bool = True
    destructive: bool = False
    idempotent: bool = True
    job: bool = False
    mcp: bool = True
    auth: bool = True
    collection: bool = True

    @property
    def parameters(self) -> tuple[Param, ...]:
        return (*self.params, COLLECTION) if self.collection else self.params

    @property
    def path_params(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params if "{" + p.name + "}" in self.path)

    def param(self, name: str) -> Param:
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(f"{self.name} has no parameter {name!r}")

    def input_schema(self, limits: dict[str, int] | None = None) -> dict[str, Any]:
        """JSON Schema of the arguments (an object; unknown keys are refused)."""
        params = [p.bounded(limits or DEFAULT_LIMITS) for p in self.parameters]
        return {
            "type": "object",
            "properties": {p.name: p.schema() for p in params},
            "required": [p.name for p in params if p.required],
            "additionalProperties": False,
        }

    def function_schema(self, limits: dict[str, int] | None = None) -> dict[str, Any]:
        """The operation as an OpenAI-style function tool (for an in-process agent: no ``collection``)."""
        schema = self.input_schema(limits)
        schema["properties"].pop("collection", None)
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": schema},
        }


# The table. Hand-aligned, one operation per block: ``ruff format`` would spread it over three times the lines.
# fmt: off
COLLECTION = Param("collection", "string", "Collection (namespace) of the store to use.", default="default",
                   pattern=COLLECTION_PATTERN)
_VIDEO = Param("video", "string", "Video id, id prefix or the file name it was ingested from (see `videos`).",
               min_length=1, max_length=4096)
_START = Param("start", "number", "Start of the time span, seconds from the start of the video; null: from "
               "the beginning.", default=None, minimum=0)
_END = Param("end", "number", "End of the time span in seconds; null: to the end (open-ended).", default=None,
             minimum=0)
_ENTITY = Param("name_or_id", "string", "Entity id, speaker label (`spk12`), name or alias (see `entities`).",
                min_length=1, max_length=500)
_VIDEOS = Param("videos", "array", "Only these videos (ids, id prefixes or file names); null: all.",
                default=None, items="string", max_length=256)
_MAX_ROW_ID = (1 << 63) - 1  # SQLite's INTEGER
_SEARCH = (
    Param("query", "string", "What to look for: words said or shown, or a description of the moment.",
          min_length=1, max_length=_L["max_query_chars"], limit="max_query_chars"),
    Param("k", "integer", "How many hits to return, best first.", default=10, minimum=1, maximum=_L["max_k"],
          limit="max_k"),
    Param("tiers", "array", "Memory tiers to search: speech (transcripts), screen (on-screen text), visual "
          "(keyframes), episodic (segment summaries), semantic (entities and facts); null: speech, screen and "
          "visual.", default=None, items="string", enum=TIERS, max_length=len(TIERS)),
    Param("levels", "array", "Episodic levels to search (with tier episodic): shot, event, chapter, video; "
          "null: all.", default=None, items="string", enum=LEVELS, max_length=len(LEVELS)),
    _VIDEOS, _START, _END,
)
_ASK = (
    Param("question", "string", "A question about the videos, in plain words.", min_length=1,
          max_length=_L["max_query_chars"], limit="max_query_chars"),
    Param("max_steps", "integer", "Most tool calls the agent may make.", default=None, minimum=1,
          maximum=_L["max_ask_steps"], limit="max_ask_steps"),
    Param("max_seconds", "number", "Wall-clock budget in seconds; null: no limit.", default=None, minimum=0.1,
          maximum=600),
    Param("max_tokens", "integer", "LLM token budget (when the server's agent uses an LLM); null: no limit.",
          default=None, minimum=1, maximum=1_000_000),
    Param("min_confidence", "number", "Abstain (answer 'not found') below this confidence; null: the "
          "calibrated default.", default=None, minimum=0, maximum=1),
    _VIDEOS,
    Param("include_trace", "boolean", "Include the agent's step-by-step trace (tool calls, counts, timings); "
          "false: the trace is an empty list.", default=False, wire=True),
)
_BROWSE = (
    _VIDEO,
    Param("level", "string", "Level of the segments to list.", default="chapter", enum=LEVELS),
    _START, _END,
    Param("depth", "integer", "Levels of children to include under each segment (0: none; 3: down to shots). "
          "Each segment has `n_children` either way.", default=1, minimum=0, maximum=3, wire=True),
    Param("limit", "integer", "Most segments to return (the first ones in time); `total` says how many "
          "there are.", default=50, minimum=1, maximum=_L["max_browse"], limit="max_browse", wire=True),
)


def _op(name: str, title: str, description: str, method: str, path: str, result: str,
        *params: Param, **flags: Any) -> Operation:
    return Operation(name, title, description, method, path, result, tuple(params), **flags)


_WRITE = {"read_only": False}
_JOB = {"read_only": False, "idempotent": False, "job": True}
OPERATIONS: tuple[Operation, ...] = (
    _op("search", "Search the videos", "Ranked, timestamped moments for a text query across the memory tiers "
        "(hybrid vectors + keywords). Each hit has video_id, uri, start, end, tier, level, text, score and a "
        "keyframe URL. Start here.", "POST", "/v1/search", "Hits", *_SEARCH),
    _op("ask", "Ask a question", "An answer to a question with the exact moments it cites (video, start, end), "
        "its confidence and the evidence found; it says 'not found in this store' when nothing supports it.",
        "POST", "/v1/ask", "Answer", *_ASK),
    _op("ask_stream", "Ask, streamed", "The same agent as `ask`, as server-sent events: one `step` event per "
        "tool call, the `answer` last (`error` on failure).", "POST", "/v1/ask/stream", "AnswerStream", *_ASK,
        mcp=False),
    _op("browse", "Browse a video's segments", "A video's segment tree at a level (video > chapter > event > "
        "shot) with summaries, transcripts and on-screen text, optionally within [start, end].", "GET",
        "/v1/videos/{video}/browse", "Browse", *_BROWSE),
    _op("get_segment", "Get one segment", "One segment by id: level, span, parent, caption, transcript, "
        "on-screen text, summary and keyframe.", "GET", "/v1/segments/{segment_id}", "SegmentDetail",
        Param("segment_id", "integer", "Segment id (from `browse` or a hit).", minimum=0, maximum=_MAX_ROW_ID)),
    _op("transcript", "Read a transcript", "What was said in a video (utterances with speakers and word "
        "times), optionally within [start, end].", "GET", "/v1/videos/{video}/transcript", "Transcript",
        _VIDEO, _START, _END),
    _op("screen_text", "Read on-screen text", "Text shown on screen (OCR lines with boxes and confidence), "
        "optionally within [start, end].", "GET", "/v1/videos/{video}/screen_text", "ScreenText",
        _VIDEO, _START, _END),
    _op("frames", "Look at keyframes", "Up to `n` keyframes of a video in [start, end], evenly spread, each "
        "with its time and a JPEG URL (over MCP also as images).", "GET", "/v1/videos/{video}/frames", "Frames",
        _VIDEO, _START, _END, Param("n", "integer", "Most keyframes to return.", default=4, minimum=1,
                                    maximum=_L["max_frames"], limit="max_frames")),
    _op("frame_jpeg", "Get a keyframe image", "One keyframe as a JPEG (the `url` of a frame or hit keyframe).",
        "GET", "/v1/frames/{frame_id}.jpg", "JPEG",
        Param("frame_id", "integer", "Frame id.", minimum=0, maximum=_MAX_ROW_ID), mcp=False),
    _op("videos", "List videos", "The videos of the collection: id, uri, duration, status, languages.", "GET",
        "/v1/videos", "Videos"),
    _op("video", "Show one video", "One video with its processing stages (status, model, detail).", "GET",
        "/v1/videos/{video}", "VideoDetail", _VIDEO),
    _op("stats", "Collection statistics", "Counts of videos, segments per level, rows, tier vectors, pending "
        "stages and seconds of speech per language.", "GET", "/v1/stats", "Stats"),
    _op("entities", "List entities", "People, voices, faces, names, terms and topics of the semantic memory, "
        "most mentioned first.", "GET", "/v1/entities", "Entities",
        Param("kind", "string", "Only this kind of entity; null: all.", default=None, enum=ENTITY_KINDS),
        Param("query", "string", "Only entities whose name or an alias contains this; null: all.",
              default=None, max_length=500)),
    _op("entity", "Show one entity", "An entity with its aliases, every mention (video, start, end, text) and "
        "the facts about it.", "GET", "/v1/entities/{name_or_id}", "EntityDetail", _ENTITY),
    _op("rename_entity", "Rename an entity", "Give an entity a name that sticks across re-ingest; the old "
        "name stays an alias.", "POST", "/v1/entities/{name_or_id}/rename", "EntityDetail", _ENTITY,
        Param("name", "string", "The new name.", min_length=1, max_length=500), **_WRITE),
    _op("merge_entities", "Merge entities", "Fold the `sources` entities into `target`: mentions, facts, "
        "aliases and speaker labels move; later evidence for a source lands on the target.", "POST",
        "/v1/entities/{target}/merge", "EntityDetail",
        replace(_ENTITY, name="target", description="The entity that stays (id, label, name or alias)."),
        Param("sources", "array", "The entities to fold in (ids, labels or names).", items="string",
              min_length=1, max_length=100), **_WRITE),
    _op("split_entity", "Split an entity", "Move the chosen mentions (by id, or by video and time span) of an "
        "entity to a new one.", "POST", "/v1/entities/{name_or_id}/split", "Split", _ENTITY,
        Param("mention_ids", "array", "Mention ids to move (from `entity`); null: choose by video and span.",
              default=None, items="integer", max_length=10_000),
        Param("video", "string", "Move the mentions in this video; null: any video.", default=None,
              max_length=4096),
        _START, _END, Param("name", "string", "Name of the new entity; null: a generated one.", default=None,
                            max_length=500), **_WRITE, idempotent=False),
    _op("add_video", "Add a video", "Queue a video file (or a folder of them) on the server's allowed roots "
        "for ingest; returns the job (follow it with `ingest_status`). A file already in the store is skipped.",
        "POST", "/v1/videos", "Job", Param("path", "string", "Path on the server, under an allowed root.",
                                           max_length=4096), **_JOB),
    _op("ingest_status", "Follow a job", "A job's status: queued, running, done (with its report) or failed "
        "(with the error {code, message}).", "GET", "/v1/jobs/{job_id}", "Job",
        Param("job_id", "string", "Job id returned by `add_video` (or another queued operation).",
              min_length=1, max_length=100)),
    _op("jobs", "List jobs", "The collection's recent jobs, oldest first.", "GET", "/v1/jobs", "Jobs", mcp=False),
    _op("delete_video", "Delete a video", "Delete a video and everything derived from it (segments, words, "
        "on-screen text, frames, vectors, entity mentions). Cannot be undone.", "DELETE", "/v1/videos/{video}",
        "Deleted", _VIDEO, read_only=False, destructive=True),
    _op("rebuild", "Rebuild a stage", "Re-derive a stage (events, captions, semantic) from stored data "
        "without decoding the videos again; queued as a job.", "POST", "/v1/rebuild", "Job",
        Param("stage", "string", "The stage to rebuild.", enum=REBUILD_STAGES), _VIDEOS, **_JOB, mcp=False),
    _op("backfill", "Backfill a stage", "Fill a stage that was left pending (keyframe vectors once the frame "
        "encoder is available); queued as a job.", "POST", "/v1/backfill", "Job",
        Param("stage", "string", "The stage to fill.", default="visual", enum=("visual",)), **_JOB, mcp=False),
    _op("check", "Check the store", "Verify the catalog, the vector tiers and the media; `repair` rebuilds what "
        "the catalog can rebuild. Queued as a job.", "POST", "/v1/check", "Job",
        Param("repair", "boolean", "Repair what can be repaired.", default=False), **_JOB, mcp=False),
    _op("collections", "List collections", "The collections of the store.", "GET", "/v1/collections",
        "Collections", mcp=False, collection=False),
    _op("health", "Liveness", "The server is up; its version. Needs no token.", "GET", "/v1/health", "Health",
        mcp=False, auth=False, collection=False),
)
# fmt: on
_BY_NAME = {op.name: op for op in OPERATIONS}


def operation(name: str) -> Operation:
    """The operation called ``name`` (a ``KeyError`` lists the valid ones)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no operation {name!r}; valid: {sorted(_BY_NAME)}") from None


def checked_options(what: str, note: str = "") -> Callable[[_F], _F]:
    """A method whose options are its typed keywords: an unknown keyword raises ``ConfigError`` naming it and
    the valid ones (``note`` says why some are missing), not a bare ``TypeError``. The signature shown by
    ``inspect.signature`` and ``help()`` stays the method's own."""

    def wrap(method: _F) -> _F:
        params = inspect.signature(method).parameters
        named = {n for n, p in params.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)} - {"self"}
        valid = sorted(n for n in named if params[n].default is not params[n].empty)

        @functools.wraps(method)
        def checked(*args: Any, **kwargs: Any) -> Any:
            unknown = sorted(set(kwargs) - named)
            if unknown:
                raise ConfigError(f"unknown {what} option(s) {unknown}; valid: {valid}{note}")
            return method(*args, **kwargs)

        return checked  # type: ignore[return-value]

    return wrap
