"""Hybrid retrieval over the tiers: FAISS vectors plus BM25 keyword candidates, fused into one ranking.

Text tiers (speech, screen, episodic, semantic) share one text encoder and one keyword index, so their
scores are comparable; memindex.ranking fuses cosine, term coverage and phrase order (the dense channel
dominates for questions) and maps score and margin to ``Hit.confidence``. The visual tier's CLIP cosine is
mapped onto the same 0..1 scale by a fixed calibration. Speech hits ASR flagged low-quality rank lower; the
final speech hits are narrowed to the words that match.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Row, bindparam, func, inspect, select, text
from sqlalchemy.orm import Session

from memindex.catalog.keywords import KeywordFilters, fts5_ids, postgres_ids
from memindex.catalog.models import READY, Doc, Frame, OcrLine, Video, Word
from memindex.errors import QueryError, StageError
from memindex.ranking import (
    CONFIDENCE_FEATURES,
    QueryShape,
    close,
    confidence,
    coverage,
    fuse,
    norm_word,
    phrase_match,
    shape,
    spellings,
    terms,
)
from memindex.ranking import WORD as _WORD
from memindex.store import Store

__all__ = ["Hit", "Searcher", "TIER_KINDS", "terms", "coverage", "phrase_match", "CONFIDENCE_FEATURES"]

log = logging.getLogger(__name__)

# tier -> (level, modality)
TIER_KINDS = {
    "speech": ("utterance", "speech"),
    "screen": ("frame", "screen_text"),
    "visual": ("frame", "visual"),
    "episodic.shot": ("shot", "text"),
    "episodic.event": ("event", "text"),
    "episodic.chapter": ("chapter", "text"),
    "episodic.video": ("video", "text"),
    "semantic": ("fact", "semantic"),
}
DEFAULT_TIERS = ("speech", "screen", "visual")
MAX_K = 1000
_VISUAL_FLOOR, _VISUAL_SPAN = 0.18, 0.17  # CLIP text-image cosine: ~0.18 unrelated, ~0.35 a clear match
LOW_QUALITY_FACTOR = 0.8  # utterances ASR flagged low-quality keep 80% of their score: found, but ranked lower


@dataclass
class Hit:
    video_id: str
    uri: str
    start: float
    end: float
    level: str
    tier: str
    modality: str
    score: float
    text: str
    keyframe: dict[str, Any] | None = None
    doc_id: int = 0
    signals: dict[str, Any] = field(default_factory=dict)
    confidence: float = 0.0  # calibrated probability that this is the moment asked for (memindex.ranking)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["start"], out["end"], out["score"] = round(self.start, 3), round(self.end, 3), round(self.score, 4)
        out["confidence"] = round(self.confidence, 4)
        return out


# A candidate's docs row and its video: id, tier, ref_id, video_id, start, end, text, uri, created_at
_DocRow = Row[int, str, int, str, float, float, str, str, datetime]


@dataclass
class _Cand:
    cosine: float = 0.0
    keyword: float = 0.0
    bm25_rank: int | None = None


class Searcher:
    """Runs one query over several tiers of a store."""

    def __init__(self, store: Store, cache_size: int = 512) -> None:
        self.store = store
        self._cache: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._unaccent: bool | None = None  # PostgreSQL: memindex_unaccent() exists (migration 0006)
        self._quality: bool | None = None  # utterances.quality exists (migration 0005)

    def query_vector(self, tier: str, query: str) -> np.ndarray:
        """The query's vector in ``tier``'s space: encoded once per encoder and kept in a small LRU cache
        (speech, screen and the episodic tiers share one text encoder)."""
        enc = self.store.encoder_for(tier)
        key = (enc.name, query)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        vec: np.ndarray
        if tier == "visual":
            vec = enc.embed_text([query])[0]  # type: ignore[union-attr]
        else:  # a text embedder may embed queries apart from documents (e5-style prompts)
            vec = getattr(enc, "embed_query", enc.embed)([query])[0]  # type: ignore[union-attr]
        with self._lock:
            self._cache[key] = vec
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return vec

    def search(
        self,
        query: str,
        *,
        k: int = 10,
        tiers: Sequence[str] | None = None,
        levels: Sequence[str] | None = None,
        videos: Sequence[str] | None = None,
        time_range: tuple[float, float] | None = None,
    ) -> list[Hit]:
        _validate(query, k, time_range)
        wanted = _tiers(tiers, levels)
        cands: dict[int, _Cand] = {}
        with self.store.Session() as s:  # one session (one connection) for the whole query
            for tier in wanted:
                self._vector(s, tier, query, k, videos, time_range, cands)
            self._keyword(s, query, wanted, k, videos, time_range, cands)
            refs: dict[int, _Ref] = {}
            ranked = self._hydrate(s, cands, shape(query), videos, time_range, refs)
            ranked.sort(key=lambda h: (-h.score, h.signals.get("_order", 0), h.start))
            hits = ranked[:k]
            _attach_confidence(hits, ranked)
            self._narrow(s, hits, query, refs)
            for h in hits:
                h.signals.pop("_order", None)
                self._attach_keyframe(s, h, refs.get(h.doc_id))
        return hits

    def _narrow(self, s: Session, hits: list[Hit], query: str, refs: dict[int, _Ref]) -> None:
        """Speech hits of the final ranking, narrowed to the words that spell the query."""
        for hit in hits:
            ref = refs.get(hit.doc_id)
            if hit.tier == "speech" and ref is not None:
                _narrow_to_words(s, hit, ref, query)

    # -- candidates ------------------------------------------------------------------------------------
    def _subset(
        self, s: Session, tier: str, videos: Sequence[str] | None, tr: tuple[float, float] | None
    ) -> np.ndarray | None:
        if not videos and not tr:
            return None
        q = select(Doc.id).where(Doc.tier == tier)
        if videos:
            q = q.where(Doc.video_id.in_(list(videos)))
        if tr:
            q = q.where(Doc.end >= tr[0], Doc.start <= tr[1])
        return np.array(s.scalars(q).all(), dtype=np.int64)

    def _vector(
        self,
        s: Session,
        tier: str,
        query: str,
        k: int,
        videos: Sequence[str] | None,
        tr: tuple[float, float] | None,
        cands: dict[int, _Cand],
    ) -> None:
        if not self.store.has_vectors(tier):
            return  # nothing embedded (yet): don't load a model to search an empty tier
        try:
            index = self.store.tier(tier)
            qv = self.query_vector(tier, query)
        except StageError as exc:
            log.info("tier %s skipped: %s", tier, exc)
            return
        if index.ntotal == 0:
            return
        subset = self._subset(s, tier, videos, tr)
        if subset is not None and len(subset) == 0:
            return
        scores, ids = index.search(qv, max(4 * k, 50), subset)
        for score, doc_id in zip(scores.tolist(), ids.tolist(), strict=True):
            c = cands.setdefault(int(doc_id), _Cand())
            c.cosine = max(c.cosine, float(score))

    def _keyword(
        self,
        s: Session,
        query: str,
        tiers: Sequence[str],
        k: int,
        videos: Sequence[str] | None,
        tr: tuple[float, float] | None,
        cands: dict[int, _Cand],
    ) -> None:
        """BM25 candidates over the text tiers (memindex.catalog.keywords): each query word in all its
        spellings; FTS5 folds accents itself, PostgreSQL through ``memindex_unaccent`` when it exists."""
        groups = [list(dict.fromkeys(spellings(w))) for w in dict.fromkeys(_WORD.findall(query))]
        text_tiers = [t for t in tiers if t != "visual"]
        if not any(groups) or not text_tiers:
            return
        filters, limit = KeywordFilters(text_tiers, videos, tr), max(10 * k, 100)
        if self.store.engine.dialect.name == "sqlite":
            ids = fts5_ids(s, groups, filters, limit)
        else:
            words = list(dict.fromkeys(v for g in groups for v in g))
            ids = postgres_ids(s, words, filters, limit, unaccent=self._pg_unaccent())
        for rank, doc_id in enumerate(ids):
            c = cands.setdefault(int(doc_id), _Cand())
            c.bm25_rank = rank

    def _pg_unaccent(self) -> bool:
        if self._unaccent is None:
            with self.store.engine.connect() as conn:
                found = conn.execute(text("SELECT to_regprocedure('memindex_unaccent(text)') IS NOT NULL")).scalar()
            self._unaccent = bool(found)
        return self._unaccent

    # -- scoring ---------------------------------------------------------------------------------------
    def _hydrate(
        self,
        s: Session,
        cands: dict[int, _Cand],
        q: QueryShape,
        videos: Sequence[str] | None,
        tr: tuple[float, float] | None,
        refs: dict[int, _Ref],
    ) -> list[Hit]:
        """Score the candidates of ready videos; their rows are read as column tuples (no ORM entities, no
        vectors), and ``refs`` keeps what narrowing and keyframes need of each."""
        if not cands:
            return []
        sel = (
            select(
                Doc.id, Doc.tier, Doc.ref_id, Doc.video_id, Doc.start, Doc.end, Doc.text, Video.uri, Video.created_at
            )
            .join(Video, Video.id == Doc.video_id)
            .where(Doc.id.in_(list(cands)), Video.status == READY)
        )
        if videos:
            sel = sel.where(Doc.video_id.in_(list(videos)))
        if tr:
            sel = sel.where(Doc.end >= tr[0], Doc.start <= tr[1])
        hits = []
        rows = s.execute(sel).all()
        low = self._low_quality(s, [r.ref_id for r in rows if r.tier == "speech"])
        for row in rows:
            refs[row.id] = _Ref(row.tier, row.ref_id, row.start, row.end)
            hit = _score(row, cands[row.id], q)
            if row.tier == "speech" and row.ref_id in low:
                hit.score *= LOW_QUALITY_FACTOR
                hit.signals["quality"] = "low"
            hit.signals["_order"] = row.created_at.timestamp() if row.created_at else 0
            hits.append(hit)
        return hits

    def _low_quality(self, s: Session, utterance_ids: list[int]) -> set[int]:
        """Utterances that ASR flagged ``quality = 'low'`` (the column exists from migration 0005 on)."""
        if not utterance_ids:
            return set()
        if self._quality is None:
            columns = {c["name"] for c in inspect(self.store.engine).get_columns("utterances")}
            self._quality = "quality" in columns
        if not self._quality:
            return set()
        sql = text("SELECT id FROM utterances WHERE quality = 'low' AND id IN :ids").bindparams(
            bindparam("ids", expanding=True)
        )
        return set(s.execute(sql, {"ids": utterance_ids}).scalars())

    def _attach_keyframe(self, s: Session, hit: Hit, ref: _Ref | None) -> None:
        """The hit's own keyframe (visual), its screen line's frame, else the video's frame nearest its middle;
        ``ref`` is None when the hit's doc is gone."""
        frame: Row[int, float, str] | None = None
        cols = (Frame.id, Frame.t, Frame.path)
        if ref is not None and hit.tier == "visual":
            frame = s.execute(select(*cols).where(Frame.id == ref.ref_id)).first()
        elif ref is not None and hit.tier == "screen":
            line_frame = s.execute(select(OcrLine.frame_id).where(OcrLine.id == ref.ref_id)).scalar()
            if line_frame:
                frame = s.execute(select(*cols).where(Frame.id == line_frame)).first()
        if frame is None:
            mid = (hit.start + hit.end) / 2
            nearest = select(*cols).where(Frame.video_id == hit.video_id).order_by(func.abs(Frame.t - mid)).limit(1)
            frame = s.execute(nearest).first()
        if frame is not None:
            frame_id, t, path = frame  # by position: ``Row.t`` is SQLAlchemy's own attribute
            hit.keyframe = {"frame_id": frame_id, "t": round(t, 3), "path": str(self.store.media.root / path)}


@dataclass(frozen=True)
class _Ref:
    """What narrowing and keyframes need of a hit's doc row."""

    tier: str
    ref_id: int
    start: float
    end: float


def _score(doc: _DocRow, c: _Cand, q: QueryShape) -> Hit:
    """A candidate's hit from its row (docs columns and the video's uri) and its channel scores."""
    level, modality = TIER_KINDS.get(doc.tier, ("segment", "text"))
    if doc.tier == "visual":
        score = float(np.clip((c.cosine - _VISUAL_FLOOR) / _VISUAL_SPAN, 0, 1)) * 0.8
        signals: dict[str, Any] = {"cosine": round(c.cosine, 4), "coverage": 0.0}
    else:
        score, signals = fuse(q, doc.tier, c.cosine, doc.text)
    if c.bm25_rank is not None:
        signals["bm25_rank"] = c.bm25_rank
    return Hit(
        video_id=doc.video_id,
        uri=doc.uri,
        start=doc.start,
        end=doc.end,
        level=level,
        tier=doc.tier.split(".")[0],
        modality=modality,
        score=score,
        text=doc.text,
        doc_id=doc.id,
        signals=signals,
    )


def _attach_confidence(hits: list[Hit], ranked: list[Hit]) -> None:
    """Each hit's margin over the best-scoring candidate at another moment, and its calibrated confidence."""
    for hit in hits:
        rival = next((r.score for r in ranked if r is not hit and not _same_moment(r, hit)), 0.0)
        hit.signals["margin"] = round(hit.score - rival, 4)
        hit.confidence = round(confidence(hit.score, hit.score - rival), 4)


def _same_moment(a: Hit, b: Hit) -> bool:
    return a.video_id == b.video_id and a.start <= b.end + 1.0 and b.start <= a.end + 1.0


def _narrow_to_words(s: Session, hit: Hit, doc: _Ref, text: str) -> None:
    """Tighten a speech hit to the run of words that spells the query (in order, skips allowed)."""
    query = [w for w in (norm_word(w) for w in _WORD.findall(text)) if w]
    if len(query) < 3:
        return
    words = s.execute(
        select(Word.start, Word.end, Word.text).where(Word.utterance_id == doc.ref_id).order_by(Word.start)
    ).all()
    norm = [norm_word(w.text) for w in words]
    best: tuple[int, float, int, int] | None = None  # (matched, -duration, i, j)
    for i, first in enumerate(norm):
        if not any(first == q or close(first, q) for q in query):
            continue
        matched, qi, j = 0, 0, i
        for j in range(i, min(len(norm), i + 2 * len(query))):
            hit_at = next((x for x in range(qi, len(query)) if norm[j] == query[x] or close(norm[j], query[x])), None)
            if hit_at is not None:
                matched, qi, last = matched + 1, hit_at + 1, j
                if qi == len(query):
                    break
        cand = (matched, -(words[last].end - words[i].start), i, last)
        if best is None or cand[:2] > best[:2]:
            best = cand
    if best is None or best[0] < max(3, int(0.6 * len(query))):
        return
    i, j = best[2], best[3]
    if words[j].end - words[i].start < (doc.end - doc.start) * 0.9:
        hit.start, hit.end, hit.level = words[i].start, words[j].end, "words"
        hit.text = " ".join(w.text.strip() for w in words[i : j + 1])


def _validate(query: str, k: int, tr: tuple[float, float] | None) -> None:
    if not isinstance(query, str) or not query.strip():
        raise QueryError("the query is empty")
    if len(query) > 2000:
        raise QueryError(f"the query is {len(query)} characters long; the limit is 2000")
    if not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise QueryError(f"k must be an integer from 1 to {MAX_K}, not {k!r}")
    if tr is not None and (len(tr) != 2 or tr[0] > tr[1]):
        raise QueryError(f"time_range must be (start, end) with start <= end, not {tr!r}")


def _tiers(tiers: Sequence[str] | None, levels: Sequence[str] | None) -> list[str]:
    wanted = list(tiers or DEFAULT_TIERS)
    wanted += [f"episodic.{lvl}" for lvl in (levels or ())]
    expanded = []
    for t in wanted:
        if t == "episodic" and not levels:
            expanded += [f"episodic.{lvl}" for lvl in ("shot", "event", "chapter", "video")]
        elif t != "episodic":
            expanded.append(t)
    unknown = [t for t in expanded if t not in TIER_KINDS]
    if unknown:
        raise QueryError(f"unknown tiers {unknown}; valid: {sorted(TIER_KINDS)} or 'episodic'")
    return list(dict.fromkeys(expanded))
