"""Hybrid retrieval over the tiers: FAISS vectors plus BM25 keyword candidates, fused into one ranking.

Text tiers (speech, screen, episodic, semantic) share one text encoder and one keyword index, so their
scores are comparable: ``0.6 * cosine + 0.4 * term coverage``. The visual tier's CLIP cosine is mapped
onto the same 0..1 scale by a fixed calibration. Speech hits are then narrowed to the words that match.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from sqlalchemy import func, select, text

from memindex.catalog.models import READY, Doc, Frame, OcrLine, Video, Word
from memindex.errors import QueryError, StageError
from memindex.store import Store

__all__ = ["Hit", "Searcher", "TIER_KINDS", "terms"]

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
_WORD = re.compile(r"[\w']+", re.UNICODE)
_STOP = frozenset(
    "a an the and or of to in on at for by with is are was were be been it this that these those i you he "
    "she we they my your his her our their what which who whom when where why how do does did not no so as "
    "from up out if then than there here can will would should could me him them us".split()
)
_VISUAL_FLOOR, _VISUAL_SPAN = 0.18, 0.17  # CLIP text-image cosine: ~0.18 unrelated, ~0.35 a clear match


def terms(query: str) -> list[str]:
    """Content words of a query (lower case, stop words dropped unless nothing else is left)."""
    words = [w.lower().strip("'") for w in _WORD.findall(query)]
    content = [w for w in words if w and w not in _STOP]
    return content or [w for w in words if w]


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
    keyframe: dict | None = None
    doc_id: int = 0
    signals: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["start"], out["end"], out["score"] = round(self.start, 3), round(self.end, 3), round(self.score, 4)
        return out


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

    def query_vector(self, tier: str, query: str) -> np.ndarray:
        """The query's vector in ``tier``'s space: encoded once per encoder and kept in a small LRU cache
        (speech, screen and the episodic tiers share one text encoder)."""
        enc = self.store.encoder_for(tier)
        key = (enc.name, query)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        vec = (enc.embed_text([query]) if tier == "visual" else enc.embed([query]))[0]  # type: ignore[union-attr]
        with self._lock:
            self._cache[key] = vec
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return vec

    def search(self, query: str, *, k: int = 10, tiers: Sequence[str] | None = None,
               levels: Sequence[str] | None = None, videos: Sequence[str] | None = None,
               time_range: tuple[float, float] | None = None) -> list[Hit]:
        _validate(query, k, time_range)
        wanted = _tiers(tiers, levels)
        qterms = terms(query)
        cands: dict[int, _Cand] = {}
        for tier in wanted:
            self._vector(tier, query, k, videos, time_range, cands)
        self._keyword(query, wanted, k, videos, time_range, cands)
        hits = self._hydrate(cands, qterms, videos, time_range, query)
        hits.sort(key=lambda h: (-h.score, h.signals.get("_order", 0), h.start))
        hits = hits[:k]
        self._narrow(hits, query)
        for h in hits:
            h.signals.pop("_order", None)
            self._attach_keyframe(h)
        return hits

    def _narrow(self, hits: list[Hit], query: str) -> None:
        """Speech hits of the final ranking, narrowed to the words that spell the query."""
        with self.store.Session() as s:
            for hit in hits:
                if hit.tier == "speech":
                    doc = s.get(Doc, hit.doc_id)
                    if doc is not None:
                        _narrow_to_words(s, hit, doc, query)

    # -- candidates ------------------------------------------------------------------------------------
    def _subset(self, tier: str, videos: Sequence[str] | None, tr: tuple[float, float] | None) -> np.ndarray | None:
        if not videos and not tr:
            return None
        q = select(Doc.id).where(Doc.tier == tier)
        if videos:
            q = q.where(Doc.video_id.in_(list(videos)))
        if tr:
            q = q.where(Doc.end >= tr[0], Doc.start <= tr[1])
        with self.store.Session() as s:
            return np.array(s.scalars(q).all(), dtype=np.int64)

    def _vector(self, tier: str, query: str, k: int, videos, tr, cands: dict[int, _Cand]) -> None:
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
        subset = self._subset(tier, videos, tr)
        if subset is not None and len(subset) == 0:
            return
        scores, ids = index.search(qv, max(4 * k, 50), subset)
        for score, doc_id in zip(scores.tolist(), ids.tolist(), strict=True):
            c = cands.setdefault(int(doc_id), _Cand())
            c.cosine = max(c.cosine, float(score))

    def _keyword(self, query: str, tiers: Sequence[str], k: int, videos, tr, cands: dict[int, _Cand]) -> None:
        words = [w for w in (w.lower() for w in _WORD.findall(query)) if w]
        if not words:
            return
        text_tiers = [t for t in tiers if t != "visual"]
        if not text_tiers:
            return
        engine = self.store.engine
        params: dict[str, object] = {"lim": max(10 * k, 100)}
        if engine.dialect.name == "sqlite":
            params["q"] = " OR ".join('"' + w.replace('"', '""') + '"' for w in words)
            base = ("SELECT d.id FROM docs_fts JOIN docs d ON d.id = docs_fts.rowid "
                    "WHERE docs_fts MATCH :q")
            order = " ORDER BY bm25(docs_fts) LIMIT :lim"
        else:
            params["q"] = " | ".join(re.sub(r"[^\w]", "", w) for w in words if re.sub(r"[^\w]", "", w))
            base = "SELECT d.id FROM docs d WHERE to_tsvector('simple', d.text) @@ to_tsquery('simple', :q)"
            order = " ORDER BY ts_rank(to_tsvector('simple', d.text), to_tsquery('simple', :q)) DESC LIMIT :lim"
        where, extra = _sql_filters(text_tiers, videos, tr)
        params.update(extra)
        with self.store.Session() as s:
            ids = s.execute(text(base + where + order), params).scalars().all()
        for rank, doc_id in enumerate(ids):
            c = cands.setdefault(int(doc_id), _Cand())
            c.bm25_rank = rank

    # -- scoring ---------------------------------------------------------------------------------------
    def _hydrate(self, cands: dict[int, _Cand], qterms: list[str], videos, tr, query: str) -> list[Hit]:
        query_words = [w for w in (_norm(w) for w in _WORD.findall(query)) if w]
        if not cands:
            return []
        q = (select(Doc, Video.uri, Video.created_at).join(Video, Video.id == Doc.video_id)
             .where(Doc.id.in_(list(cands)), Video.status == READY))
        if videos:
            q = q.where(Doc.video_id.in_(list(videos)))
        if tr:
            q = q.where(Doc.end >= tr[0], Doc.start <= tr[1])
        hits = []
        with self.store.Session() as s:
            for doc, uri, created in s.execute(q).all():
                hit = self._score(doc, uri, cands[doc.id], qterms, query_words)
                hit.signals["_order"] = created.timestamp() if created else 0
                hits.append(hit)
        return hits

    def _score(self, doc: Doc, uri: str, c: _Cand, qterms: list[str], query_words: list[str]) -> Hit:
        level, modality = TIER_KINDS.get(doc.tier, ("segment", "text"))
        if doc.tier == "visual":
            score = float(np.clip((c.cosine - _VISUAL_FLOOR) / _VISUAL_SPAN, 0, 1)) * 0.8
            cover = 0.0
        else:
            cover = coverage(qterms, doc.text)
            phrase = phrase_match(query_words, doc.text)
            score = 0.5 * c.cosine + 0.3 * cover + 0.2 * phrase
        signals = {"cosine": round(c.cosine, 4), "coverage": round(cover, 3)}
        if doc.tier != "visual":
            signals["phrase"] = round(phrase, 3)
        if c.bm25_rank is not None:
            signals["bm25_rank"] = c.bm25_rank
        return Hit(video_id=doc.video_id, uri=uri, start=doc.start, end=doc.end, level=level, tier=doc.tier.split(
            ".")[0], modality=modality, score=score, text=doc.text, doc_id=doc.id, signals=signals)

    def _attach_keyframe(self, hit: Hit) -> None:
        mid = (hit.start + hit.end) / 2
        with self.store.Session() as s:
            doc = s.get(Doc, hit.doc_id)  # None when the video was deleted since the hit was ranked
            if hit.tier == "visual" and doc is not None:
                frame = s.get(Frame, doc.ref_id)
            elif hit.tier == "screen" and doc is not None:
                line = s.get(OcrLine, doc.ref_id)
                frame = s.get(Frame, line.frame_id) if line and line.frame_id else None
            else:
                frame = None
            if frame is None:
                frame = s.scalars(select(Frame).where(Frame.video_id == hit.video_id)
                                  .order_by(func.abs(Frame.t - mid)).limit(1)).first()
        if frame is not None:
            hit.keyframe = {"frame_id": frame.id, "t": round(frame.t, 3),
                            "path": str(self.store.media.root / frame.path)}


def coverage(qterms: list[str], doc_text: str) -> float:
    """Share of the query's content words found in the text (prefix match, so 'movies' finds 'movie')."""
    if not qterms:
        return 0.0
    words = {w.lower().strip("'") for w in _WORD.findall(doc_text)}
    found = sum(1 for t in qterms if t in words or any(_close(t, w) for w in words))
    return found / len(qterms)


def phrase_match(query_words: list[str], doc_text: str) -> float:
    """Share of the query's words (stop words included) found in the text in the query's order."""
    if len(query_words) < 2:
        return 0.0
    doc = [w for w in (_norm(w) for w in _WORD.findall(doc_text)) if w]
    matched, pos = 0, 0
    for q in query_words:
        found = next((j for j in range(pos, len(doc)) if doc[j] == q or _close(doc[j], q)), None)
        if found is not None:
            matched, pos = matched + 1, found + 1
    return matched / len(query_words)


def _close(a: str, b: str) -> bool:
    if len(a) < 4 or len(b) < 4:
        return False
    return a.startswith(b[:4]) and b.startswith(a[:4]) and abs(len(a) - len(b)) <= 2


def _norm(word: str) -> str:
    return word.lower().strip(" .,;:!?\"'-")


def _narrow_to_words(s, hit: Hit, doc: Doc, text: str) -> None:
    """Tighten a speech hit to the run of words that spells the query (in order, skips allowed)."""
    query = [w for w in (_norm(w) for w in _WORD.findall(text)) if w]
    if len(query) < 3:
        return
    words = s.scalars(select(Word).where(Word.utterance_id == doc.ref_id).order_by(Word.start)).all()
    norm = [_norm(w.text) for w in words]
    best: tuple[int, float, int, int] | None = None  # (matched, -duration, i, j)
    for i, first in enumerate(norm):
        if not any(first == q or _close(first, q) for q in query):
            continue
        matched, qi, j = 0, 0, i
        for j in range(i, min(len(norm), i + 2 * len(query))):
            hit_at = next((x for x in range(qi, len(query)) if norm[j] == query[x] or _close(norm[j], query[x])), None)
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


def _sql_filters(tiers: Sequence[str], videos, tr) -> tuple[str, dict[str, object]]:
    params: dict[str, object] = {f"t{i}": t for i, t in enumerate(tiers)}
    where = " AND d.tier IN (" + ", ".join(f":t{i}" for i in range(len(tiers))) + ")"
    if videos:
        params.update({f"v{i}": v for i, v in enumerate(videos)})
        where += " AND d.video_id IN (" + ", ".join(f":v{i}" for i in range(len(videos))) + ")"
    if tr:
        params.update({"tr0": tr[0], "tr1": tr[1]})
        where += ' AND d."end" >= :tr0 AND d.start <= :tr1'
    return where, params
