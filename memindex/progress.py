"""Progress events ingest emits; only the CLI draws them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["ProgressEvent", "ProgressCallback"]


@dataclass(frozen=True)
class ProgressEvent:
    """``kind``: "batch" (total = number of paths about to be ingested), "start" (a video is handed to the
    executor; total = its duration), "advance" (done = seconds of it analyzed; sent by whichever worker
    analyzes it, possibly from another thread than the other events), "stage" (``stage`` was committed or
    ran beside the store), "done", "skipped" or "failed" (message says why). Several videos may be between
    "start" and "done" at once when an ingest runs on worker processes or Ray."""

    kind: str
    path: str
    video_id: str | None = None
    stage: str | None = None
    done: float = 0.0
    total: float = 0.0
    message: str = ""


ProgressCallback = Callable[[ProgressEvent], None]
