"""Read-only views of the catalog that the API, the agent's tools and the servers share."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from memindex.catalog.models import LEVELS, READY, Frame, OcrLine, Segment, StageRun, Utterance, Video, Word
from memindex.errors import NotFoundError, QueryError
from memindex.store import Store

__all__ = ["Reader", "check_span"]

_HEX = re.compile(r"^[0-9a-f]{1,64}$")


def check_span(start: float | None, end: float | None) -> tuple[float | None, float | None]:
    """A validated time span in seconds: NaN, -inf, a start after the end and non-numbers are refused;
    ``end`` = +inf means open-ended (None)."""
    for name, value in (("start", start), ("end", end)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            raise QueryError(f"{name} must be a number of seconds, not {value!r}")
    if start is not None and math.isinf(start):
        raise QueryError(f"start must be finite, not {start!r}")
    if end is not None and math.isinf(end):
        if end < 0:
            raise QueryError(f"end must be finite or +inf, not {end!r}")
        end = None
    if start is not None and end is not None and start > end:
        raise QueryError(f"the time span starts after it ends ({start} > {end})")
    return start, end


def _span(q, model, start: float | None, end: float | None):  # type: ignore[no-untyped-def]
    start, end = check_span(start, end)
    if start is not None:
        q = q.where(model.end >= start)
    if end is not None:
        q = q.where(model.start <= end)
    return q


class Reader:
    def __init__(self, store: Store) -> None:
        self.store = store

    def video_dict(self, v: Video, languages: dict[str, float] | None = None) -> dict[str, Any]:
        return {
            "id": v.id,
            "uri": v.uri,
            "duration": round(v.duration, 3),
            "status": v.status,
            "fps": v.fps,
            "width": v.width,
            "height": v.height,
            "codec": v.codec,
            "has_audio": v.has_audio,
            "size_bytes": v.size_bytes,
            "sha256": v.sha256,
            "languages": languages or {},
            "error": v.error,
            "created_at": v.created_at.isoformat() if v.created_at else None,
        }

    def languages(self, s: Session, video_id: str | None = None) -> dict[str, dict[str, float]]:
        """Seconds of speech per detected language, per video (``{video_id: {lang: seconds}}``)."""
        q = (
            select(Utterance.video_id, Utterance.language, func.sum(Utterance.end - Utterance.start))
            .where(Utterance.language.is_not(None))
            .group_by(Utterance.video_id, Utterance.language)
        )
        if video_id is not None:
            q = q.where(Utterance.video_id == video_id)
        out: dict[str, dict[str, float]] = {}
        for vid, lang, seconds in s.execute(q).all():
            out.setdefault(vid, {})[cast(str, lang)] = round(float(seconds or 0.0), 1)
        return {vid: dict(sorted(langs.items(), key=lambda kv: -kv[1])) for vid, langs in out.items()}

    def videos(self, *, include_all: bool = True) -> list[dict[str, Any]]:
        with self.store.Session() as s:
            q = select(Video).order_by(Video.created_at)
            if not include_all:
                q = q.where(Video.status == READY)
            langs = self.languages(s)
            return [self.video_dict(v, langs.get(v.id)) for v in s.scalars(q).all()]

    def video(self, video_id: str) -> dict[str, Any]:
        with self.store.Session() as s:
            v = s.get(Video, video_id)
            if v is None:
                raise NotFoundError(f"no video {video_id!r}", video_id=video_id)
            out = self.video_dict(v, self.languages(s, video_id).get(video_id))
            out["stages"] = {
                r.stage: {"status": r.status, "model": r.model, "detail": r.detail}
                for r in s.scalars(select(StageRun).where(StageRun.video_id == video_id))
            }
            return out

    def resolve_video(self, ref: str) -> str:
        """A video id from an id, an id prefix, or the uri/file name it was ingested from, all matched
        literally (``%`` and ``_`` are plain characters); an ambiguous reference is refused."""
        if not isinstance(ref, str) or not ref.strip() or any(ord(c) < 32 for c in ref):
            raise QueryError(f"invalid video reference {ref!r}")
        with self.store.Session() as s:
            if s.get(Video, ref) is not None:
                return ref
            cond = (Video.uri == ref) | Video.uri.endswith("/" + ref, autoescape=True)
            if _HEX.match(ref):
                cond = cond | Video.id.startswith(ref, autoescape=True)
            rows = s.execute(select(Video.id, Video.uri).where(cond).order_by(Video.id)).all()
        if len(rows) == 1:
            return rows[0][0]
        if not rows:
            raise NotFoundError(f"no video matches {ref!r}")
        names = ", ".join(f"{vid} ({Path(uri).name})" for vid, uri in rows[:5])
        raise QueryError(f"{ref!r} matches {len(rows)} videos ({names}); give the id")

    def transcript(self, video_id: str, start: float | None = None, end: float | None = None) -> list[dict[str, Any]]:
        self.video(video_id)
        with self.store.Session() as s:
            utts = s.scalars(
                _span(select(Utterance).where(Utterance.video_id == video_id), Utterance, start, end).order_by(
                    Utterance.start
                )
            ).all()
            out = []
            for u in utts:
                words = s.scalars(select(Word).where(Word.utterance_id == u.id).order_by(Word.start)).all()
                out.append(
                    {
                        "video_id": video_id,
                        "start": u.start,
                        "end": u.end,
                        "text": u.text,
                        "speaker": u.speaker,
                        "words": [
                            {
                                "start": w.start,
                                "end": w.end,
                                "text": w.text,
                                "prob": round(w.prob, 3),
                                "speaker": w.speaker,
                            }
                            for w in words
                        ],
                    }
                )
            return out

    def screen_text(self, video_id: str, start: float | None = None, end: float | None = None) -> list[dict[str, Any]]:
        self.video(video_id)
        with self.store.Session() as s:
            rows = s.scalars(
                _span(select(OcrLine).where(OcrLine.video_id == video_id), OcrLine, start, end).order_by(OcrLine.start)
            ).all()
            return [
                {
                    "video_id": video_id,
                    "start": r.start,
                    "end": r.end,
                    "text": r.text,
                    "confidence": round(r.confidence, 3),
                    "box": json.loads(r.box) if r.box else None,
                    "frame_id": r.frame_id,
                }
                for r in rows
            ]

    def frames(
        self, video_id: str, start: float | None = None, end: float | None = None, n: int | None = None
    ) -> list[dict[str, Any]]:
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n <= 0):
            raise QueryError(f"n must be a positive number of frames, not {n!r}")
        start, end = check_span(start, end)
        self.video(video_id)
        with self.store.Session() as s:
            q = select(Frame).where(Frame.video_id == video_id)
            if start is not None:
                q = q.where(Frame.t >= start)
            if end is not None:
                q = q.where(Frame.t <= end)
            rows = s.scalars(q.order_by(Frame.t)).all()
        if n is not None and len(rows) > n:
            step = len(rows) / n
            rows = [rows[int(i * step + step / 2)] for i in range(n)]
        return [
            {
                "frame_id": f.id,
                "video_id": f.video_id,
                "t": f.t,
                "width": f.width,
                "height": f.height,
                "path": str(self.store.media.root / f.path),
            }
            for f in rows
        ]

    def frame_jpeg(self, frame_id: int) -> bytes:
        with self.store.Session() as s:
            f = s.get(Frame, frame_id)
            if f is None:
                raise NotFoundError(f"no frame {frame_id}")
            return self.store.media.read(f.path)

    def segment_dict(self, seg: Segment) -> dict[str, Any]:
        return {
            "id": seg.id,
            "video_id": seg.video_id,
            "level": seg.level,
            "index": seg.idx,
            "start": seg.start,
            "end": seg.end,
            "parent_id": seg.parent_id,
            "caption": seg.caption,
            "transcript": seg.transcript,
            "ocr": seg.ocr,
            "summary": seg.summary,
            "keyframe_id": seg.keyframe_id,
        }

    def segment(self, segment_id: int) -> dict[str, Any]:
        with self.store.Session() as s:
            seg = s.get(Segment, segment_id)
            if seg is None:
                raise NotFoundError(f"no segment {segment_id}")
            out = self.segment_dict(seg)
            v = s.get(Video, seg.video_id)
            out["uri"] = v.uri if v else None
            return out

    def browse(
        self, video_id: str, level: str = "chapter", start: float | None = None, end: float | None = None
    ) -> list[dict[str, Any]]:
        """Segments of ``level`` in the span, each with its children down to shots."""
        if level not in LEVELS:
            raise QueryError(f"unknown level {level!r}; valid: {list(LEVELS)}")
        self.video(video_id)
        with self.store.Session() as s:
            segs = s.scalars(
                _span(select(Segment).where(Segment.video_id == video_id), Segment, start, end).order_by(Segment.start)
            ).all()
        children: dict[int | None, list[Segment]] = {}
        for seg in segs:
            children.setdefault(seg.parent_id, []).append(seg)

        def tree(seg: Segment) -> dict[str, Any]:
            node = self.segment_dict(seg)
            node["children"] = [tree(c) for c in children.get(seg.id, [])]
            return node

        return [tree(seg) for seg in segs if seg.level == level]

    def stats(self) -> dict[str, Any]:
        with self.store.Session() as s:
            n_videos = s.scalar(select(func.count(Video.id))) or 0
            by_status = dict(s.execute(select(Video.status, func.count(Video.id)).group_by(Video.status)).all())
            duration = s.scalar(select(func.sum(Video.duration)).where(Video.status == READY)) or 0.0
            segs = dict(s.execute(select(Segment.level, func.count(Segment.id)).group_by(Segment.level)).all())
            pending = s.execute(
                select(StageRun.stage, func.count(StageRun.id))
                .where(StageRun.status.in_(("pending", "failed")))
                .group_by(StageRun.stage)
            ).all()
            languages: dict[str, float] = {}
            for per_video in self.languages(s).values():
                for lang, seconds in per_video.items():
                    languages[lang] = round(languages.get(lang, 0.0) + seconds, 1)
            counts = {
                "frames": s.scalar(select(func.count(Frame.id))) or 0,
                "utterances": s.scalar(select(func.count(Utterance.id))) or 0,
                "words": s.scalar(select(func.count(Word.id))) or 0,
                "ocr_lines": s.scalar(select(func.count(OcrLine.id))) or 0,
            }
        return {
            "collection": self.store.collection,
            "videos": n_videos,
            "videos_by_status": by_status,
            "duration_seconds": round(float(duration), 3),
            "segments": {lvl: int(segs.get(lvl, 0)) for lvl in LEVELS},
            "rows": counts,
            "tiers": self.store.tier_counts(),
            "pending_stages": {k: int(v) for k, v in pending},
            "languages": dict(sorted(languages.items(), key=lambda kv: -kv[1])),
        }
