"""SQLAlchemy models of the catalog: the source of truth every FAISS tier is derived from."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Base",
    "Video",
    "StageRun",
    "Segment",
    "Frame",
    "Utterance",
    "Word",
    "OcrLine",
    "Doc",
    "TierState",
    "FrameCaption",
    "StoreMeta",
    "LEVELS",
    "READY",
]

LEVELS = ("shot", "event", "chapter", "video")
READY = "ready"


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


def _video_fk() -> ForeignKey:
    return ForeignKey("videos.id", ondelete="CASCADE")


class Video(Base):
    """One ingested file. ``id`` is the first 16 hex digits of the content's SHA-256: stable across paths."""

    __tablename__ = "videos"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    uri: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    duration: Mapped[float] = mapped_column(Float, default=0.0)
    fps: Mapped[float] = mapped_column(Float, default=0.0)
    width: Mapped[int] = mapped_column(Integer, default=0)
    height: Mapped[int] = mapped_column(Integer, default=0)
    codec: Mapped[str | None] = mapped_column(String(64), nullable=True)
    audio_codec: Mapped[str | None] = mapped_column(String(64), nullable=True)
    has_audio: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="ingesting")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)


class StageRun(Base):
    """What ran on a video, with which model: lets ingest resume, re-run or back-fill a stage."""

    __tablename__ = "stage_runs"
    __table_args__ = (UniqueConstraint("video_id", "stage"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[str] = mapped_column(_video_fk(), index=True)
    stage: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # done | pending | failed | skipped
    model: Mapped[str | None] = mapped_column(String(256), nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, onupdate=_now)


class Segment(Base):
    """A time span at one level of the hierarchy (shot ⊂ event ⊂ chapter ⊂ video)."""

    __tablename__ = "segments"
    __table_args__ = (Index("ix_segments_video_level_start", "video_id", "level", "start"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[str] = mapped_column(_video_fk())
    level: Mapped[str] = mapped_column(String(16))
    idx: Mapped[int] = mapped_column(Integer)
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("segments.id", ondelete="SET NULL"), nullable=True, index=True
    )
    caption: Mapped[str | None] = mapped_column(Text, nullable=True)
    transcript: Mapped[str | None] = mapped_column(Text, nullable=True)
    ocr: Mapped[str | None] = mapped_column(Text, nullable=True)
    summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    keyframe_id: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Frame(Base):
    """A keyframe kept in the media cache, so queries never need the raw video."""

    __tablename__ = "frames"
    __table_args__ = (Index("ix_frames_video_t", "video_id", "t"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[str] = mapped_column(_video_fk())
    shot_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    t: Mapped[float] = mapped_column(Float)
    path: Mapped[str] = mapped_column(Text)  # relative to the media cache
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)


class Utterance(Base):
    """A run of speech (an ASR segment), the unit of the speech tier."""

    __tablename__ = "utterances"
    __table_args__ = (Index("ix_utterances_video_start", "video_id", "start"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[str] = mapped_column(_video_fk())
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)
    speaker: Mapped[str | None] = mapped_column(String(64), nullable=True)
    language: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # Posterior of ``language`` from identification before transcription (None: language set by config).
    language_prob: Mapped[float | None] = mapped_column(Float, nullable=True)
    # "ok" | "low": low-quality speech is kept, flagged, for search to rank lower (ingest/asr_guards.py).
    quality: Mapped[str] = mapped_column(String(8), default="ok", server_default="ok")
    flags: Mapped[str | None] = mapped_column(Text, nullable=True)  # comma-separated reasons for "low"


class Word(Base):
    __tablename__ = "words"
    __table_args__ = (Index("ix_words_video_start", "video_id", "start"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[str] = mapped_column(_video_fk())
    utterance_id: Mapped[int] = mapped_column(ForeignKey("utterances.id", ondelete="CASCADE"), index=True)
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(String(128))
    prob: Mapped[float] = mapped_column(Float, default=0.0)
    speaker: Mapped[str | None] = mapped_column(String(64), nullable=True)


class OcrLine(Base):
    """A line of on-screen text, visible from ``start`` to ``end``."""

    __tablename__ = "ocr_lines"
    __table_args__ = (Index("ix_ocr_video_start", "video_id", "start"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[str] = mapped_column(_video_fk())
    frame_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)
    box: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON [[x, y] * 4], in frame pixels
    confidence: Mapped[float] = mapped_column(Float, default=0.0)


class Doc(Base):
    """One searchable unit of a tier: its time span, text (for BM25) and vector (FAISS id == ``id``).

    ``vector`` is NULL while the tier's encoder has not run (the stage is pending); the FAISS files are
    rebuilt from these rows whenever they lag the catalog.
    """

    __tablename__ = "docs"
    __table_args__ = (
        Index("ix_docs_tier_video", "tier", "video_id"),
        Index("ix_docs_video_start", "video_id", "start"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[str] = mapped_column(_video_fk())
    tier: Mapped[str] = mapped_column(String(32))
    ref_id: Mapped[int] = mapped_column(Integer)
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text, default="")
    vector: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class TierState(Base):
    """Generation counter per tier, bumped in the same transaction as the tier's docs change."""

    __tablename__ = "tier_state"
    tier: Mapped[str] = mapped_column(String(32), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    encoder: Mapped[str] = mapped_column(String(256), default="")
    dim: Mapped[int] = mapped_column(Integer, default=0)


class FrameCaption(Base):
    """A keyframe's caption by one captioner model, cached so re-runs and rebuilds reuse it."""

    __tablename__ = "frame_captions"
    __table_args__ = (UniqueConstraint("frame_id", "model", name="uq_frame_captions_frame_model"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    frame_id: Mapped[int] = mapped_column(ForeignKey("frames.id", ondelete="CASCADE"))
    video_id: Mapped[str] = mapped_column(_video_fk(), index=True)
    model: Mapped[str] = mapped_column(String(256))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class StoreMeta(Base):
    """Key/value facts about the catalog itself: ``catalog_id`` (random, written by migration 0004; tier files
    carry it), ``collection`` (the collection this catalog belongs to), ``next_doc_id`` (ids never reused)."""

    __tablename__ = "store_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
