"""Multi-scale grouping: shots → events → chapters → video, by content and time.

Boundaries of a level are chosen among its children's boundaries, so the levels nest exactly. Each candidate
boundary gets a score from four cues (visual change across it, the silence it falls in, the topic shift of the
speech around it, a title card appearing at it); a cut inside an utterance (or a breath-long gap inside a run of
speech) is heavily penalised. A dynamic programme then picks the boundaries that maximise the sum of
``score - cost`` under the level's duration bounds (soft: exceeding them costs in proportion), so a boundary can
move to the nearest pause instead of cutting speech, and a level never exceeds its bounds without a reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["HierarchyConfig", "Timeline", "Span", "Levels", "group", "boundary_scores", "segment"]


@dataclass(frozen=True)
class HierarchyConfig:
    """Duration bounds (seconds) and cue weights of the grouping. ``*_cost`` sets the granularity: a
    boundary is kept when its score beats it (within the bounds)."""

    event_min: float = 10.0
    event_max: float = 90.0
    event_cost: float = 0.55
    event_context: float = 15.0  # seconds each side compared for visual and topic change
    chapter_min: float = 60.0
    chapter_max: float = 360.0
    chapter_cost: float = 0.65
    chapter_context: float = 60.0
    pause: float = 2.0  # silence shorter than this is a breath inside a run of speech, not a pause
    long_pause: float = 4.0  # silence this long scores a full pause
    w_visual: float = 0.4
    w_pause: float = 0.25
    w_topic: float = 0.25
    w_title: float = 0.3
    speech_penalty: float = 3.0  # subtracted from a boundary that cuts speech
    bound_penalty: float = 2.0  # per unit of relative excess over a duration bound


@dataclass(frozen=True)
class Span:
    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class Timeline:
    """What the grouping reads, all from stored rows: shot spans with an optional vector each (CLIP mean or
    colour histogram), utterance spans with optional text vectors, and screen-text lines."""

    duration: float
    shots: list[Span]
    shot_vectors: np.ndarray | None = None
    utterances: list[Span] = field(default_factory=list)
    utterance_vectors: np.ndarray | None = None
    ocr: list[tuple[float, float, str]] = field(default_factory=list)


@dataclass
class Levels:
    """Children index ranges: ``events[k] = (i, j)`` holds shots i..j-1; ``chapters[k]`` holds events."""

    shots: list[Span]
    events: list[tuple[int, int]]
    chapters: list[tuple[int, int]]
    video: Span

    def event_span(self, k: int) -> Span:
        i, j = self.events[k]
        return Span(self.shots[i].start, self.shots[j - 1].end)

    def chapter_span(self, k: int) -> Span:
        i, j = self.chapters[k]
        return Span(self.event_span(i).start, self.event_span(j - 1).end)


def group(tl: Timeline, cfg: HierarchyConfig | None = None) -> Levels:
    """Group a video's shots into events and chapters. Never empty: a video without shots gets one."""
    cfg = cfg or HierarchyConfig()
    shots = list(tl.shots) or [Span(0.0, max(tl.duration, 0.0))]
    end = max(tl.duration, shots[-1].end)
    cuts = [s.start for s in shots[1:]]
    scores = boundary_scores(tl, cuts, cfg.event_context, cfg)
    events = segment(
        [(s.start, s.end) for s in shots], scores, cfg.event_min, cfg.event_max, cfg.event_cost, cfg.bound_penalty
    )
    ev_spans = [(shots[i].start, shots[j - 1].end) for i, j in events]
    ev_cuts = [s for s, _ in ev_spans[1:]]
    ch_scores = boundary_scores(tl, ev_cuts, cfg.chapter_context, cfg)
    chapters = segment(ev_spans, ch_scores, cfg.chapter_min, cfg.chapter_max, cfg.chapter_cost, cfg.bound_penalty)
    return Levels(shots, events, chapters, Span(min(0.0, shots[0].start), end))


def segment(
    units: Sequence[tuple[float, float]],
    scores: Sequence[float],
    lo: float,
    hi: float,
    cost: float,
    bound_penalty: float,
) -> list[tuple[int, int]]:
    """Optimal partition of consecutive ``units`` into pieces; ``scores[k]`` rewards a boundary before unit
    k+1. Maximises the sum of ``score - cost`` minus soft penalties for pieces outside ``[lo, hi]``."""
    n = len(units)
    best = np.full(n + 1, -np.inf)
    best[0] = 0.0
    back = np.zeros(n + 1, dtype=np.int64)
    first = 0
    for j in range(1, n + 1):
        reward = scores[j - 1] - cost if j < n else 0.0
        while first < j - 1 and units[j - 1][1] - units[first][0] > 3 * hi:
            first += 1  # pieces far over the bound are never optimal; bound the search
        for i in range(first, j):
            dur = units[j - 1][1] - units[i][0]
            value = best[i] + reward - _bound_cost(dur, lo, hi, bound_penalty)
            if value > best[j]:
                best[j], back[j] = value, i
    pieces, j = [], n
    while j > 0:
        pieces.append((int(back[j]), j))
        j = int(back[j])
    return pieces[::-1]


def _bound_cost(dur: float, lo: float, hi: float, penalty: float) -> float:
    if dur > hi:
        return penalty * (dur - hi) / hi
    if dur < lo:
        return penalty * (lo - dur) / lo
    return 0.0


def boundary_scores(tl: Timeline, cuts: Sequence[float], context: float, cfg: HierarchyConfig) -> list[float]:
    """A score per candidate cut time: weighted cues in [0, 1], minus the penalty when it cuts speech."""
    if not cuts:
        return []
    visual = _rank(_change(cuts, tl.shots, tl.shot_vectors, context))
    topic = _rank(_change(cuts, tl.utterances, tl.utterance_vectors, context))
    out = []
    for k, c in enumerate(cuts):
        pause, inside = _pause(c, tl.utterances, cfg)
        score = (
            cfg.w_visual * visual[k]
            + cfg.w_topic * topic[k]
            + cfg.w_pause * pause
            + cfg.w_title * _title(c, tl.ocr, context)
        )
        out.append(score - (cfg.speech_penalty if inside else 0.0))
    return out


def _change(
    cuts: Sequence[float], spans: Sequence[Span], vectors: np.ndarray | None, context: float
) -> list[float | None]:
    """Cosine distance between the duration-weighted mean vectors of ``context`` seconds before and after
    each cut; None where a side has nothing."""
    if vectors is None or not len(spans):
        return [None] * len(cuts)
    starts = np.array([s.start for s in spans])
    ends = np.array([s.end for s in spans])
    out: list[float | None] = []
    for c in cuts:
        before = np.clip(np.minimum(ends, c) - np.maximum(starts, c - context), 0, None)
        after = np.clip(np.minimum(ends, c + context) - np.maximum(starts, c), 0, None)
        if before.sum() <= 0 or after.sum() <= 0:
            out.append(None)
            continue
        a, b = before @ vectors, after @ vectors
        denom = float(np.linalg.norm(a) * np.linalg.norm(b))
        out.append(1.0 - float(a @ b) / denom if denom > 0 else None)
    return out


def _rank(values: list[float | None]) -> list[float]:
    """Percentile ranks in [0, 1): the share of cuts with strictly less change (None → 0), so cues from
    different encoders weigh alike and a cue that is the same everywhere says nothing."""
    known = sorted(v for v in values if v is not None)
    if not known:
        return [0.0] * len(values)
    return [0.0 if v is None else float(np.searchsorted(known, v, side="left")) / len(known) for v in values]


def _pause(t: float, utts: Sequence[Span], cfg: HierarchyConfig) -> tuple[float, bool]:
    """(pause score, cuts speech) of a cut at ``t``: the length of the silence around it."""
    prev_end, next_start = -np.inf, np.inf
    for u in utts:
        if u.start < t < u.end:
            return 0.0, True
        if u.end <= t:
            prev_end = max(prev_end, u.end)
        elif u.start >= t:
            next_start = min(next_start, u.start)
    gap = next_start - prev_end
    if gap < cfg.pause:
        return 0.0, True
    return min(1.0, gap / cfg.long_pause), False


def _title(t: float, ocr: Sequence[tuple[float, float, str]], context: float) -> float:
    """1 when screen text appears at the cut that was not on screen in the ``context`` before it."""
    recent = {text.strip().lower() for s, e, text in ocr if t - context <= e and s < t - 1.0}
    for s, _e, text in ocr:
        if t - 1.0 <= s <= t + 2.0 and text.strip().lower() not in recent and len(text.strip()) >= 3:
            return 1.0
    return 0.0
