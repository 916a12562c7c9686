"""Build the hierarchy of a video from stored rows, and re-derive a stage later without decoding again.

``HierarchyBuilder.build`` reads the catalog (shots, keyframe vectors or JPEGs, words, screen text, cached
captions), groups, describes and embeds everything first, then replaces the video's event/chapter/video
segments, the shots' texts and all its ``episodic.*`` docs in ONE ``store.write()``: a reader sees the old
hierarchy or the new one, never a mix."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import delete, select, update

from memindex.catalog.models import LEVELS, Doc, Segment, Video
from memindex.errors import ConfigError, MemIndexError
from memindex.ingest.captioners import Captioner, caption_keyframes, make_captioner
from memindex.ingest.commit import record_stage
from memindex.ingest.config import IngestConfig
from memindex.ingest.describe import SegmentText, Summariser, describe, make_summariser
from memindex.ingest.hierarchy import Levels, Span, group
from memindex.ingest.stored import VideoRows, load_rows, timeline
from memindex.store import DocRow, Store, WriteTxn

__all__ = ["HierarchyBuilder", "rebuild", "REBUILD_STAGES", "EPISODIC_TIERS"]

log = logging.getLogger(__name__)
REBUILD_STAGES = ("events", "captions", "semantic")
EPISODIC_TIERS = tuple(f"episodic.{lvl}" for lvl in LEVELS)


class HierarchyBuilder:
    """Holds the captioner and summariser (loaded once) for the builds of one ingester."""

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
        t0 = time.perf_counter()
        if cap.name == "none":
            self._record(video_id, "captions", "skipped", None, "no captioner configured", 0.0)
            return {"captioned": 0, "cached": 0}
        rows = load_rows(self.store, video_id, None)
        texts = _SpanLookup(rows)
        try:
            out = caption_keyframes(self.store, video_id, cap, texts.context)
        except MemIndexError as exc:
            log.error("captions FAILED for video %s: %s (`memindex rebuild --stage captions` retries)", video_id, exc)
            self._record(video_id, "captions", "failed", cap.name, str(exc), time.perf_counter() - t0)
            return {"error": str(exc)}
        self._record(
            video_id,
            "captions",
            "done",
            cap.name,
            f"{out['captioned']} new, {out['cached']} cached",
            time.perf_counter() - t0,
        )
        return out

    def build(self, video_id: str) -> dict[str, int]:
        """Group, describe, embed, then replace the video's hierarchy atomically."""
        t0 = time.perf_counter()
        cap = self.captioner.name
        rows = load_rows(self.store, video_id, None if cap == "none" else cap)
        levels = group(timeline(self.store, rows), self.cfg.hierarchy)
        summariser = make_summariser(self.cfg.summary)
        try:
            texts = describe(rows, levels, summariser)
        finally:
            _close(summariser)
        docs = {
            lvl: [t.doc_text() or _empty_text(lvl, span) for t, span in zip(texts[lvl], spans, strict=True)]
            for lvl, spans in _spans(levels).items()
        }
        enc = self.store.text_embedder
        vectors = {lvl: enc.embed(d) if d else None for lvl, d in docs.items()}
        counts = {lvl: len(d) for lvl, d in docs.items()}
        with self.store.write() as txn:
            if txn.session.get(Video, video_id) is None:
                return {}  # deleted meanwhile
            _replace(txn, rows, levels, texts, docs, vectors)
            detail = ", ".join(f"{n} {lvl}s" for lvl, n in counts.items())
            model = getattr(summariser, "name", None) if summariser else None
            record_stage(txn, video_id, "levels", "done", model, detail, time.perf_counter() - t0)
        return counts

    def _record(
        self, video_id: str, stage: str, status: str, model: str | None, detail: str | None, seconds: float
    ) -> None:
        with self.store.write() as txn:
            record_stage(txn, video_id, stage, status, model, detail, seconds)


def rebuild(
    store: Store,
    stage: str,
    video_ids: Sequence[str] | None = None,
    *,
    builder: HierarchyBuilder | None = None,
    semantic: Any = None,
) -> dict[str, Any]:
    """Re-derive ``stage`` (``events``: the grouping and all segment texts; ``captions``: keyframe captions
    with the configured captioner, then the texts that use them) for the videos, all by default."""
    if stage not in REBUILD_STAGES:
        raise ConfigError(f"unknown rebuild stage {stage!r}; valid: {list(REBUILD_STAGES)}")
    builder = builder or HierarchyBuilder(store, IngestConfig())
    if not video_ids:
        with store.Session() as s:
            video_ids = list(s.scalars(select(Video.id).order_by(Video.created_at)).all())
    out: dict[str, Any] = {"stage": stage, "videos": {}}
    for vid in video_ids:
        entry: dict[str, Any] = {}
        if stage == "semantic":  # names, terms, facts and semantic docs; speaker turns are kept
            from memindex.ingest.semantic import consolidate

            out["videos"][vid] = consolidate(store, vid, semantic)
            continue
        if stage == "captions":
            entry["captions"] = builder.caption(vid)
        entry["segments"] = builder.build(vid)
        out["videos"][vid] = entry
    return out


def _spans(levels: Levels) -> dict[str, list[Span]]:
    return {
        "shot": levels.shots,
        "event": [levels.event_span(k) for k in range(len(levels.events))],
        "chapter": [levels.chapter_span(k) for k in range(len(levels.chapters))],
        "video": [levels.video],
    }


def _empty_text(level: str, span: Span) -> str:
    return f"{level} {span.start:.1f}-{span.end:.1f} s: no speech, screen text or caption"


def _replace(
    txn: WriteTxn,
    rows: VideoRows,
    levels: Levels,
    texts: dict[str, list[SegmentText]],
    docs: dict[str, list[str]],
    vectors: dict[str, np.ndarray | None],
) -> None:
    s, vid = txn.session, rows.video_id
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
    shots = list(s.scalars(select(Segment).where(Segment.id.in_([r.id for r in rows.shots]))))
    by_id = {seg.id: seg for seg in shots}
    shot_rows = [by_id[r.id] for r in rows.shots if r.id in by_id]
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


class _SpanLookup:
    """Speech and screen text around a keyframe: the context a captioner gets."""

    def __init__(self, rows: VideoRows) -> None:
        self.utts = [(u.start, u.end, u.text) for u in rows.utterances]
        self.ocr = [(ln.start, ln.end, ln.text) for ln in rows.ocr]

    def context(self, start: float, end: float) -> str:
        said = " ".join(t for s, e, t in self.utts if s < end and e > start)
        shown = " | ".join(dict.fromkeys(t for s, e, t in self.ocr if s < end and e > start))
        return " ".join(p for p in (f"Said: {said}" if said else "", f"On screen: {shown}" if shown else "") if p)


def _close(obj: Summariser | None) -> None:
    close = getattr(obj, "close", None)
    if close is not None:
        close()
