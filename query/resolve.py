"""Temporal resolution with the catalog's times: tighten an anchor to its words, read what is said or shown
right after/before it, count occurrences. Pure functions over tool results, easy to test."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace

from memindex.query.hygiene import matches
from memindex.query.hygiene import norm as _norm
from memindex.query.tools import Evidence

__all__ = ["tighten", "neighbour_words", "timeline", "count_occurrences", "read_spans", "matches"]

_WORD = re.compile(r"[\w']+")
_GAP, _MAX_SPAN = 1.0, 12.0


def _words(raw: Sequence[dict]) -> list[dict]:
    out = []
    for u in raw:
        ws = u.get("words") or [{"start": u["start"], "end": u["end"], "text": u["text"]}]
        out += [w for w in ws if _norm(w["text"])]
    return sorted(out, key=lambda w: w["start"])


def tighten(anchor: Evidence, raw: Sequence[dict], terms: Sequence[str]) -> Evidence:
    """The shortest run of words inside the anchor that holds the most key terms."""
    words = [w for w in _words(raw) if w["start"] >= anchor.start - 0.1 and w["end"] <= anchor.end + 0.1]
    hits = [i for i, w in enumerate(words) if any(matches(w["text"], t) for t in terms)]
    if not hits:
        return anchor
    best: tuple[int, float, int, int] | None = None
    for a in hits:
        seen: set[str] = set()
        for b in hits[hits.index(a) :]:
            seen |= {t for t in terms if matches(words[b]["text"], t)}
            cand = (len(seen), -(words[b]["end"] - words[a]["start"]), a, b)
            if best is None or cand[:2] > best[:2]:
                best = cand
    assert best is not None
    a, b = best[2], best[3]
    text = " ".join(w["text"].strip() for w in words[a : b + 1])
    return replace(
        anchor, start=words[a]["start"], end=words[b]["end"], text=text, level="words", tier="speech", modality="speech"
    )


def neighbour_words(raw: Sequence[dict], anchor: Evidence, *, after: bool, uri: str) -> Evidence | None:
    """The phrase spoken right after (or before) the anchor: words up to a pause or a sentence end."""
    words = _words(raw)
    if after:
        seq = [w for w in words if w["start"] >= anchor.end - 0.05]
    else:
        seq = [w for w in reversed(words) if w["end"] <= anchor.start + 0.05]
    picked: list[dict] = []
    for w in seq:
        if picked:
            prev = picked[-1]
            gap = w["start"] - prev["end"] if after else prev["start"] - w["end"]
            span = (w["end"] - picked[0]["start"]) if after else (picked[0]["end"] - w["start"])
            ends = (prev if after else w)["text"].strip().endswith((".", "?", "!", ";", ":"))
            if gap > _GAP or span > _MAX_SPAN or (ends and len(picked) >= 3):
                break
        picked.append(w)
    if not picked:
        return None
    picked.sort(key=lambda w: w["start"])
    return Evidence(
        video_id=anchor.video_id,
        uri=uri,
        start=picked[0]["start"],
        end=picked[-1]["end"],
        level="words",
        tier="speech",
        modality="speech",
        score=0.0,
        text=" ".join(w["text"].strip() for w in picked),
        source="transcript",
    )


def timeline(items: Sequence[Evidence], anchor: Evidence, *, after: bool) -> Evidence | None:
    """The on-screen text (all lines shown together) right after or before the anchor."""
    if after:
        cands = [e for e in items if e.start >= anchor.end - 0.5 and e.text != anchor.text]
        if not cands:
            return None
        t = min(e.start for e in cands)
    else:
        cands = [e for e in items if e.end <= anchor.start + 0.5 and e.text != anchor.text]
        if not cands:
            return None
        t = max(e.start for e in cands)
    group = [e for e in cands if abs(e.start - t) < 0.5]
    return replace(group[0], end=max(e.end for e in group), text=" / ".join(e.text for e in group))


def read_spans(items: Sequence[Evidence], terms: Sequence[str]) -> dict[str, tuple[float, float]]:
    """Per video, the span covering every moment whose text holds all the key terms (segments included):
    reading the transcript there finds each mention at its words."""
    spans: dict[str, tuple[float, float]] = {}
    for e in items:
        if e.tier == "visual" or not terms or _n(e.text, terms) == 0:
            continue
        lo, hi = spans.get(e.video_id, (e.start, e.end))
        spans[e.video_id] = (min(lo, e.start), max(hi, e.end))
    return spans


def _n(text: str, terms: Sequence[str]) -> int:
    words = _WORD.findall(text)
    return min(sum(1 for w in words if matches(w, t)) for t in terms)


def count_occurrences(
    items: Sequence[Evidence],
    terms: Sequence[str],
    transcripts: Mapping[str, Sequence[dict]] | None = None,
    uris: Mapping[str, str] | None = None,
) -> tuple[int, list[Evidence]]:
    """Occurrences of the key terms, each counted once at its finest level: the words of a transcript read
    (``transcripts``: video id → utterance rows with words) where there is one, else the speech and screen
    rows among ``items``. Segments (video, chapter, event, shot), facts and keyframes never count: they only
    contain moments. Overlapping rows of one moment count once; a line on screen over consecutive frames is
    one appearance."""
    if not terms:
        return 0, []
    read = transcripts or {}
    moments: list[tuple[int, Evidence]] = []
    for vid, rows in read.items():
        moments += _spoken(rows, terms, vid, (uris or {}).get(vid, ""))
    fine = [e for e in items if e.tier in ("speech", "screen") and not (e.tier == "speech" and e.video_id in read)]
    for e in sorted(fine, key=lambda e: (e.start, -e.duration)):
        n = _n(e.text, terms)
        if n == 0:
            continue
        dup = next(
            (
                i
                for i, (_, m) in enumerate(moments)
                if m.video_id == e.video_id and m.tier == e.tier and e.start < m.end - 0.01
            ),
            None,
        )
        if dup is None:
            moments.append((n, e))
        elif e.tier == "speech":
            moments[dup] = (max(n, moments[dup][0]), moments[dup][1])
    moments.sort(key=lambda m: (m[1].video_id, m[1].start))
    return sum(n for n, _ in moments), [m for _, m in moments]


def _spoken(rows: Sequence[dict], terms: Sequence[str], vid: str, uri: str) -> list[tuple[int, Evidence]]:
    """Mentions in transcript rows: one per matching word for one term; one per utterance (counted as often
    as its rarest term) for several."""
    out: list[tuple[int, Evidence]] = []
    seen: set[float] = set()
    for u in rows:
        words = u.get("words") or [{"start": u["start"], "end": u["end"], "text": u["text"]}]
        n = _n(" ".join(w["text"] for w in words), terms)
        if n == 0:
            continue
        if len(terms) == 1 and u.get("words"):
            for w in words:
                if matches(w["text"], terms[0]) and round(w["start"], 2) not in seen:
                    seen.add(round(w["start"], 2))
                    out.append((1, _mention(vid, uri, u, w["start"], w["end"], "words")))
        elif round(u["start"], 2) not in seen:
            seen.add(round(u["start"], 2))
            out.append((n, _mention(vid, uri, u, u["start"], u["end"], "utterance")))
    return out


def _mention(vid: str, uri: str, u: dict, start: float, end: float, level: str) -> Evidence:
    return Evidence(
        video_id=vid,
        uri=uri,
        start=start,
        end=end,
        level=level,
        tier="speech",
        modality="speech",
        score=0.0,
        text=u["text"].strip(),
        source="transcript",
    )
