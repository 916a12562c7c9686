"""Plain data of the store stages (captions, levels, semantic) and of the visual backfill: what their loaders
read from the store, and the records their producers return for the commit functions to write.

Nothing here holds a database session, an ORM object or a store: every value is a frozen dataclass of
numbers, strings, bytes and numpy arrays, so inputs and records can be pickled to another process and back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from memindex.errors import NotFoundError
from memindex.ingest.describe import SegmentText
from memindex.ingest.hierarchy import Levels

if TYPE_CHECKING:
    from memindex.ingest.semantic import SemanticConfig

__all__ = [
    "ShotRow",
    "FrameRow",
    "UtteranceRow",
    "WordRow",
    "OcrRow",
    "Images",
    "VideoRows",
    "Keyframe",
    "CaptionInputs",
    "CaptionRecords",
    "LevelsInputs",
    "LevelsRecords",
    "Evidence",
    "FactClaim",
    "Face",
    "FaceSighting",
    "FaceGroup",
    "SemanticInputs",
    "SemanticRecords",
    "PendingKeyframes",
    "KeyframeVectors",
]


# -- a video's stored rows -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShotRow:
    id: int
    start: float
    end: float
    keyframe_id: int | None


@dataclass(frozen=True)
class FrameRow:
    id: int
    shot_id: int | None
    t: float
    path: str  # relative to the media cache


@dataclass(frozen=True)
class UtteranceRow:
    id: int
    start: float
    end: float
    text: str
    speaker: str | None


@dataclass(frozen=True)
class WordRow:
    utterance_id: int
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class OcrRow:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Images:
    """Keyframe JPEGs read from the media cache by a loader. A file that could not be read keeps its error,
    raised again by ``read`` where the producer uses it: a missing keyframe fails or is skipped exactly where
    it was when the stages read the cache themselves."""

    data: Mapping[str, bytes] = field(default_factory=dict)
    errors: Mapping[str, Exception] = field(default_factory=dict)

    def read(self, path: str) -> bytes:
        if path in self.errors:
            raise self.errors[path]
        if path not in self.data:
            raise NotFoundError(f"keyframe {path!r} was not loaded for this stage", path=path)
        return self.data[path]


@dataclass(frozen=True)
class VideoRows:
    """One video's stored rows, in time order; ``key`` says which ingest of the video they came from (a
    commit writes nothing when the video's key is no longer this: ``ingest/stored.py``, ``ingest_key``)."""

    video_id: str
    uri: str
    duration: float
    shots: tuple[ShotRow, ...]
    frames: tuple[FrameRow, ...]
    utterances: tuple[UtteranceRow, ...]
    words: tuple[WordRow, ...]
    ocr: tuple[OcrRow, ...]
    captions: Mapping[int, str] = field(default_factory=dict)  # frame id → caption of the chosen model
    frame_vectors: Mapping[int, np.ndarray] = field(default_factory=dict)
    speech_vectors: Mapping[int, np.ndarray] = field(default_factory=dict)
    images: Images = field(default_factory=Images)  # the keyframes the stage reads (only those)
    key: tuple[Any, ...] = ()

    @property
    def shot_ids(self) -> tuple[int, ...]:
        return tuple(s.id for s in self.shots)


# -- captions --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Keyframe:
    """A shot's keyframe to caption, with the span of its shot."""

    frame_id: int
    start: float
    end: float
    path: str


@dataclass(frozen=True)
class CaptionInputs:
    """The shot keyframes without a cached caption of ``model`` (and how many have one), their images, and
    the speech and screen text the captioner gets as context."""

    video_id: str
    model: str
    key: tuple[Any, ...]
    todo: tuple[Keyframe, ...] = ()
    cached: int = 0
    utterances: tuple[UtteranceRow, ...] = ()
    ocr: tuple[OcrRow, ...] = ()
    images: Images = field(default_factory=Images)


@dataclass(frozen=True)
class CaptionRecords:
    """New captions ``(frame id, text)`` and the ``captions`` stage row (``status`` done, failed or skipped);
    a failed run keeps the captions made before the failure."""

    video_id: str
    key: tuple[Any, ...]
    model: str | None
    captions: tuple[tuple[int, str], ...]
    cached: int
    status: str
    detail: str
    error: str | None = None
    seconds: float = 0.0

    def summary(self) -> dict[str, int | str]:
        if self.error is not None:
            return {"error": self.error}
        return {"captioned": len(self.captions), "cached": self.cached}


# -- levels ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LevelsInputs:
    rows: VideoRows


@dataclass(frozen=True)
class LevelsRecords:
    """The grouping, every segment's texts, its doc texts and their vectors per level (None: no docs)."""

    video_id: str
    key: tuple[Any, ...]
    shot_ids: tuple[int, ...]
    levels: Levels
    texts: Mapping[str, list[SegmentText]]
    docs: Mapping[str, list[str]]
    vectors: Mapping[str, np.ndarray | None]
    model: str | None
    seconds: float = 0.0

    @property
    def counts(self) -> dict[str, int]:
        return {lvl: len(d) for lvl, d in self.docs.items()}


# -- semantic --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Face:
    """A face on one image: its box (left, top, width, height) in pixels, detector score, descriptor."""

    box: tuple[int, int, int, int]
    score: float
    descriptor: np.ndarray


@dataclass(frozen=True)
class FaceSighting:
    """A face on a stored keyframe, with the span the keyframe stands for."""

    frame_id: int
    segment_id: int | None
    start: float
    end: float
    face: Face


@dataclass(frozen=True)
class Evidence:
    kind: str
    name: str
    start: float
    end: float
    source: str
    text: str


@dataclass(frozen=True)
class FactClaim:
    subject: str
    relation: str
    object: str
    start: float
    end: float
    text: str
    speaker: str | None = None


@dataclass(frozen=True)
class FaceGroup:
    """One person's sightings in a video (a cluster of descriptors) and the cluster's mean descriptor."""

    centroid: np.ndarray
    members: tuple[FaceSighting, ...]


@dataclass(frozen=True)
class SemanticInputs:
    rows: VideoRows


@dataclass(frozen=True)
class SemanticRecords:
    """What the video says, not yet matched to the collection's entities: names and terms that recur,
    fact claims, and face groups (None: faces were not looked for, so the earlier ones stay)."""

    video_id: str
    key: tuple[Any, ...]
    evidence: tuple[Evidence, ...]
    facts: tuple[FactClaim, ...]
    model: str | None
    faces: tuple[FaceGroup, ...] | None
    sightings: int
    face_note: str | None
    cfg: SemanticConfig  # the thresholds the commit matches with: those the records were made under
    seconds: float = 0.0


# -- visual backfill -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PendingKeyframes:
    """Visual docs stored without vectors: doc ids, their videos and keyframe paths, and the images."""

    doc_ids: tuple[int, ...]
    video_ids: tuple[str, ...]
    paths: tuple[str, ...]
    images: Images


@dataclass(frozen=True)
class KeyframeVectors:
    doc_ids: tuple[int, ...]
    video_ids: tuple[str, ...]
    vectors: np.ndarray
    model: str
