"""An answer's text and its citations, built from the evidence it uses: quotes come from what was said or
shown (``memindex.query.hygiene``), every moment the text uses is cited as ``[video m:ss-m:ss]`` and listed in
``Draft.cites``, and nothing else is. A model's answer is scrubbed and tied to the moments it names."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from memindex.query.hygiene import scrub, spoken_text
from memindex.query.tools import Evidence
from memindex.search import coverage

__all__ = ["Draft", "cite", "hms", "quote", "finest", "extractive", "from_model", "not_found", "FINE"]

FINE = ("speech", "screen")
_TIME = re.compile(r"(?<![\d:])(\d{1,2}):([0-5]\d)(?::([0-5]\d))?(?![\d:])")
_CONF = re.compile(r"[\s,;(]*\bconfidence\s*[:=]\s*(0(?:\.\d+)?|1(?:\.0+)?)\b[\s.)]*", re.I)


@dataclass
class Draft:
    """``text`` cites exactly ``cites``; ``grounds`` are the moments that must carry the question's terms
    (the anchor of "what is said after X", both ends of a span); by default the cited moments."""

    text: str
    cites: list[Evidence]
    grounds: list[tuple[Evidence, Sequence[str]]] | None = None  # with the terms each must carry
    missing: str = ""  # the strategy looked and found nothing: why ("no mention", "nothing said or shown then")

    def support_on(self, terms: Sequence[str]) -> list[tuple[Evidence, Sequence[str]]]:
        return [(e, terms) for e in self.cites] if self.grounds is None else self.grounds


def hms(t: float) -> str:
    m, s = divmod(max(0.0, t), 60)
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{int(s):02d}" if h else f"{m}:{int(s):02d}"


def cite(e: Evidence) -> str:
    return f"{os.path.basename(e.uri) or e.video_id} {hms(e.start)}-{hms(e.end)}"


def quote(e: Evidence, terms: Sequence[str] = (), words: int = 24) -> str:
    """The spoken or on-screen words of ``e`` in quotes (the window holding the terms), or what it is."""
    text = spoken_text(e, terms, words).strip()
    if text:
        return f'"{text}"'
    return "a keyframe match" if e.tier == "visual" else f"a {e.level} segment"


def finest(top: Evidence, pool: Sequence[Evidence], terms: Sequence[str]) -> Evidence:
    """The finest moment that says what ``top`` says: ``top`` itself when it is a speech or screen row,
    else the speech/screen row inside it holding the most key terms (when it holds as many as ``top``)."""
    if top.tier in FINE:
        return top
    inside = [
        e
        for e in pool
        if e.tier in FINE and e.text.strip() and e.overlaps(top, slack=0.5) and e.duration <= max(30.0, top.duration)
    ]
    if not inside:
        return top
    best = max(inside, key=lambda e: (coverage(list(terms), e.text), e.score, -e.start))
    own = coverage(list(terms), spoken_text(top, terms, 24)) if terms else 0.0
    return best if not terms or coverage(list(terms), best.text) >= own else top


def extractive(terms: Sequence[str], ranked: Sequence[Evidence]) -> Draft | None:
    """Without an LLM: the best evidence's words (at its finest level) with where they are."""
    if not ranked:
        return None
    pick = finest(ranked[0], ranked, terms)
    return Draft(f"{quote(pick, terms)} [{cite(pick)}]", [pick])


def from_model(text: str, ranked: Sequence[Evidence], terms: Sequence[str]) -> tuple[Draft | None, float | None]:
    """A model's final answer: internal labels scrubbed, a trailing ``confidence: X`` taken out (returned),
    cited to the moments whose times it names (else the best evidence), citations appended if missing."""
    conf = None
    m = _CONF.search(text)
    if m:
        conf, text = float(m.group(1)), (text[: m.start()] + " " + text[m.end() :])
    body = scrub(text).strip()
    if not body or not ranked:
        return None, conf
    named = [_at(t, ranked) for t in _times(body)]
    cites = list({e.key(): e for e in named if e is not None}.values()) or [finest(ranked[0], ranked, terms)]
    if not all(cite(e) in body for e in cites):
        body = f"{body} " + " ".join(f"[{cite(e)}]" for e in cites if cite(e) not in body)
    return Draft(body, cites), conf


def _times(text: str) -> list[float]:
    out = []
    for m in _TIME.finditer(text):
        a, b, c = (int(g) if g else None for g in m.groups())
        out.append(a * 3600 + b * 60 + c if c is not None else a * 60 + b)  # type: ignore[operator]
    return out


def _at(t: float, ranked: Sequence[Evidence]) -> Evidence | None:
    """The finest evidence that holds time ``t`` (m:ss is truncated, so one second of slack)."""
    holding = [e for e in ranked if e.start - 1.0 <= t <= e.end + 1.0]
    return min(holding, key=lambda e: (max(0.0, e.start - t - 1.0, t - e.end), e.duration, -e.score), default=None)


def not_found(what: str, candidates: Sequence[Evidence], terms: Sequence[str], reason: str = "") -> str:
    """The abstention: nothing supports the question; the nearest moments are listed, marked as not answers."""
    head = f"Not found in this store: nothing in the evidence supports {what!r}" + (f" ({reason})." if reason else ".")
    near = [f"{quote(e, terms, 14)} [{cite(e)}]" for e in _distinct(candidates)[:3]]
    return head + (" Nearest candidates (not answers): " + "; ".join(near) if near else "")


def _distinct(items: Sequence[Evidence]) -> list[Evidence]:
    out: list[Evidence] = []
    for e in items:
        if not any(e.overlaps(o) and e.tier == o.tier for o in out):
            out.append(e)
    return out
