"""Writes a stage's results into the store: catalog rows and searchable docs in one write transaction."""

from __future__ import annotations

import json

import numpy as np
from sqlalchemy import select

from ingest.records import UtteranceRec
from ingest.visual_pass import VisualResult
from memindex.catalog.models import Frame, OcrLine, Segment, StageRun, Utterance, Word
from memindex.encoders.base import TextEmbedder
from memindex.store import DocRow, Store, WriteTxn

__all__ = ["commit_visual", "commit_speech", "record_stage", "speech_detail"]


def record_stage(txn: WriteTxn, video_id: str, stage: str, status: str, model: str | None,
                 detail: str | None = None, seconds: float = 0.0) -> None:
    row = txn.session.scalar(select(StageRun).where(StageRun.video_id == video_id, StageRun.stage == stage))
    if row is None:
        txn.session.add(StageRun(video_id=video_id, stage=stage, status=status, model=model, detail=detail,
                                 seconds=seconds))
    else:
        row.status, row.model, row.detail, row.seconds = status, model, detail, seconds


def commit_visual(store: Store, video_id: str, res: VisualResult, text: TextEmbedder,
                  stages: dict[str, tuple[str, str | None, str | None]]) -> None:
    """Shots, keyframes (visual docs, pending when no vectors), screen text (screen docs), one transaction."""
    ocr_vecs = text.embed([ln.text for ln in res.ocr]) if res.ocr else None
    with store.write() as txn:
        s = txn.session
        shot_ids = []
        for shot in res.shots:
            seg = Segment(video_id=video_id, level="shot", idx=shot.index, start=shot.start, end=shot.end)
            s.add(seg)
            shot_ids.append(seg)
        s.flush()
        frames = [Frame(video_id=video_id, shot_id=shot_ids[min(f.shot_index, len(shot_ids) - 1)].id, t=f.t,
                        path=f.path, width=f.width, height=f.height) for f in res.frames]
        s.add_all(frames)
        s.flush()
        _set_shot_keyframes(shot_ids, frames)
        embedded = [f.vector is not None for f in res.frames]
        rows = [DocRow(video_id, fr.id, fr.t, fr.t) for fr in frames]
        if rows and all(embedded):
            txn.add_docs("visual", rows, np.stack([f.vector for f in res.frames]))
        elif rows:
            txn.add_docs("visual", rows, None)
        _add_ocr(txn, video_id, res, frames, ocr_vecs)
        for stage, (status, model, detail) in stages.items():
            record_stage(txn, video_id, stage, status, model, detail, res.seconds.get(stage, 0.0))


def _set_shot_keyframes(shots: list[Segment], frames: list[Frame]) -> None:
    for seg in shots:
        inside = [f for f in frames if f.shot_id == seg.id]
        if inside:
            mid = (seg.start + seg.end) / 2
            seg.keyframe_id = min(inside, key=lambda f: abs(f.t - mid)).id


def _add_ocr(txn: WriteTxn, video_id: str, res: VisualResult, frames: list[Frame],
             vecs: np.ndarray | None) -> None:
    lines = []
    for ln in res.ocr:
        near = min(frames, key=lambda f: abs(f.t - (ln.frame_t if ln.frame_t is not None else ln.start)),
                   default=None)
        row = OcrLine(video_id=video_id, frame_id=near.id if near else None, start=ln.start, end=ln.end,
                      text=ln.text, box=json.dumps([list(p) for p in ln.box]) if ln.box else None,
                      confidence=ln.confidence)
        lines.append(row)
    txn.session.add_all(lines)
    txn.session.flush()
    if lines:
        txn.add_docs("screen", [DocRow(video_id, r.id, r.start, r.end, r.text) for r in lines], vecs)


def commit_speech(store: Store, video_id: str, utts: list[UtteranceRec], text: TextEmbedder,
                  model: str, seconds: float) -> None:
    """Utterances (with language, its probability, quality and flags), words, and speech docs for those with
    text; the stage detail sums up the video's languages and what was flagged."""
    spoken = [u for u in utts if u.text]
    vecs = text.embed([u.text for u in spoken]) if spoken else None
    with store.write() as txn:
        s = txn.session
        rows = [Utterance(video_id=video_id, start=u.start, end=u.end, text=u.text, speaker=u.speaker,
                          language=u.language, language_prob=u.language_prob, quality=u.quality,
                          flags=",".join(u.flags) or None) for u in utts]
        s.add_all(rows)
        s.flush()
        for row, u in zip(rows, utts, strict=True):
            s.add_all([Word(video_id=video_id, utterance_id=row.id, start=w.start, end=w.end, text=w.text,
                            prob=w.prob, speaker=w.speaker or u.speaker) for w in u.words])
        docs = [DocRow(video_id, r.id, r.start, r.end, r.text) for r in rows if r.text]
        if docs:
            txn.add_docs("speech", docs, vecs)
        record_stage(txn, video_id, "asr", "done", model[:256], speech_detail(utts), seconds)


def speech_detail(utts: list[UtteranceRec]) -> str:
    """``"12 utterances; languages fr 93%, en 7%; 2 low quality; 4.1 s not transcribed (no model)"``."""
    parts = [f"{len(utts)} utterances"]
    by_lang: dict[str, float] = {}
    for u in utts:
        by_lang[u.language or "?"] = by_lang.get(u.language or "?", 0.0) + max(u.end - u.start, 0.0)
    total = sum(by_lang.values())
    if total > 0:
        ranked = sorted(by_lang.items(), key=lambda kv: -kv[1])
        parts.append("languages " + ", ".join(f"{lang} {100 * sec / total:.0f}%" for lang, sec in ranked))
    low = sum(u.quality != "ok" for u in utts)
    if low:
        parts.append(f"{low} low quality")
    untranscribed = sum(u.end - u.start for u in utts if "no-model" in u.flags)
    if untranscribed:
        parts.append(f"{untranscribed:.1f} s not transcribed (no model for its language)")
    return "; ".join(parts)
