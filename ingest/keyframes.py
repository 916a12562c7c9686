"""Keyframe choice per shot while streaming: the middle sample of each shot, and in long shots the middle of
each stretch between the absolute ``max_gap``-second grid points (a stretch shorter than half of it joins the
next). Holds at most about 1.5 ``max_gap`` seconds of samples.

Anchoring the long-shot stretches to the video's clock rather than to the shot's start makes the choice a
function of the last cut or grid point only, so a decode that starts a few grid steps earlier chooses the
same keyframes as one from the start (time chunks, ``ingest/chunks.py``)."""

from __future__ import annotations

import math
import zlib
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

    @property
    def shots(self) -> int:
        """How many shots were closed so far (the index the next keyframe gets)."""
        return self._shot

    def _cell(self, t: float) -> int:
        return math.floor(t / self.max_gap)

    def feed(self, frame: SampledFrame) -> list[Keyframe]:
        out = []
        if self._buf and self._cell(frame.t) > self._cell(self._buf[-1].t) and self._span() >= self.max_gap / 2:
            out.append(self._take_middle())
        self._buf.append(frame)
        return out

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

    def seam_state(self) -> tuple:
        """What decides the keyframes to come: the held samples (times and pixels) and whether this shot has
        one already. Two selectors in equal states choose the same keyframes from the same samples on."""
        held = tuple((f.t, zlib.crc32(np.ascontiguousarray(f.image).data)) for f in self._buf)
        return held, self._emitted_in_shot > 0

    def _span(self) -> float:
        return self._buf[-1].t - self._buf[0].t

    def _close_shot(self) -> list[Keyframe]:
        if not self._buf:
            return []
        if self._emitted_in_shot and self._span() < self.max_gap / 2:
            self._buf = []
            return []
        return [self._take_middle()]

    def _take_middle(self) -> Keyframe:
        mid = self._buf[len(self._buf) // 2]
        self._buf = []
        self._emitted_in_shot += 1
        return Keyframe(self._shot, mid.t, mid.image)
