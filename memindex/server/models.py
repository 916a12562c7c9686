"""Pydantic models at the server boundary: request models generated from ``memindex.operations`` and typed
result models (OpenAPI response schemas, MCP output schemas). Results allow extra fields, so a field added
later never breaks a client; the ones named here are the documented contract."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model

from memindex.errors import ConfigError, MemIndexError, NotFoundError, QueryError
from memindex.operations import Operation, Param

__all__ = ["request_model", "validate", "refusal", "describe", "RESULTS", "Error"]


def _no_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    return value


_SCALARS: dict[str, Any] = {
    "string": str,
    "boolean": bool,
    "integer": Annotated[int, BeforeValidator(_no_bool)],
    "number": Annotated[float, BeforeValidator(_no_bool), Field(allow_inf_nan=False)],
}


def _annotation(p: Param) -> Any:
    if p.type == "array":
        item = Literal[p.enum] if p.enum else _SCALARS[p.items or "string"]  # type: ignore[valid-type]
        kind: Any = list[item]  # type: ignore[valid-type]
    else:
        kind = Literal[p.enum] if p.enum else _SCALARS[p.type]  # type: ignore[valid-type]
    return kind | None if p.default is None else kind


def _field(p: Param) -> Any:
    numeric = p.type in ("integer", "number")
    return Field(
        ... if p.required else p.default,
        description=p.description,
        pattern=p.pattern,
        ge=p.minimum if numeric else None,
        le=p.maximum if numeric else None,
        min_length=p.min_length,
        max_length=p.max_length,
    )


def request_model(
    op: Operation, limits: dict[str, int], *, exclude: tuple[str, ...] = (), suffix: str = "Request"
) -> type[BaseModel]:
    """The arguments of ``op`` (bounded by the server's ``limits``) as a model refusing unknown keys."""
    fields = {
        p.name: (_annotation(p), _field(p)) for p in (q.bounded(limits) for q in op.parameters) if p.name not in exclude
    }
    name = "".join(part.title() for part in op.name.split("_")) + suffix
    return create_model(name, __config__=ConfigDict(extra="forbid"), **fields)  # type: ignore[call-overload]


# parameters whose bad values have their own error: a bad collection name is a config error (as the store
# says), an id no row can have names nothing
_REFUSALS: dict[str, type[MemIndexError]] = {
    "collection": ConfigError,
    "segment_id": NotFoundError,
    "frame_id": NotFoundError,
}


def refusal(errors: Any) -> MemIndexError:
    """The error for pydantic's ``errors``: ``QueryError`` (bad_query) unless every one is on a parameter
    with its own error class."""
    errors = list(errors)
    fields = {next((p for p in e.get("loc", ()) if p not in ("body", "query", "path")), None) for e in errors}
    classes = {_REFUSALS.get(str(f), QueryError) for f in fields}
    cls = classes.pop() if len(classes) == 1 else QueryError
    return cls(describe(errors))


def validate(model: type[BaseModel], arguments: Any) -> dict[str, Any]:
    """Checked arguments as a dict; a violation is a ``QueryError`` naming each bad field (see ``refusal``)."""
    try:
        return model.model_validate(arguments).model_dump()
    except ValidationError as exc:
        raise refusal(exc.errors()) from exc


def describe(errors: Any) -> str:
    """A one-line account of pydantic's errors: ``k: Input should be less than or equal to 100``."""
    parts = []
    for e in list(errors)[:5]:
        where = ".".join(str(p) for p in e.get("loc", ()) if p not in ("body", "query"))
        parts.append(f"{where or 'request'}: {e.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Error(BaseModel):
    """Every error: a stable ``code`` and a message naming what failed (file, video, time when known)."""

    code: str = Field(description="Stable error code: bad_query, not_found, forbidden_path, media, ...")
    message: str
    path: str | None = None
    video_id: str | None = None
    t: float | None = None


class Keyframe(_Open):
    frame_id: int
    t: float
    url: str = Field(description="The JPEG, relative to the server: /v1/frames/{id}.jpg?collection=...")


class Evidence(_Open):
    """One timestamped moment; cite it by video_id (or uri), start and end."""

    video_id: str
    uri: str
    start: float
    end: float
    level: str
    tier: str
    modality: str
    score: float
    text: str
    keyframe: Keyframe | None = None


class Hit(Evidence):
    confidence: float = Field(description="Calibrated probability that this is the moment asked for")


class Hits(_Open):
    hits: list[Hit]


class Step(_Open):
    type: str
    tool: str | None = None
    arguments: dict[str, Any] | None = None
    count: int | None = None
    seconds: float | None = None


class Answer(_Open):
    """``citations`` are the moments the answer uses (empty when it abstains); ``evidence`` what was found."""

    answer: str
    confidence: float
    abstained: bool = False
    citations: list[Evidence] = []
    evidence: list[Evidence]
    trace: list[Step] = Field([], description="The agent's steps, only with include_trace")
    cost: dict[str, Any]


class Segment(_Open):
    id: int
    video_id: str
    level: str
    index: int
    start: float
    end: float
    parent_id: int | None
    caption: str | None = None
    transcript: str | None = None
    ocr: str | None = None
    summary: str | None = None
    keyframe_id: int | None = None
    keyframe_url: str | None = None
    n_children: int | None = None
    children: list[Segment] = []


class SegmentDetail(Segment):
    uri: str | None


class Browse(_Open):
    video_id: str
    uri: str
    segments: list[Segment]
    total: int = Field(description="Segments at this level in the span (more than returned when cut by limit)")


class Word(_Open):
    start: float
    end: float
    text: str


class Utterance(_Open):
    video_id: str
    start: float
    end: float
    text: str
    speaker: str | None = None
    words: list[Word] = []


class Transcript(_Open):
    video_id: str
    uri: str
    utterances: list[Utterance]


class Line(_Open):
    video_id: str
    start: float
    end: float
    text: str
    confidence: float
    frame_id: int | None = None


class ScreenText(_Open):
    video_id: str
    uri: str
    lines: list[Line]


class Frame(_Open):
    frame_id: int
    video_id: str
    t: float
    width: int
    height: int
    url: str


class Frames(_Open):
    video_id: str
    uri: str
    frames: list[Frame]


class Video(_Open):
    id: str
    uri: str
    duration: float
    status: str
    languages: dict[str, float] = {}


class VideoDetail(Video):
    stages: dict[str, dict[str, Any]]


class Videos(_Open):
    videos: list[Video]


class Stats(_Open):
    collection: str
    videos: int
    duration_seconds: float
    segments: dict[str, int]
    rows: dict[str, int]
    tiers: dict[str, Any]


class Entity(_Open):
    id: int
    kind: str
    name: str
    mentions: int
    videos: int


class Entities(_Open):
    entities: list[Entity]


class Mention(_Open):
    id: int
    video_id: str
    uri: str
    start: float
    end: float
    text: str | None = None


class EntityDetail(Entity):
    aliases: list[str]
    mention_list: list[Mention]
    facts: list[dict[str, Any]]


class Split(_Open):
    from_: EntityDetail = Field(alias="from")
    new: EntityDetail


class Job(_Open):
    """A queued write: follow it with ingest_status until done (result) or failed (error)."""

    id: str
    kind: str
    collection: str
    target: str
    status: Literal["queued", "running", "done", "failed"]
    result: dict[str, Any] | None = None
    error: Error | None = None
    created: float
    finished: float | None = None


class Jobs(_Open):
    jobs: list[Job]


class Deleted(_Open):
    id: str
    uri: str
    name: str


class Collections(_Open):
    collections: list[str]


class Health(_Open):
    status: str
    version: str


RESULTS: dict[str, type[BaseModel]] = {
    m.__name__: m
    for m in (
        Hits,
        Answer,
        Browse,
        SegmentDetail,
        Transcript,
        ScreenText,
        Frames,
        Videos,
        VideoDetail,
        Stats,
        Entities,
        EntityDetail,
        Split,
        Job,
        Jobs,
        Deleted,
        Collections,
        Health,
    )
}
