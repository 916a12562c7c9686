"""Keyframe choice per shot while streaming: the middle sample of each shot, and one more every
``max_gap`` seconds in long shots. Holds at most one shot's worth of samples, capped."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from memindex.ingest.records import SampledFrame

__all__ = ["Keyframe", "KeyframeSelector"]


@dataclass(frozen=True)
class Keyframe:
    shot_index: int
    t: float
    image: np.ndarray


class KeyframeSelector:
    def __init__(self, max_gap: float = 8.0) -> None:
        self.max_gap = max_gap
        self._shot = 0
        self._buf: list[SampledFrame] = []
        self._emitted_in_shot = 0

    def feed(self, frame: SampledFrame) -> list[Keyframe]:
        self._buf.append(frame)
        if self._buf[-1].t - self._buf[0].t >= self.max_gap:
            return [self._take_middle()]
        return []

    def cut(self, t: float) -> list[Keyframe]:
        """A shot ended at ``t``: emit its remaining keyframe; samples at or after ``t`` move on."""
        after = [f for f in self._buf if f.t >= t]
        self._buf = [f for f in self._buf if f.t < t]
        out = self._close_shot()
        self._shot += 1
        self._emitted_in_shot = 0
        self._buf = after
        return out

    def flush(self) -> list[Keyframe]:
        return self._close_shot()

    def _close_shot(self) -> list[Keyframe]:
        if not self._buf:
            return []
        span = self._buf[-1].t - self._buf[0].t
        if self._emitted_in_shot and span < self.max_gap / 2:
            self._buf = []
            return []
        return [self._take_middle()]

    def _take_middle(self) -> Keyframe:
        mid = self._buf[len(self._buf) // 2]
        self._buf = []
        self._emitted_in_shot += 1
        return Keyframe(self._shot, mid.t, mid.image)
