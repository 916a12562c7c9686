"""Plain records the ingest stages stream to each other and to the store writer. Times are in seconds
from the start of the video."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["AudioChunk", "SampledFrame", "WordRec", "UtteranceRec", "OcrLineRec", "Shot"]


@dataclass(frozen=True)
class AudioChunk:
    """Mono float32 samples at ``sample_rate`` starting at ``start`` seconds."""

    start: float
    samples: np.ndarray
    sample_rate: int = 16000

    @property
    def end(self) -> float:
        return self.start + len(self.samples) / self.sample_rate


@dataclass(frozen=True)
class SampledFrame:
    """An RGB frame (H x W x 3, uint8) at time ``t``."""

    t: float
    image: np.ndarray


@dataclass(frozen=True)
class WordRec:
    start: float
    end: float
    text: str
    prob: float = 0.0
    speaker: str | None = None


@dataclass(frozen=True)
class UtteranceRec:
    start: float
    end: float
    text: str
    words: tuple[WordRec, ...] = ()
    language: str | None = None
    speaker: str | None = None
    language_prob: float | None = None  # posterior of ``language`` from identification; None: set by config
    quality: str = "ok"  # "ok" | "low" (see ingest/asr_guards.py)
    flags: tuple[str, ...] = ()  # why the quality is low


@dataclass(frozen=True)
class OcrLineRec:
    """A line of screen text seen from ``start`` to ``end``; ``box`` is four [x, y] corners in pixels."""

    start: float
    end: float
    text: str
    confidence: float
    box: tuple[tuple[float, float], ...] = field(default=())
    frame_t: float | None = None


@dataclass(frozen=True)
class Shot:
    index: int
    start: float
    end: float
