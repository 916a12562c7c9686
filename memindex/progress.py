"""Progress events ingest emits; only the CLI draws them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["ProgressEvent", "ProgressCallback"]


@dataclass(frozen=True)
class ProgressEvent:
    """``kind``: "batch" (total = number of paths about to be ingested), "start" (a video begins; total = its
    duration), "advance" (done = seconds processed),
    "stage" (a stage finished), "done", "skipped" or "failed" (message says why)."""

    kind: str
    path: str
    video_id: str | None = None
    stage: str | None = None
    done: float = 0.0
    total: float = 0.0
    message: str = ""


ProgressCallback = Callable[[ProgressEvent], None]
