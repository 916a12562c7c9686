"""Temporal structure of a question, resolved later against the catalog's times (not embeddings):
"after/before X", "the first/last time X", "how many times X", "between 2:00 and 5:00", and the span
between two moments ("how long between X and Y")."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Temporal", "parse_temporal", "parse_time"]

_T = r"(\d{1,2}:\d{2}(?::\d{2})?(?:\.\d+)?|\d+(?:\.\d+)?\s*(?:s|sec|secs|seconds?|m|min|mins|minutes?)\b)"
_RANGE = re.compile(rf"\b(?:between|from)\s+{_T}\s+(?:and|to|-)\s+{_T}", re.I)
_AT = re.compile(rf"\b(after|before|at|around)\s+{_T}", re.I)
_COUNT = re.compile(r"\bhow\s+(?:many\s+times|often)\b", re.I)
_FIRST = re.compile(r"\b(?:the\s+)?(first|earliest)(?:\s+time)?\b", re.I)
_LAST = re.compile(r"\b(?:the\s+)?(last|final|latest)(?:\s+time)?\b", re.I)
_REL = re.compile(
    r"\b(?:right\s+|just\s+|immediately\s+|directly\s+)?(after|before|following|preceding|"
    r"prior\s+to)\b",
    re.I,
)
_SPAN = re.compile(r"\bhow\s+(?:long|much\s+time|many\s+(?:seconds|minutes))\b.*?\bbetween\b(.+?)\band\b(.+)", re.I)
_QUOTE = re.compile(r"[\"“”]([^\"“”]{3,}?)[\"“”]|(?<!\w)'(.{3,}?)'(?!\w)")


@dataclass(frozen=True)
class Temporal:
    """``relation``: range, after, before, first, last, count, span. ``anchor`` is the X of after/before/
    first/last/count; ``anchor2`` the second moment of a span; ``target`` what is asked about it."""

    relation: str
    anchor: str = ""
    anchor2: str = ""
    target: str = ""
    range: tuple[float, float] | None = None


def parse_time(text: str) -> float:
    """'2:05' → 125, '1:02:03' → 3723, '90 s' → 90, '2 min' → 120."""
    text = text.strip().lower()
    if ":" in text:
        secs = 0.0
        for part in text.split(":"):
            secs = secs * 60 + float(part)
        return secs
    num = float(re.match(r"[\d.]+", text).group())  # type: ignore[union-attr]
    return num * 60 if re.search(r"m", text) else num


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip(" ?.,;:!")).strip()


def parse_temporal(question: str) -> Temporal | None:
    q = question.strip()
    m = _SPAN.search(q)
    if m and not _RANGE.search(q):
        return Temporal("span", anchor=_clean(m.group(1)), anchor2=_clean(m.group(2)))
    m = _RANGE.search(q)
    if m:
        a, b = sorted((parse_time(m.group(1)), parse_time(m.group(2))))
        return Temporal("range", target=_clean(q[: m.start()] + " " + q[m.end() :]), range=(a, b))
    m = _AT.search(q)
    if m:
        t, rel = parse_time(m.group(2)), m.group(1).lower()
        rng = {"after": (t, float("inf")), "before": (0.0, t)}.get(rel, (max(0.0, t - 3), t + 3))
        return Temporal("range", target=_clean(q[: m.start()] + " " + q[m.end() :]), range=rng)
    if _COUNT.search(q):
        return Temporal("count", anchor=_clean(_COUNT.split(q, 1)[1]))
    m = _REL.search(q)
    if m:
        rel = m.group(1).lower()
        rel = "after" if rel in ("after", "following") else "before"
        return Temporal(rel, anchor=_clean(q[m.end() :]), target=_clean(q[: m.start()]))
    for pattern, rel in ((_FIRST, "first"), (_LAST, "last")):
        m = pattern.search(q)
        if m:
            return Temporal(rel, anchor=_clean(q[: m.start()] + " " + q[m.end() :]))
    return None


def quoted(text: str) -> list[str]:
    """Phrases in quotes: they must appear verbatim."""
    return [m.group(1) or m.group(2) for m in _QUOTE.finditer(text)]
