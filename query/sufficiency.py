"""Is the evidence enough? Scored after every step from four signals (Deep Video Discovery / VideoLucy style
explicit sufficiency, computed without an LLM):

- coverage: share of the question's key terms found in the best evidence;
- margin: lead of the best evidence over the best *other* moment (not overlapping it);
- agreement: other tiers, modalities or levels that point at the same interval;
- confinement: the evidence sits in a short interval (a moment, not a whole chapter).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from memindex.query.tools import Evidence
from memindex.search import coverage

__all__ = ["Verdict", "judge", "THRESHOLD"]

THRESHOLD = 0.62
WEIGHTS = {"coverage": 0.35, "margin": 0.2, "agreement": 0.1, "confinement": 0.1, "score": 0.25}


@dataclass
class Verdict:
    confidence: float = 0.0
    sufficient: bool = False
    signals: dict[str, float] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "confidence": round(self.confidence, 3),
            "sufficient": self.sufficient,
            "signals": {k: round(v, 3) for k, v in self.signals.items()},
            "reasons": self.reasons,
        }


def judge(terms: Sequence[str], ranked: Sequence[Evidence], phrases: Sequence[str] = ()) -> Verdict:
    """Judge the best of ``ranked`` (best first) against the rest."""
    if not ranked:
        return Verdict(reasons=["no evidence"])
    top = ranked[0]
    cov = coverage(list(terms), top.text) if terms else 0.5
    if phrases and not top.signals.get("phrase"):
        cov = min(cov, 0.5)
    rival = next((e.score for e in ranked[1:] if not e.overlaps(top, slack=1.0)), 0.0)
    margin = min(1.0, max(0.0, top.score - rival) / 0.15)
    kinds = {(e.tier, e.level) for e in ranked[1:] if e.source == "search" and e.overlaps(top, slack=2.0)}
    kinds.discard((top.tier, top.level))
    agreement = min(1.0, len(kinds) / 2)
    confinement = 1.0 if top.duration <= 30 else max(0.0, 1 - (top.duration - 30) / 270)
    signals = {
        "coverage": cov,
        "margin": margin,
        "agreement": agreement,
        "confinement": confinement,
        "score": min(1.0, top.score),
    }
    conf = sum(WEIGHTS[k] * v for k, v in signals.items())
    reasons = []
    if cov < 0.99:
        reasons.append(f"{cov:.0%} of the key terms found")
    if margin < 0.34:
        reasons.append("a rival moment scores nearly as high")
    if confinement < 0.5:
        reasons.append("evidence spans a long interval")
    sufficient = conf >= THRESHOLD and cov >= 0.99 and confinement >= 0.5
    return Verdict(confidence=round(min(1.0, conf), 4), sufficient=sufficient, signals=signals, reasons=reasons)
