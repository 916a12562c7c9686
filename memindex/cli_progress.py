"""Progress for the CLI, on stderr: one overall bar (videos and hours done, speed in x real time, ETA) and
one line per video being analyzed, however many workers run at once (rich when installed, else plain
lines)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from memindex.progress import ProgressCallback, ProgressEvent

__all__ = ["progress_display", "BatchTally"]

_FINISHED = ("done", "skipped", "failed")


class BatchTally:
    """The batch's numbers from its progress events: videos finished, video seconds processed (across all
    workers), speed and the time left. Videos not started yet count at the mean known duration."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.videos = 0
        self.finished = 0
        self.durations: dict[str, float] = {}  # path -> seconds of video, of every video started
        self.processed: dict[str, float] = {}  # path -> seconds of it analyzed so far
        self.active: set[str] = set()
        self.started: float | None = None

    def on(self, e: ProgressEvent) -> None:
        if e.kind == "batch":
            self.videos = int(e.total)
        elif e.kind == "start":
            self.durations[e.path] = e.total
            self.processed.setdefault(e.path, 0.0)
            self.active.add(e.path)
            self.started = self.clock() if self.started is None else self.started
        elif e.kind == "advance":
            self.processed[e.path] = max(self.processed.get(e.path, 0.0), e.done)
        elif e.kind in _FINISHED:
            self.finished += 1
            self.active.discard(e.path)
            if e.kind == "done":
                self.processed[e.path] = self.durations.get(e.path, e.total)

    @property
    def seconds_done(self) -> float:
        return sum(self.processed.values())

    def rate(self) -> float | None:
        """Seconds of video per second of wall-clock time since the first video started."""
        if self.started is None:
            return None
        wall = self.clock() - self.started
        return self.seconds_done / wall if wall > 0 and self.seconds_done > 0 else None

    def seconds_left(self) -> float | None:
        """Estimated wall-clock seconds until the batch ends: what is left of the videos being analyzed, and
        the videos not started yet at the mean duration of those started."""
        rate = self.rate()
        if rate is None:
            return None
        mean = sum(self.durations.values()) / len(self.durations) if self.durations else 0.0
        unseen = max(self.videos - self.finished - len(self.active), 0)
        todo = sum(max(self.durations[p] - self.processed.get(p, 0.0), 0.0) for p in self.active) + unseen * mean
        return todo / rate

    def summary(self) -> str:
        parts = [
            f"{self.finished}/{self.videos} videos",
            f"{self.seconds_done / 3600:.2f} of {sum(self.durations.values()) / 3600:.2f} h",
        ]
        rate, left = self.rate(), self.seconds_left()
        if rate is not None:
            parts.append(f"{rate:.1f}x real time")
        if left is not None:
            parts.append(f"ETA {_hms(left)}")
        return " · ".join(parts)


def _hms(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


@contextmanager
def progress_display(enabled: bool = True) -> Iterator[ProgressCallback]:
    if not enabled:
        yield lambda _e: None
        return
    try:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn
    except ImportError:
        yield _Plain(BatchTally()).on_event
        return
    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        console=Console(stderr=True),
        transient=False,
    )
    with bars:
        yield _Bars(bars, BatchTally()).on_event


class _Bars:
    """The overall bar, and a line per video from its first analyzed second until it is committed."""

    def __init__(self, bars: object, tally: BatchTally) -> None:
        self.bars, self.tally = bars, tally
        self.overall = bars.add_task("all videos", total=None)  # type: ignore[attr-defined]
        self.lines: dict[str, int] = {}

    def on_event(self, e: ProgressEvent) -> None:
        self.tally.on(e)
        bars = self.bars
        name = e.path.rsplit("/", 1)[-1][:40]
        if e.kind == "advance":
            if e.path not in self.lines:
                self.lines[e.path] = bars.add_task(name, total=max(e.total, 1e-3))  # type: ignore[attr-defined]
            bars.update(self.lines[e.path], completed=e.done)  # type: ignore[attr-defined]
        elif e.kind == "stage" and e.path in self.lines:
            bars.update(self.lines[e.path], description=f"{name} [{e.stage}]")  # type: ignore[attr-defined]
        elif e.kind in _FINISHED:
            if e.path in self.lines:
                bars.remove_task(self.lines.pop(e.path))  # type: ignore[attr-defined]
            if e.kind != "done":
                bars.console.print(f"{name}: {e.kind} {e.message}")  # type: ignore[attr-defined]
        bars.update(  # type: ignore[attr-defined]
            self.overall,
            total=max(1, self.tally.videos),
            completed=self.tally.finished,
            description=self.tally.summary(),
        )


class _Plain:
    """Without rich: a line per finished video with the batch's numbers."""

    def __init__(self, tally: BatchTally) -> None:
        self.tally = tally

    def on_event(self, e: ProgressEvent) -> None:
        self.tally.on(e)
        if e.kind in _FINISHED:
            print(f"{e.kind}: {e.path} {e.message}".rstrip() + f" ({self.tally.summary()})", file=sys.stderr)
