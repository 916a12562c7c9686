"""The deterministic planner: from a question, which tiers and levels to search, which terms must appear,
and which temporal relation (if any) the catalog's times must resolve."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from memindex.query.temporal import Temporal, parse_temporal, quoted
from memindex.search import terms as content_terms

__all__ = ["Plan", "Catalog", "make_plan", "key_terms"]

# Words that say how to look, not what to find: dropped from the must-appear terms.
_META = frozenset(
    "say said says saying speak speaks spoke spoken speaker speakers someone somebody anyone mention mentions "
    "mentioned talk talks talking line lines read reads reading hear heard word words phrase quote quoted "
    "moment moments time times happen happens happened appear appears appeared shown show shows screen "
    "on-screen text written video clip part scene voice next come comes comes does follow follows followed "
    "exactly right just immediately directly much many long often seconds minutes point place reader narrator "
    "person man woman someone's same other answer answers reply replies respond responds "
    "response caller callers about being explain explains explained describe describes described discuss "
    "discusses discussed credit credits credited".split()
)
_SPEECH = frozenset(
    "say said says speak speaks spoken speaker mention mentioned talk voice hear heard read reads "
    "line quote words introduce introduces introduced asks ask call caller answer".split()
)
_SCREEN = frozenset("screen on-screen title credits written caption sign displayed shown banner".split())
COARSE = ("video", "chapter", "event")
FINE = ("shot",)


@dataclass(frozen=True)
class Catalog:
    """What the store holds, so the plan only uses tiers and levels with data."""

    tiers: dict[str, dict[str, int]] = field(default_factory=dict)
    videos: tuple[str, ...] = ()

    @classmethod
    def of(cls, index: Any) -> Catalog:
        vids = tuple(v["id"] for v in index.videos() if v.get("status") == "ready")
        return cls(tiers=index.store.tier_counts(), videos=vids)

    def has(self, tier: str) -> bool:
        c = self.tiers.get(tier, {})
        if tier == "visual":
            return c.get("embedded", 0) > 0
        return c.get("rows", 0) > 0


@dataclass(frozen=True)
class Plan:
    question: str
    relation: str  # locate | range | after | before | first | last | count | span
    query: str  # what to search for (the anchor of after/before/first/last/count)
    terms: tuple[str, ...]  # key terms that must appear in the evidence
    tiers: tuple[str, ...]  # base tiers with data, in the order the question's cues suggest
    coarse: tuple[str, ...] = ()  # episodic levels with data, coarsest first
    fine: tuple[str, ...] = ()
    target: str = ""  # what is asked about the anchor (after/before)
    target_terms: tuple[str, ...] = ()
    query2: str = ""  # the second moment of a span
    range: tuple[float, float] | None = None
    videos: tuple[str, ...] | None = None
    modality: str | None = None  # speech | screen when the question says which
    phrases: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "relation": self.relation,
            "query": self.query,
            "terms": list(self.terms),
            "tiers": list(self.tiers),
            "levels": [*self.coarse, *self.fine],
            "target": self.target,
            "query2": self.query2,
            "range": list(self.range) if self.range else None,
            "modality": self.modality,
        }


def key_terms(text: str) -> tuple[str, ...]:
    """Content words minus the words that only say how to look (said, line, screen, ...)."""
    words = [w for w in content_terms(text) if w not in _META]
    return tuple(dict.fromkeys(words))


def _modality(question: str) -> str | None:
    words = set(re.findall(r"[\w'-]+", question.lower()))
    speech, screen = bool(words & _SPEECH), bool(words & _SCREEN) or "on screen" in question.lower()
    if screen and not speech:
        return "screen"
    if speech and not screen:
        return "speech"
    return None


def _search_text(text: str) -> str:
    """The question without its question words and how-to-look words, for the search engine."""
    kept = key_terms(text)
    return " ".join(kept) if kept else text


def make_plan(question: str, catalog: Catalog, videos: Sequence[str] | None = None) -> Plan:
    tmp = parse_temporal(question) or Temporal("locate")
    modality = _modality(question)
    base = [t for t in ("speech", "screen", "visual") if catalog.has(t)]
    if modality and catalog.has(modality):
        base = [modality] + ([] if modality in ("speech", "screen") else [t for t in base if t != modality])
    coarse = tuple(lvl for lvl in COARSE if catalog.has(f"episodic.{lvl}"))
    fine = tuple(lvl for lvl in FINE if catalog.has(f"episodic.{lvl}"))
    anchor = (
        tmp.anchor
        if tmp.relation in ("after", "before", "first", "last", "count", "span")
        else (tmp.target if tmp.relation == "range" else question)
    )
    phrases = tuple(quoted(question))
    query = _search_text(anchor) if anchor else ""
    return Plan(
        question=question,
        relation=tmp.relation,
        query=query,
        terms=key_terms(anchor) if anchor else (),
        tiers=tuple(base) or ("speech", "screen"),
        coarse=coarse,
        fine=fine,
        target=tmp.target,
        target_terms=key_terms(tmp.target),
        query2=_search_text(tmp.anchor2) if tmp.anchor2 else "",
        range=tmp.range,
        videos=tuple(videos) if videos else None,
        modality=modality,
        phrases=phrases,
    )
