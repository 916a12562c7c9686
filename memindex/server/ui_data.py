"""What the web UI shows, read from one collection's catalog in a few set-based queries (one per kind of row,
never one per video or per utterance), so the pages stay fast on a big archive. No HTML here (ui_pages.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import exists, func, select

from memindex.catalog.models import Frame, OcrLine, Segment, StageRun, Utterance, Video
from memindex.catalog.semantic import Entity, EntityMention, speaker_label
from memindex.errors import QueryError

__all__ = ["LibraryFilter", "library", "timeline", "original_file", "STATES"]

STATES = ("ready", "ingesting", "failed", "pending")  # pending: ready, with a stage still to run (visual tier)
PER_PAGE = 100


@dataclass(frozen=True)
class LibraryFilter:
    """The library's filters, as the query string gives them."""

    q: str = ""  # part of the file name or id
    state: str = ""  # one of STATES
    language: str = ""
    page: int = 1
    per_page: int = PER_PAGE

    def __post_init__(self) -> None:
        if self.state and self.state not in STATES:
            raise QueryError(f"unknown state {self.state!r}; valid: {list(STATES)}")
        if not 1 <= self.page <= 1_000_000 or not 1 <= self.per_page <= 1000:
            raise QueryError("page must be from 1 to 1000000 and per_page from 1 to 1000")


def _where(flt: LibraryFilter) -> list[Any]:
    conds: list[Any] = []
    if flt.q:
        conds.append(Video.uri.contains(flt.q, autoescape=True) | Video.id.startswith(flt.q, autoescape=True))
    pending = exists().where(StageRun.video_id == Video.id, StageRun.status == "pending")
    if flt.state == "pending":
        conds += [Video.status == "ready", pending]
    elif flt.state:
        conds.append(Video.status == flt.state)
    if flt.language:
        conds.append(exists().where(Utterance.video_id == Video.id, Utterance.language == flt.language))
    return conds


def library(index: Any, flt: LibraryFilter) -> dict:
    """One page of videos (newest last, as ``memindex videos``) with their languages, stages and a thumbnail
    frame, the totals over every video the filter matches, and the choices the filters offer."""
    conds = _where(flt)
    with index.store.Session() as s:
        n, seconds = s.execute(select(func.count(Video.id), func.sum(Video.duration)).where(*conds)).one()
        by_status = dict(
            s.execute(select(Video.status, func.count(Video.id)).where(*conds).group_by(Video.status)).all()
        )
        rows = s.scalars(
            select(Video)
            .where(*conds)
            .order_by(Video.created_at, Video.id)
            .limit(flt.per_page)
            .offset((flt.page - 1) * flt.per_page)
        ).all()
        videos = [_video_row(v) for v in rows]
        _attach(s, {v["id"]: v for v in videos})
        languages = sorted(x for x in s.scalars(select(Utterance.language).distinct()) if x)
    totals = {
        "videos": int(n or 0),
        "duration": round(float(seconds or 0.0), 3),
        "by_status": {k: int(v) for k, v in by_status.items()},
    }
    pages = max(1, math.ceil(totals["videos"] / flt.per_page))
    return {
        "videos": videos,
        "totals": totals,
        "languages": languages,
        "states": list(STATES),
        "page": flt.page,
        "pages": pages,
    }


def _video_row(v: Video) -> dict:
    return {
        "id": v.id,
        "uri": v.uri,
        "name": Path(v.uri).name,
        "duration": round(v.duration or 0.0, 3),
        "status": v.status,
        "error": v.error,
        "width": v.width,
        "height": v.height,
        "languages": [],
        "speech": False,
        "stages": {},
        "thumb": None,
    }


def _attach(s: Any, rows: dict[str, dict]) -> None:
    """Languages, stage runs and a thumbnail (the video segment's keyframe, else the middle one) per row."""
    if not rows:
        return
    ids = list(rows)
    for vid, lang in s.execute(
        select(Utterance.video_id, Utterance.language).where(Utterance.video_id.in_(ids)).distinct()
    ):
        rows[vid]["speech"] = True
        if lang:
            rows[vid]["languages"].append(lang)
    runs = select(StageRun.video_id, StageRun.stage, StageRun.status, StageRun.detail, StageRun.model)
    for vid, stage, status, detail, model in s.execute(runs.where(StageRun.video_id.in_(ids)).order_by(StageRun.stage)):
        rows[vid]["stages"][stage] = {"status": status, "detail": detail, "model": model}
    for vid, frame in s.execute(
        select(Segment.video_id, Segment.keyframe_id).where(
            Segment.video_id.in_(ids), Segment.level == "video", Segment.keyframe_id.is_not(None)
        )
    ):
        rows[vid]["thumb"] = frame
    missing = [v for v in ids if rows[v]["thumb"] is None]
    if missing:  # a keyframe a tenth of the way in: the first ones are often black
        later = (
            select(Frame.video_id, func.min(Frame.id))
            .join(Video, Video.id == Frame.video_id)
            .where(Frame.video_id.in_(missing), Frame.t >= Video.duration / 10)
            .group_by(Frame.video_id)
        )
        for vid, frame in s.execute(later):
            rows[vid]["thumb"] = frame


def _label(seg: Segment) -> str:
    text = seg.caption or seg.transcript or seg.ocr or seg.summary or ""  # the summary leads with key phrases
    return " ".join(text.split())[:240]


def timeline(index: Any, ref: str) -> dict:
    """Everything the video page draws: the video with its stages, segments by level, keyframes, speech
    (speaker labels resolved to entity names), screen text and entity mentions."""
    video = index.video(ref)
    vid = video["id"]
    with index.store.Session() as s:
        segs = s.scalars(select(Segment).where(Segment.video_id == vid).order_by(Segment.start)).all()
        levels: dict[str, list[dict]] = {"chapter": [], "event": [], "shot": []}
        for seg in segs:
            if seg.level in levels:
                levels[seg.level].append(
                    {
                        "id": seg.id,
                        "index": seg.idx,
                        "start": seg.start,
                        "end": seg.end,
                        "text": _label(seg),
                        "keyframe": seg.keyframe_id,
                    }
                )
        frames = [
            {"id": f, "t": round(t, 3)}
            for f, t in s.execute(select(Frame.id, Frame.t).where(Frame.video_id == vid).order_by(Frame.t))
        ]
        speech = _speech(s, vid)
        ocr = [
            {"start": r.start, "end": r.end, "text": r.text, "confidence": round(r.confidence, 3)}
            for r in s.scalars(select(OcrLine).where(OcrLine.video_id == vid).order_by(OcrLine.start))
        ]
        mentions = _mentions(s, vid)
    return {
        "video": video,
        "name": Path(video["uri"]).name,
        "duration": max(video["duration"], 0.001),
        "chapters": levels["chapter"],
        "events": levels["event"],
        "shots": levels["shot"],
        "frames": frames,
        "speech": speech,
        "screen": ocr,
        "entities": mentions,
    }


def _speech(s: Any, video_id: str) -> list[dict]:
    utts = s.scalars(select(Utterance).where(Utterance.video_id == video_id).order_by(Utterance.start)).all()
    names = {speaker_label(e.id): e.name for e in s.scalars(select(Entity).where(Entity.kind == "speaker"))}
    return [
        {
            "id": u.id,
            "start": u.start,
            "end": u.end,
            "text": u.text,
            "speaker": u.speaker,
            "speaker_name": names.get(u.speaker or "", u.speaker),
            "language": u.language,
        }
        for u in utts
    ]


def _mentions(s: Any, video_id: str) -> list[dict]:
    rows = s.execute(
        select(EntityMention, Entity.name, Entity.kind)
        .join(Entity, Entity.id == EntityMention.entity_id)
        .where(EntityMention.video_id == video_id, Entity.kind != "speaker")
        .order_by(EntityMention.start)
    ).all()
    return [
        {"entity_id": m.entity_id, "name": name, "kind": kind, "start": m.start, "end": m.end, "text": m.text}
        for m, name, kind in rows
    ]


def original_file(video: dict) -> Path | None:
    """The file a video was ingested from, while it is still there with the same size (else None: the page
    shows keyframes instead of playing it)."""
    uri = video.get("uri") or ""
    if "://" in uri:
        return None
    path = Path(uri)
    try:
        ok = path.is_file() and path.stat().st_size == video.get("size_bytes")
    except OSError:
        return None
    return path if ok else None
