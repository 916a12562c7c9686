"""Grouping shots → events → chapters → video: exact nesting, duration bounds, speech kept whole, cues."""

from __future__ import annotations

import numpy as np
import pytest

from memindex.ingest.hierarchy import HierarchyConfig, Levels, Span, Timeline, boundary_scores, group, segment
from tests.hierarchy.conftest import CLIPS, DURATION, shot_spans

CFG = HierarchyConfig(event_min=8.0, event_max=40.0, chapter_min=40.0, chapter_max=120.0)


def _speech(clips: list[tuple[float, float]]) -> list[Span]:
    out = []
    for a, b in clips:
        t = a
        while t < b - 0.5:
            out.append(Span(t, min(b, t + 3.2)))
            t += 3.5
    return out


def assert_nested(levels: Levels, duration: float) -> None:
    """Every level tiles its parent: contiguous, no gaps or overlaps, children inside parents."""
    ev = [levels.event_span(k) for k in range(len(levels.events))]
    ch = [levels.chapter_span(k) for k in range(len(levels.chapters))]
    for parents, ranges, children in ((ev, levels.events, levels.shots), (ch, levels.chapters, ev)):
        assert ranges[0][0] == 0 and ranges[-1][1] == len(children)
        for (i, j), (i2, _) in zip(ranges, ranges[1:], strict=False):
            assert j == i2 and i < j
        for p, (i, j) in zip(parents, ranges, strict=True):
            assert p.start == children[i].start and p.end == children[j - 1].end
            assert all(p.start <= c.start and c.end <= p.end for c in children[i:j])
        for a, b in zip(parents, parents[1:], strict=False):
            assert a.end == b.start
    assert levels.video.start <= ch[0].start and ch[-1].end <= levels.video.end
    assert levels.video.end >= duration


@pytest.mark.parametrize("seed", range(8))
def test_levels_nest_exactly_and_respect_bounds(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cuts = np.cumsum(rng.uniform(0.8, 9.0, 200))
    cuts = cuts[cuts < 900]
    shots = [Span(a, b) for a, b in zip(np.r_[0, cuts], np.r_[cuts, 900.0], strict=True)]
    vecs = rng.normal(size=(len(shots), 16)).astype(np.float32)
    levels = group(Timeline(900.0, shots, vecs, _speech([(100, 160), (400, 420)])), CFG)
    assert_nested(levels, 900.0)
    spans = [levels.event_span(k) for k in range(len(levels.events))]
    durations = [e.duration for e in spans]
    # a 60 s run of speech without a pause is kept whole (over the bound); elsewhere one shot of slack
    assert max(e.duration for e in spans if e.end <= 100 or e.start >= 160) <= CFG.event_max + 9.0
    assert min(durations[1:-1]) >= CFG.event_min - 9.0
    assert all(levels.chapter_span(k).duration <= CFG.chapter_max * 1.6 for k in range(len(levels.chapters)))


def test_no_event_boundary_inside_a_speech_clip() -> None:
    shots = [Span(a, b) for a, b in shot_spans()]
    levels = group(Timeline(DURATION, shots, None, _speech(CLIPS)), CFG)
    assert_nested(levels, DURATION)
    for k in range(1, len(levels.events)):
        edge = levels.event_span(k).start
        assert not any(a < edge < b for a, b in CLIPS), (edge, CLIPS)


def test_speech_longer_than_the_bound_is_cut_at_a_pause() -> None:
    """A 100 s talk with 2 s pauses every 20 s: the 40 s bound forces cuts, and they land in the pauses."""
    talk = [Span(t, t + 18.0) for t in range(0, 100, 20)]
    shots = [Span(float(t), float(t + 5)) for t in range(0, 100, 5)]  # cuts every 5 s, some in pauses
    levels = group(Timeline(100.0, shots, None, talk), CFG)
    assert len(levels.events) >= 3
    for k in range(1, len(levels.events)):
        edge = levels.event_span(k).start
        assert not any(u.start < edge < u.end for u in talk), edge


def test_visual_change_places_the_boundary() -> None:
    shots = [Span(float(t), float(t + 4)) for t in range(0, 48, 4)]
    vecs = np.array([[1.0, 0.0]] * 6 + [[0.0, 1.0]] * 6, np.float32)
    levels = group(Timeline(48.0, shots, vecs), HierarchyConfig(event_min=8, event_max=40))
    assert [levels.event_span(k).start for k in range(len(levels.events))] == [0.0, 24.0]


def test_title_card_and_pause_raise_the_score() -> None:
    cuts = [10.0, 20.0, 30.0]
    shots = [Span(0, 10), Span(10, 20), Span(20, 30), Span(30, 40)]
    tl = Timeline(40.0, shots, None, [Span(2, 9.8), Span(10.2, 19), Span(21, 39)], None, [(30.0, 33.0, "CHAPTER 2")])
    scores = boundary_scores(tl, cuts, 10.0, HierarchyConfig())
    assert scores[0] < 0  # a breath between utterances: inside speech
    assert scores[1] > 0 and scores[2] < 0  # silence at 20 s; 30 s is inside the third utterance
    tl.utterances = []
    scores = boundary_scores(tl, cuts, 10.0, HierarchyConfig())
    assert scores[2] > scores[1]  # the title card


def test_segment_dynamic_programme() -> None:
    units = [(float(i), float(i + 1)) for i in range(10)]
    scores = [0.0] * 9
    scores[4] = 1.0
    assert segment(units, scores, 2, 8, 0.5, 2.0) == [(0, 5), (5, 10)]
    assert segment(units, [0.0] * 9, 2, 4, 0.5, 2.0)[0][1] - 0 <= 4  # bound forces boundaries
    pieces = segment(units, [1.0] * 9, 3, 8, 0.5, 2.0)  # every cut is good: as many as the minimum allows
    assert len(pieces) == 3 and all(j - i >= 3 for i, j in pieces)


def test_video_without_shots_still_has_every_level() -> None:
    levels = group(Timeline(12.0, []))
    assert len(levels.shots) == len(levels.events) == len(levels.chapters) == 1
    assert levels.video == Span(0.0, 12.0)
