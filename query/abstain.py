"""Does the evidence support the question? An answer is given only when the moments it rests on carry the
question: its content terms are found in what is said or shown there (lexical coverage), its meaning is
close (the search hit's calibrated ``confidence`` when the search provides one, else a fixed mapping of the
text cosine), and other tiers point at the same moment (agreement). The three make a raw support score;
``confidence`` is that score mapped onto P(answer right) by Platt scaling, both fitted by
``benchmarks/abstention.py`` on the tuning split of answerable and unanswerable questions. Below
``THRESHOLD`` the agent says "not found in this store" and lists the nearest candidates as such."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from memindex.query.hygiene import norm, spoken_text
from memindex.query.tools import Evidence
from memindex.search import phrase_match

__all__ = [
    "Support",
    "support",
    "covered",
    "same_word",
    "calibrate",
    "hit_confidence",
    "similarity",
    "THRESHOLD",
    "WEIGHTS",
    "PLATT",
]

# Fitted by benchmarks/abstention.py (tuning split); see benchmarks/README.md "Abstention".
WEIGHTS = {"lexical": 0.6, "dense": 0.15, "retrieval": 0.15, "agreement": 0.1}
PLATT = (6.41, -3.745)  # confidence = sigmoid(a * raw + b)
THRESHOLD = 0.6
_COS_FLOOR, _COS_SPAN = 0.15, 0.45  # text cosine (MiniLM): ~0.15 unrelated, ~0.6 the same sentence
_FINE = ("speech", "screen")
_WORD = re.compile(r"[\w']+")
_SUFFIXES = frozenset(
    {"s", "es", "ed", "d", "ing", "er", "ers", "r", "rs", "ly", "'s", "ies", "ied", "ier", "n", "en", "ment", "ments"}
)
_ALIAS = {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint", "1": "one", "2": "two", "3": "three"}


@dataclass(frozen=True)
class Support:
    lexical: float = 0.0
    dense: float = 0.0
    retrieval: float = 0.0
    agreement: float = 0.0
    phrase: float = 1.0
    raw: float = 0.0
    confidence: float = 0.0

    def to_dict(self) -> dict:
        return {
            k: round(getattr(self, k), 3)
            for k in ("lexical", "dense", "retrieval", "agreement", "phrase", "raw", "confidence")
        }


def calibrate(raw: float) -> float:
    a, b = PLATT
    return 1.0 / (1.0 + math.exp(-(a * raw + b)))


def similarity(e: Evidence) -> float | None:
    """Meaning: the text cosine of a search hit mapped onto 0..1 (CLIP keyframes: the search's own 0..0.8
    mapping); None for rows a tool read, which no search scored."""
    cos = e.signals.get("cosine") if e.source == "search" else None
    if cos is None:
        return None
    if e.tier == "visual":
        return min(1.0, max(0.0, e.score / 0.8))
    return min(1.0, max(0.0, (float(cos) - _COS_FLOOR) / _COS_SPAN))


def hit_confidence(e: Evidence) -> float | None:
    """The search's calibrated ``Hit.confidence`` that this is the moment asked for, when it sets one; else
    our own similarity. None for rows a tool read (there ``confidence`` is only the dataclass default)."""
    if e.source != "search":
        return None
    conf = getattr(e, "confidence", None)
    if isinstance(conf, (int, float)) and not isinstance(conf, bool):
        return float(min(1.0, max(0.0, conf)))
    return similarity(e)


def same_word(word: str, term: str) -> bool:
    """The same word up to case, accents and an inflection (credit/credited, city/cities, change/changing; not
    change/channel), an abbreviation (Mr./mister), or a part of a run-together on-screen token
    (MUSICANDSOUND holds sound)."""
    a, b = (_ALIAS.get(x, x) for x in (_fold(norm(word)), _fold(term.lower())))
    if a == b:
        return True
    short, long_ = sorted((a, b), key=len)
    if len(short) >= 4 and len(long_) >= 10 and short in long_:
        return True
    bases = {short, short[:-1] if short[-1:] in ("e", "y") else short}
    return len(short) >= 3 and any(long_.startswith(x) and long_[len(x) :] in _SUFFIXES for x in bases)


def _fold(word: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


def covered(terms: Sequence[str], text: str) -> float:
    """Share of ``terms`` found in ``text`` (``same_word``)."""
    if not terms:
        return 0.0
    words = set(_WORD.findall(text.lower()))
    return sum(1 for t in terms if any(same_word(w, t) for w in words)) / len(terms)


def support(
    grounds: Sequence[tuple[Evidence, Sequence[str]]], phrases: Sequence[str], pool: Sequence[Evidence]
) -> Support:
    """The weakest ground's support: every moment the answer rests on must carry its part of the question
    (``grounds``: each moment with the terms it must carry)."""
    if not grounds:
        return Support()
    return min((_one(terms, phrases, g, pool) for g, terms in grounds), key=lambda s: s.raw)


def _one(terms: Sequence[str], phrases: Sequence[str], g: Evidence, pool: Sequence[Evidence]) -> Support:
    near = [e for e in pool if e.overlaps(g, slack=1.0)]
    fine = [g, *(e for e in near if e.tier in _FINE and e.duration <= max(30.0, g.duration))]
    text = " ".join(spoken_text(e, terms, 24) for e in fine)
    lexical = covered(terms, text) if terms else 1.0
    phrase = 1.0
    if phrases:
        words = [[w for w in (norm(x) for x in p.split()) if w] for p in phrases]
        phrase = max(phrase_match(w, text) if len(w) > 1 else float(w[0] in text.lower()) for w in words if w)
    here = [e for e in [g, *near] if e.duration <= max(30.0, 2 * g.duration)]
    # a row read by a tool has no search score of its own: half of what its words say
    dense = max((c for c in map(similarity, here) if c is not None), default=0.5 * lexical)
    retrieval = max((c for c in map(hit_confidence, here) if c is not None), default=0.5 * lexical)
    tiers = (
        {e.tier for e in near if e.source == "search" and covered(terms, spoken_text(e, terms, 24)) >= 0.5}
        if terms
        else set()
    )
    agreement = min(1.0, max(0, len(tiers | {g.tier}) - 1) / 2)
    w = WEIGHTS
    raw = w["lexical"] * lexical * phrase + w["dense"] * dense + w["retrieval"] * retrieval + w["agreement"] * agreement
    return Support(lexical, dense, retrieval, agreement, phrase, raw, calibrate(raw))
