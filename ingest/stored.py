"""One video's stored rows, loaded once for the hierarchy and its texts: nothing is decoded again."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select

from memindex.catalog.models import Doc, Frame, FrameCaption, OcrLine, Segment, Utterance, Video, Word
from memindex.errors import NotFoundError
from memindex.ingest.hierarchy import Span, Timeline
from memindex.store import Store

__all__ = ["VideoRows", "load_rows", "timeline"]

log = logging.getLogger(__name__)


@dataclass
class VideoRows:
    video_id: str
    uri: str
    duration: float
    shots: list[Segment]
    frames: list[Frame]
    utterances: list[Utterance]
    words: list[Word]
    ocr: list[OcrLine]
    captions: dict[int, str] = field(default_factory=dict)  # frame id → caption of the chosen model
    frame_vectors: dict[int, np.ndarray] = field(default_factory=dict)
    speech_vectors: dict[int, np.ndarray] = field(default_factory=dict)


def load_rows(store: Store, video_id: str, caption_model: str | None) -> VideoRows:
    with store.Session() as s:
        video = s.get(Video, video_id)
        if video is None:
            raise NotFoundError(f"no video {video_id!r}", video_id=video_id)

        def rows(model, order):  # type: ignore[no-untyped-def]
            return list(s.scalars(select(model).where(model.video_id == video_id).order_by(order)).all())

        shots = list(
            s.scalars(
                select(Segment).where(Segment.video_id == video_id, Segment.level == "shot").order_by(Segment.start)
            ).all()
        )
        out = VideoRows(
            video_id,
            video.uri,
            video.duration,
            shots,
            rows(Frame, Frame.t),
            rows(Utterance, Utterance.start),
            rows(Word, Word.start),
            rows(OcrLine, OcrLine.start),
        )
        if caption_model:
            out.captions = dict(
                s.execute(
                    select(FrameCaption.frame_id, FrameCaption.text).where(
                        FrameCaption.video_id == video_id, FrameCaption.model == caption_model
                    )
                ).all()
            )
        for tier, target in (("visual", out.frame_vectors), ("speech", out.speech_vectors)):
            for ref, blob in s.execute(
                select(Doc.ref_id, Doc.vector).where(
                    Doc.video_id == video_id, Doc.tier == tier, Doc.vector.is_not(None)
                )
            ).all():
                target[ref] = np.frombuffer(blob, np.float32)
    return out


def timeline(store: Store, rows: VideoRows) -> Timeline:
    """The grouping's input: CLIP means per shot when every shot has them, else colour histograms of the
    keyframes in the media cache; speech vectors from the speech tier's stored rows."""
    utts = [Span(u.start, u.end) for u in rows.utterances]
    uvecs = None
    if utts and all(u.id in rows.speech_vectors for u in rows.utterances):
        uvecs = np.stack([rows.speech_vectors[u.id] for u in rows.utterances])
    return Timeline(
        duration=rows.duration,
        shots=[Span(s.start, s.end) for s in rows.shots],
        shot_vectors=_shot_vectors(store, rows),
        utterances=utts,
        utterance_vectors=uvecs,
        ocr=[(ln.start, ln.end, ln.text) for ln in rows.ocr],
    )


def _shot_vectors(store: Store, rows: VideoRows) -> np.ndarray | None:
    by_shot: dict[int, list[Frame]] = {}
    for f in rows.frames:
        if f.shot_id is not None:
            by_shot.setdefault(f.shot_id, []).append(f)
    if not rows.shots or any(s.id not in by_shot for s in rows.shots):
        return None
    if all(f.id in rows.frame_vectors for f in rows.frames):
        return np.stack([np.mean([rows.frame_vectors[f.id] for f in by_shot[s.id]], axis=0) for s in rows.shots])
    try:
        return np.stack(
            [np.mean([_histogram(store.media.read(f.path)) for f in by_shot[s.id]], axis=0) for s in rows.shots]
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
