"""The committer: writes the records of one stage group into the store, in one write transaction (files the
rows point at, such as keyframe JPEGs, just before it). Rows go in as bulk inserts; only the driver, which
owns the store, calls these."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import select, update

from memindex.catalog.models import Frame, OcrLine, Segment, StageRun, Utterance, Word
from memindex.encoders.base import TextEmbedder
from memindex.ingest.records import UtteranceRec
from memindex.ingest.visual_pass import KeptFrame, VisualResult
from memindex.store import DocRow, Store, WriteTxn

__all__ = [
    "commit_group",
    "add_visual",
    "add_utterances",
    "commit_speech",
    "record_stage",
    "record_outcome",
    "speech_detail",
]


def record_stage(
    txn: WriteTxn,
    video_id: str,
    stage: str,
    status: str,
    model: str | None,
    detail: str | None = None,
    seconds: float = 0.0,
) -> None:
    row = txn.session.scalar(select(StageRun).where(StageRun.video_id == video_id, StageRun.stage == stage))
    if row is None:
        txn.session.add(
            StageRun(video_id=video_id, stage=stage, status=status, model=model, detail=detail, seconds=seconds)
        )
    else:
        row.status, row.model, row.detail, row.seconds = status, model, detail, seconds


def record_outcome(txn: WriteTxn, video_id: str, outcome: Any) -> None:
    """Record an ``memindex.ingest.work.Outcome``."""
    record_stage(txn, video_id, outcome.stage, outcome.status, outcome.model, outcome.detail, outcome.seconds)


def commit_group(store: Store, video_id: str, stage: Any, records: Any, cfg: Any) -> None:
    """One worker stage's records: its files first (outside the write lock: a full disk there is this video's
    failure), then its rows in one transaction."""
    stage.write_files(store.media, video_id, records)
    with store.write() as txn:
        stage.commit(txn, video_id, records, cfg)


def _insert(txn: WriteTxn, model: type, rows: list[dict[str, Any]]) -> list[int]:
    """One multi-row INSERT of the table (SQLAlchemy Core: no ORM objects); the new ids in the order of
    ``rows``."""
    if not rows:
        return []
    table = model.__table__  # type: ignore[attr-defined]
    return list(txn.session.scalars(table.insert().returning(table.c.id, sort_by_parameter_order=True), rows))


def _insert_many(txn: WriteTxn, model: type, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    """Many rows whose ids nobody needs back (words): on SQLite straight through the driver's
    ``executemany`` (half the time of SQLAlchemy's per-row parameter handling), else a Core INSERT."""
    if not rows:
        return
    table = model.__table__  # type: ignore[attr-defined]
    conn = txn.session.connection()
    if conn.dialect.name != "sqlite" or table.schema is not None:
        conn.execute(table.insert(), [dict(zip(columns, r, strict=True)) for r in rows])
        return
    quote = conn.dialect.identifier_preparer.quote
    sql = f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, columns))}) VALUES ({', '.join('?' * len(columns))})"
    conn.exec_driver_sql(sql, rows)


def add_visual(txn: WriteTxn, video_id: str, res: VisualResult) -> None:
    """Shots, keyframes (visual docs, pending when they have no vectors), screen text (screen docs) and the
    stage outcomes, in the caller's transaction. Keyframe paths must be set (written to the media cache)."""
    shot_ids = _insert(
        txn,
        Segment,
        [dict(video_id=video_id, level="shot", idx=sh.index, start=sh.start, end=sh.end) for sh in res.shots],
    )
    frame_shots = [shot_ids[min(f.shot_index, len(shot_ids) - 1)] for f in res.frames]
    frame_ids = _insert(
        txn,
        Frame,
        [
            dict(video_id=video_id, shot_id=sid, t=f.t, path=f.path, width=f.width, height=f.height)
            for f, sid in zip(res.frames, frame_shots, strict=True)
        ],
    )
    _set_shot_keyframes(txn, res, shot_ids, frame_ids, frame_shots)
    rows = [DocRow(video_id, fid, f.t, f.t) for f, fid in zip(res.frames, frame_ids, strict=True)]
    if rows:
        embedded = all(f.vector is not None for f in res.frames)
        txn.add_docs("visual", rows, np.stack([f.vector for f in res.frames]) if embedded else None)
    _add_ocr(txn, video_id, res, frame_ids)
    for outcome in res.outcomes:
        record_outcome(txn, video_id, outcome)


def _set_shot_keyframes(
    txn: WriteTxn, res: VisualResult, shot_ids: list[int], frame_ids: list[int], frame_shots: list[int]
) -> None:
    """Each shot's keyframe: its frame nearest the shot's middle."""
    inside: dict[int, list[tuple[KeptFrame, int]]] = {}
    for f, fid, sid in zip(res.frames, frame_ids, frame_shots, strict=True):
        inside.setdefault(sid, []).append((f, fid))
    values = []
    for shot, sid in zip(res.shots, shot_ids, strict=True):
        if sid in inside:
            mid = (shot.start + shot.end) / 2
            values.append({"id": sid, "keyframe_id": min(inside[sid], key=lambda p: abs(p[0].t - mid))[1]})
    if values:
        txn.session.execute(update(Segment), values)


def _add_ocr(txn: WriteTxn, video_id: str, res: VisualResult, frame_ids: list[int]) -> None:
    rows = []
    for ln in res.ocr:
        at = ln.frame_t if ln.frame_t is not None else ln.start
        near = min(range(len(res.frames)), key=lambda i: abs(res.frames[i].t - at), default=None)
        rows.append(
            dict(
                video_id=video_id,
                frame_id=frame_ids[near] if near is not None else None,
                start=ln.start,
                end=ln.end,
                text=ln.text,
                box=json.dumps([list(p) for p in ln.box]) if ln.box else None,
                confidence=ln.confidence,
            )
        )
    ids = _insert(txn, OcrLine, rows)
    if ids:
        docs = [DocRow(video_id, i, ln.start, ln.end, ln.text) for i, ln in zip(ids, res.ocr, strict=True)]
        txn.add_docs("screen", docs, res.ocr_vectors)


def add_utterances(txn: WriteTxn, video_id: str, utts: Sequence[UtteranceRec], vectors: np.ndarray | None) -> None:
    """Utterances (with language, its probability, quality and flags), their words, and speech docs for
    those with text (``vectors``: one per such utterance, in order), in the caller's transaction."""
    ids = _insert(
        txn,
        Utterance,
        [
            dict(
                video_id=video_id,
                start=u.start,
                end=u.end,
                text=u.text,
                speaker=u.speaker,
                language=u.language,
                language_prob=u.language_prob,
                quality=u.quality,
                flags=",".join(u.flags) or None,
            )
            for u in utts
        ],
    )
    words = [
        (video_id, uid, w.start, w.end, w.text, w.prob, w.speaker or u.speaker)
        for u, uid in zip(utts, ids, strict=True)
        for w in u.words
    ]
    _insert_many(txn, Word, ("video_id", "utterance_id", "start", "end", "text", "prob", "speaker"), words)
    docs = [DocRow(video_id, uid, u.start, u.end, u.text) for u, uid in zip(utts, ids, strict=True) if u.text]
    if docs:
        txn.add_docs("speech", docs, vectors)


def commit_speech(
    store: Store, video_id: str, utts: list[UtteranceRec], text: TextEmbedder, model: str, seconds: float
) -> None:
    """Embed and commit a video's utterances with its ``asr`` stage row (the stage detail sums up the
    video's languages and what was flagged), in one transaction."""
    spoken = [u.text for u in utts if u.text]
    vecs = text.embed(spoken) if spoken else None
    with store.write() as txn:
        add_utterances(txn, video_id, utts, vecs)
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
