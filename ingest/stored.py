"""One video's stored rows, read once by a store stage's loader (nothing is decoded again), and the
grouping's input built from them without the store.

``load_rows`` is the only function here that reads the store: it copies the rows into plain records
(``ingest/store_records.py``) and reads the keyframe JPEGs the stage asks for from the media cache, so the
producers that use them need no store at all."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from memindex.catalog.models import Doc, Frame, FrameCaption, OcrLine, Segment, Utterance, Video, Word
from memindex.errors import MemIndexError, NotFoundError
from memindex.ingest.hierarchy import Span, Timeline
from memindex.ingest.store_records import (
    FrameRow,
    Images,
    OcrRow,
    ShotRow,
    UtteranceRow,
    VideoRows,
    WordRow,
)
from memindex.store import Store

__all__ = ["VideoRows", "load_rows", "read_images", "ingest_key", "needs_histograms", "timeline"]

log = logging.getLogger(__name__)


def load_rows(store: Store, video_id: str, caption_model: str | None, *, images: str = "none") -> VideoRows:
    """The video's rows (``caption_model``: whose cached captions to include) and the keyframe images the
    stage needs: ``"none"``, ``"all"`` (faces) or ``"histograms"`` (all, when the grouping falls back to
    colour histograms because keyframes lack vectors)."""
    with store.Session() as s:
        out = _rows(s, video_id, caption_model)
    if images == "all" or (images == "histograms" and needs_histograms(out)):
        paths = [f.path for f in out.frames if images == "all" or f.shot_id is not None]
        out = replace(out, images=read_images(store, paths))
    return out


def _rows(s: Session, video_id: str, caption_model: str | None) -> VideoRows:
    video = s.get(Video, video_id)
    if video is None:
        raise NotFoundError(f"no video {video_id!r}", video_id=video_id)

    def rows(model, order):  # type: ignore[no-untyped-def]
        return s.scalars(select(model).where(model.video_id == video_id).order_by(order)).all()

    shot_q = select(Segment).where(Segment.video_id == video_id, Segment.level == "shot").order_by(Segment.start)
    shots = tuple(ShotRow(g.id, g.start, g.end, g.keyframe_id) for g in s.scalars(shot_q).all())
    captions: dict[int, str] = {}
    if caption_model:
        q = select(FrameCaption.frame_id, FrameCaption.text).where(
            FrameCaption.video_id == video_id, FrameCaption.model == caption_model
        )
        captions = {fid: text for fid, text in s.execute(q).all()}
    vectors: dict[str, dict[int, np.ndarray]] = {"visual": {}, "speech": {}}
    for tier, target in vectors.items():
        q2 = select(Doc.ref_id, Doc.vector).where(Doc.video_id == video_id, Doc.tier == tier, Doc.vector.is_not(None))
        for ref, blob in s.execute(q2).all():
            target[ref] = np.frombuffer(blob, np.float32)
    return VideoRows(
        video_id,
        video.uri,
        video.duration,
        shots,
        tuple(FrameRow(f.id, f.shot_id, f.t, f.path) for f in rows(Frame, Frame.t)),
        tuple(UtteranceRow(u.id, u.start, u.end, u.text, u.speaker) for u in rows(Utterance, Utterance.start)),
        tuple(WordRow(w.utterance_id, w.start, w.end, w.text) for w in rows(Word, Word.start)),
        tuple(OcrRow(ln.start, ln.end, ln.text) for ln in rows(OcrLine, OcrLine.start)),
        captions,
        vectors["visual"],
        vectors["speech"],
        key=_key(video, ((g.id, g.start, g.end) for g in shots)),
    )


def read_images(store: Store, paths: Iterable[str]) -> Images:
    """The files from the media cache; one that cannot be read keeps its error for the producer."""
    data: dict[str, bytes] = {}
    errors: dict[str, Exception] = {}
    for path in dict.fromkeys(paths):
        try:
            data[path] = store.media.read(path)
        except (OSError, MemIndexError) as exc:
            errors[path] = exc
    return Images(data, errors)


def ingest_key(session: Session, video_id: str) -> tuple[Any, ...] | None:
    """What tells one ingest of the video from another: when its row was created and its shots (id and
    span); None when the video is gone. A commit compares it with the loaded one: a different key means the
    video was deleted (and maybe ingested again) meanwhile, so the records no longer fit its rows."""
    video = session.get(Video, video_id)
    if video is None:
        return None
    q = select(Segment.id, Segment.start, Segment.end).where(Segment.video_id == video_id, Segment.level == "shot")
    return _key(video, session.execute(q.order_by(Segment.start)).all())


def _key(video: Video, shots: Iterable[Any]) -> tuple[Any, ...]:
    return (str(video.created_at), tuple((int(i), float(a), float(b)) for i, a, b in shots))


def _frames_by_shot(rows: VideoRows) -> dict[int, list[FrameRow]] | None:
    """Each shot's keyframes; None when a shot has none (then there is no visual cue)."""
    by_shot: dict[int, list[FrameRow]] = {}
    for f in rows.frames:
        if f.shot_id is not None:
            by_shot.setdefault(f.shot_id, []).append(f)
    if not rows.shots or any(s.id not in by_shot for s in rows.shots):
        return None
    return by_shot


def needs_histograms(rows: VideoRows) -> bool:
    """Whether the grouping's visual cue comes from keyframe colour histograms (keyframes lack vectors)."""
    return _frames_by_shot(rows) is not None and not all(f.id in rows.frame_vectors for f in rows.frames)


def timeline(rows: VideoRows) -> Timeline:
    """The grouping's input: CLIP means per shot when every shot has them, else colour histograms of the
    keyframes (loaded with ``images="histograms"``); speech vectors from the speech tier's stored rows."""
    utts = [Span(u.start, u.end) for u in rows.utterances]
    uvecs = None
    if utts and all(u.id in rows.speech_vectors for u in rows.utterances):
        uvecs = np.stack([rows.speech_vectors[u.id] for u in rows.utterances])
    return Timeline(
        duration=rows.duration,
        shots=[Span(s.start, s.end) for s in rows.shots],
        shot_vectors=_shot_vectors(rows),
        utterances=utts,
        utterance_vectors=uvecs,
        ocr=[(ln.start, ln.end, ln.text) for ln in rows.ocr],
    )


def _shot_vectors(rows: VideoRows) -> np.ndarray | None:
    by_shot = _frames_by_shot(rows)
    if by_shot is None:
        return None
    if all(f.id in rows.frame_vectors for f in rows.frames):
        return np.stack([np.mean([rows.frame_vectors[f.id] for f in by_shot[s.id]], axis=0) for s in rows.shots])
    try:
        return np.stack(
            [np.mean([_histogram(rows.images.read(f.path)) for f in by_shot[s.id]], axis=0) for s in rows.shots]
        )
    except (OSError, ValueError) as exc:  # a cache file gone missing: group without the visual cue
        log.warning("keyframes of video %s unreadable (%s); grouping without visual change", rows.video_id, exc)
        return None


def _histogram(jpeg: bytes) -> np.ndarray:
    """A 16x4x4 HSV colour histogram, L2-normalised: a model-free stand-in for a keyframe embedding."""
    from PIL import Image

    img = Image.open(io.BytesIO(jpeg)).convert("HSV").resize((96, 54))
    hsv = np.asarray(img).reshape(-1, 3).astype(np.int64)
    idx = (hsv[:, 0] * 16 // 256) * 16 + (hsv[:, 1] * 4 // 256) * 4 + hsv[:, 2] * 4 // 256
    hist = np.bincount(idx, minlength=256).astype(np.float32)
    return hist / max(float(np.linalg.norm(hist)), 1e-12)
