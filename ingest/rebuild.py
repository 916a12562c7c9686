"""Build the hierarchy of a video from stored rows, and re-derive a stage later without decoding again.

The levels stage is three steps: ``load_levels`` reads the catalog (shots, keyframe vectors or JPEGs,
words, screen text, cached captions); ``produce_levels`` groups, describes and embeds everything with no
store; ``commit_levels`` replaces the video's event/chapter/video segments, the shots' texts and all its
``episodic.*`` docs in ONE ``store.write()``: a reader sees the old hierarchy or the new one, never a mix.
``HierarchyBuilder`` runs them (and the captions stage's, ``ingest/captioners.py``) for one ingester or
rebuild; ``rebuild`` re-derives a stage for many videos through the same steps."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, update

from memindex.catalog.models import LEVELS, Doc, Segment, Video
from memindex.encoders.base import TextEmbedder
from memindex.errors import ConfigError, MemIndexError
from memindex.ingest.captioners import Captioner, commit_captions, load_captions, make_captioner, produce_captions
from memindex.ingest.commit import record_stage
from memindex.ingest.config import IngestConfig
from memindex.ingest.describe import SegmentText, Summariser, describe, make_summariser
from memindex.ingest.hierarchy import Levels, Span, group
from memindex.ingest.store_records import LevelsInputs, LevelsRecords
from memindex.ingest.stored import ingest_key, load_rows, timeline
from memindex.ingest.work import analysis_threads
from memindex.store import DocRow, Store, WriteTxn

__all__ = [
    "HierarchyBuilder",
    "rebuild",
    "load_levels",
    "produce_levels",
    "commit_levels",
    "REBUILD_STAGES",
    "EPISODIC_TIERS",
]

log = logging.getLogger(__name__)
REBUILD_STAGES = ("events", "captions", "semantic")
EPISODIC_TIERS = tuple(f"episodic.{lvl}" for lvl in LEVELS)


class HierarchyBuilder:
    """Holds the captioner (loaded once) for the captions and levels stages of one ingester or rebuild."""

    def __init__(self, store: Store, cfg: IngestConfig) -> None:
        self.store = store
        self.cfg = cfg
        self._captioner: Captioner | None = None

    @property
    def captioner(self) -> Captioner:
        if self._captioner is None:
            self._captioner = make_captioner(self.cfg.captioner)
        return self._captioner

    def caption(self, video_id: str) -> dict[str, Any]:
        """Caption the keyframes not cached yet; a failing endpoint is recorded and the build goes on."""
        cap = self.captioner
        return commit_captions(self.store, produce_captions(load_captions(self.store, video_id, cap.name), cap))

    def build(self, video_id: str) -> dict[str, int]:
        """Group, describe, embed, then replace the video's hierarchy atomically."""
        inputs = load_levels(self.store, video_id, self.captioner.name)
        return commit_levels(self.store, produce_levels(inputs, self.cfg, self.store.text_embedder))


def load_levels(store: Store, video_id: str, caption_model: str) -> LevelsInputs:
    """The video's rows with the cached captions of ``caption_model``, and its keyframe JPEGs when the
    grouping needs their colour histograms (keyframes without vectors)."""
    model = None if caption_model == "none" else caption_model
    return LevelsInputs(load_rows(store, video_id, model, images="histograms"))


def produce_levels(inputs: LevelsInputs, cfg: IngestConfig, embedder: TextEmbedder) -> LevelsRecords:
    """Group the shots, describe every segment (summaries by the configured summariser) and embed the doc
    texts of every level; no store."""
    t0 = time.perf_counter()
    rows = inputs.rows
    levels = group(timeline(rows), cfg.hierarchy)
    summariser = make_summariser(cfg.summary)
    try:
        texts = describe(rows, levels, summariser)
    finally:
        _close(summariser)
    docs = {
        lvl: [t.doc_text() or _empty_text(lvl, span) for t, span in zip(texts[lvl], spans, strict=True)]
        for lvl, spans in _spans(levels).items()
    }
    vectors = {lvl: embedder.embed(d) if d else None for lvl, d in docs.items()}
    model = getattr(summariser, "name", None) if summariser else None
    return LevelsRecords(
        rows.video_id, rows.key, rows.shot_ids, levels, texts, docs, vectors, model, time.perf_counter() - t0
    )


def commit_levels(store: Store, records: LevelsRecords) -> dict[str, int]:
    """Replace the video's hierarchy with ``records`` in one ``store.write()``; nothing is written (and {}
    returned) when the video was deleted, or deleted and ingested again, since it was loaded."""
    counts = records.counts
    with store.write() as txn:
        if ingest_key(txn.session, records.video_id) != records.key:
            return {}
        _replace(txn, records)
        detail = ", ".join(f"{n} {lvl}s" for lvl, n in counts.items())
        record_stage(txn, records.video_id, "levels", "done", records.model, detail, records.seconds)
    return counts


def rebuild(
    store: Store,
    stage: str,
    video_ids: Sequence[str] | None = None,
    *,
    builder: HierarchyBuilder | None = None,
    semantic: Any = None,
    face_encoder: Any = None,
) -> dict[str, Any]:
    """Re-derive ``stage`` (``events``: the grouping and all segment texts; ``captions``: keyframe captions
    with the configured captioner, then the texts that use them; ``semantic``: names, terms, faces, facts and
    semantic docs, speaker turns kept) for the videos, all by default, through each stage's loader, producer
    and commit. dlib's models are loaded once for all videos unless ``face_encoder`` is given."""
    if stage not in REBUILD_STAGES:
        raise ConfigError(f"unknown rebuild stage {stage!r}; valid: {list(REBUILD_STAGES)}")
    with analysis_threads():
        return _rebuild(store, stage, video_ids, builder, semantic, face_encoder)


def _rebuild(
    store: Store, stage: str, video_ids: Sequence[str] | None, builder: Any, semantic: Any, face_encoder: Any
) -> dict[str, Any]:
    builder = builder or HierarchyBuilder(store, IngestConfig())
    if not video_ids:
        with store.Session() as s:
            video_ids = list(s.scalars(select(Video.id).order_by(Video.created_at)).all())
    out: dict[str, Any] = {"stage": stage, "videos": {}}
    if stage == "semantic":
        from memindex.ingest.semantic import SemanticConfig, consolidate

        cfg = semantic or SemanticConfig()
        encoder = (face_encoder or _face_encoder(cfg)) if video_ids else None
        for vid in video_ids:
            out["videos"][vid] = consolidate(store, vid, cfg, encoder)
        return out
    for vid in video_ids:
        entry: dict[str, Any] = {}
        if stage == "captions":
            entry["captions"] = builder.caption(vid)
        entry["segments"] = builder.build(vid)
        out["videos"][vid] = entry
    return out


def _face_encoder(cfg: Any) -> Any:
    """dlib's models loaded once, or None when faces are off or they cannot load (each video's semantic
    stage then says why, as it does without a shared encoder)."""
    if not cfg.faces:
        return None
    from memindex.ingest.faces import FaceEncoder

    try:
        return FaceEncoder()
    except MemIndexError:
        return None


def _spans(levels: Levels) -> dict[str, list[Span]]:
    return {
        "shot": levels.shots,
        "event": [levels.event_span(k) for k in range(len(levels.events))],
        "chapter": [levels.chapter_span(k) for k in range(len(levels.chapters))],
        "video": [levels.video],
    }


def _empty_text(level: str, span: Span) -> str:
    return f"{level} {span.start:.1f}-{span.end:.1f} s: no speech, screen text or caption"


def _replace(txn: WriteTxn, records: LevelsRecords) -> None:
    s, vid = txn.session, records.video_id
    levels, texts, docs, vectors = records.levels, records.texts, records.docs, records.vectors
    txn.remove_docs((Doc.video_id == vid) & Doc.tier.in_(EPISODIC_TIERS))
    s.execute(update(Segment).where(Segment.video_id == vid, Segment.level == "shot").values(parent_id=None))
    s.execute(delete(Segment).where(Segment.video_id == vid, Segment.level.in_(("event", "chapter", "video"))))
    spans = _spans(levels)
    top = _segment(vid, "video", 0, spans["video"][0], texts["video"][0], None)
    s.add(top)
    s.flush()
    chapters = [_segment(vid, "chapter", k, sp, texts["chapter"][k], top.id) for k, sp in enumerate(spans["chapter"])]
    s.add_all(chapters)
    s.flush()
    parent_of_event = {e: chapters[c].id for c, (i, j) in enumerate(levels.chapters) for e in range(i, j)}
    events = [
        _segment(vid, "event", k, sp, texts["event"][k], parent_of_event[k]) for k, sp in enumerate(spans["event"])
    ]
    s.add_all(events)
    s.flush()
    shots = list(s.scalars(select(Segment).where(Segment.id.in_(records.shot_ids))))
    by_id = {seg.id: seg for seg in shots}
    shot_rows = [by_id[i] for i in records.shot_ids if i in by_id]
    for e, (i, j) in enumerate(levels.events):
        for k in range(i, min(j, len(shot_rows))):
            t = texts["shot"][k]
            seg = shot_rows[k]
            seg.parent_id, seg.caption, seg.transcript, seg.ocr = (
                events[e].id,
                t.caption or None,
                t.transcript or None,
                t.ocr or None,
            )
    s.flush()
    segs = {"video": [top], "chapter": chapters, "event": events, "shot": shot_rows}
    for lvl, items in segs.items():
        if len(items) != len(docs[lvl]):
            continue  # a video without shot rows: its synthetic shot has no row to point at
        rows_ = [DocRow(vid, seg.id, seg.start, seg.end, text) for seg, text in zip(items, docs[lvl], strict=True)]
        if rows_:
            txn.add_docs(f"episodic.{lvl}", rows_, vectors[lvl])


def _segment(vid: str, level: str, idx: int, span: Span, text: SegmentText, parent: int | None) -> Segment:
    return Segment(
        video_id=vid,
        level=level,
        idx=idx,
        start=span.start,
        end=span.end,
        parent_id=parent,
        caption=text.caption or None,
        transcript=text.transcript or None,
        ocr=text.ocr or None,
        summary=text.summary or None,
    )


def _close(obj: Summariser | None) -> None:
    close = getattr(obj, "close", None)
    if close is not None:
        close()
