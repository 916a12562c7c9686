"""Shot boundary detection with PySceneDetect's detectors, fed frame by frame during the single decode pass.

Chosen by measurement (benchmarks/README.md): ``adaptive`` (AdaptiveDetector) is the default; ``content``
and ``hash`` are there for footage where they do better.
"""

from __future__ import annotations

import zlib
from collections import deque
from collections.abc import Callable
from typing import Protocol

import numpy as np

from memindex.errors import ConfigError, MissingDependencyError

__all__ = ["ShotDetector", "SceneDetectShots", "SHOT_DETECTORS", "make_shot_detector"]


class ShotDetector(Protocol):
    name: str

    def feed(self, t: float, frame_bgr: np.ndarray) -> list[float]:
        """Take the next frame; return the times of any cuts now known (possibly a few frames back)."""

    def flush(self) -> list[float]:
        """End of video: cuts still held back."""


def _scenedetect():  # type: ignore[no-untyped-def]
    try:
        import scenedetect
        from scenedetect import detectors
    except ImportError as exc:
        raise MissingDependencyError("scenedetect-headless", "shots", "shot detection") from exc
    return scenedetect, detectors


class SceneDetectShots:
    """Wraps a PySceneDetect detector; frame numbers are a running count, mapped back to seconds.

    Frames may arrive at an uneven rate (only reference frames are decoded), so ``rate`` is the nominal
    analysis rate used for the detector's frame-count parameters.
    """

    def __init__(
        self, kind: str = "adaptive", *, rate: float = 12.0, min_shot: float = 0.6, threshold: float | None = None
    ) -> None:
        scenedetect, detectors = _scenedetect()
        from scenedetect.common import FrameTimecode

        self._tc = FrameTimecode
        self.rate = rate
        min_len = max(1, int(round(min_shot * rate)))
        makers: dict[str, Callable[[], object]] = {
            "adaptive": lambda: detectors.AdaptiveDetector(adaptive_threshold=threshold or 3.0, min_scene_len=min_len),
            "content": lambda: detectors.ContentDetector(threshold=threshold or 27.0, min_scene_len=min_len),
            "hash": lambda: detectors.HashDetector(threshold=threshold or 0.395, min_scene_len=min_len),
        }
        if kind not in makers:
            raise ConfigError(f"unknown shot detector {kind!r}; valid: {sorted(makers)}")
        self._det = makers[kind]()
        self.kind = kind
        self._last: np.ndarray | None = None
        self.name = f"pyscenedetect-{scenedetect.__version__}:{kind}"
        self._n = 0
        self._times: deque[float] = deque(maxlen=4096)  # frame number -> time, for recent frames
        self._first = 0

    def _to_time(self, cuts: list) -> list[float]:  # type: ignore[type-arg]
        out = []
        for tc in cuts:
            i = int(tc.frame_num) - self._first
            if 0 <= i < len(self._times):
                out.append(self._times[i])
        return out

    def feed(self, t: float, frame_bgr: np.ndarray) -> list[float]:
        if len(self._times) == self._times.maxlen:
            self._first += 1
        self._times.append(t)
        self._last = frame_bgr
        cuts = self._det.process_frame(self._tc(self._n, self.rate), frame_bgr)
        self._n += 1
        return self._to_time(cuts)

    def seam_state(self) -> tuple | None:
        """What decides the cuts to come, relative to the last frame fed: the last frame's pixels, the
        detector's buffered scores, and how long ago (capped at the minimum shot length) its last cut was.
        Two detectors in equal states find the same cuts in the same frames from here on. None when this
        PySceneDetect's detector keeps its state in a form this does not know (then nothing is stitched)."""
        if self._n == 0 or self._last is None:
            return None
        last = self._n - 1
        det = self._det
        try:
            if self.kind == "adaptive":
                scores = tuple(score for _tc, score in det._buffer)  # type: ignore[attr-defined]
                cap = int(det.min_scene_len) + det.window_width + 1  # type: ignore[attr-defined]
                state: tuple = (scores, _since(last, det._last_cut, cap))  # type: ignore[attr-defined]
            elif self.kind == "hash":
                state = (_since(last, det._last_scene_cut, int(det._min_scene_len)),)  # type: ignore[attr-defined]
            else:
                state = _flash_state(last, det._flash_filter)  # type: ignore[attr-defined]
        except (AttributeError, TypeError):
            return None
        return (self.kind, zlib.crc32(np.ascontiguousarray(self._last).data), state)

    def flush(self) -> list[float]:
        if self._n == 0:
            return []
        return self._to_time(self._det.post_process(self._tc(self._n - 1, self.rate)))


def _since(last: int, tc: object, cap: int) -> int | None:
    """Frames from the timecode ``tc`` to frame ``last``, capped at ``cap`` (farther back never matters)."""
    if tc is None:
        return None
    return min(cap, last - int(tc.frame_num))  # type: ignore[attr-defined]


def _flash_state(last: int, flt: object) -> tuple:
    """PySceneDetect's FlashFilter (the content detector's minimum shot length), relative to frame ``last``."""
    cap = int(flt._filter_length)  # type: ignore[attr-defined]
    if flt._filter_secs is not None:  # type: ignore[attr-defined]
        raise TypeError("a filter length in seconds")
    above = flt._last_above  # type: ignore[attr-defined]
    merge = None
    if flt._merge_triggered:  # type: ignore[attr-defined]
        merge = _since(int(above.frame_num), flt._merge_start, cap)  # type: ignore[attr-defined]
    return (_since(last, above, cap), flt._merge_enabled, merge)  # type: ignore[attr-defined]


SHOT_DETECTORS = ("adaptive", "content", "hash")


def make_shot_detector(name: str, **kwargs: object) -> ShotDetector:
    if name not in SHOT_DETECTORS:
        raise ConfigError(f"unknown shot detector {name!r}; valid: {list(SHOT_DETECTORS)}")
    return SceneDetectShots(name, **kwargs)  # type: ignore[arg-type]
