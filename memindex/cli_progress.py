"""Progress bars for the CLI (rich when installed, plain log lines otherwise)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from memindex.progress import ProgressCallback, ProgressEvent

__all__ = ["progress_display"]


@contextmanager
def progress_display(enabled: bool = True) -> Iterator[ProgressCallback]:
    if not enabled:
        yield lambda _e: None
        return
    try:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
    except ImportError:
        yield _plain
        return
    bars = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"),
                    TimeRemainingColumn(), transient=False, console=None)
    overall = bars.add_task("all videos", total=None)
    tasks: dict[str, int] = {}
    counts = {"n": 0}

    def on_event(e: ProgressEvent) -> None:
        name = e.path.rsplit("/", 1)[-1][:40]
        if e.kind == "batch":
            bars.update(overall, total=max(1, int(e.total)))
        elif e.kind == "start":
            tasks[e.path] = bars.add_task(name, total=max(e.total, 1e-3))
        elif e.kind == "advance" and e.path in tasks:
            bars.update(tasks[e.path], completed=e.done)
        elif e.kind in ("done", "skipped", "failed"):
            counts["n"] += 1
            bars.update(overall, completed=counts["n"], description=f"all videos ({counts['n']} finished)")
            if e.path in tasks:
                bars.update(tasks[e.path], completed=e.total or 1, description=f"{name} [{e.kind}]")
            else:
                bars.console.print(f"{name}: {e.kind} {e.message}")

    with bars:
        yield on_event


def _plain(e: ProgressEvent) -> None:
    if e.kind not in ("advance", "batch"):
        print(f"{e.kind}: {e.path} {e.message}", file=sys.stderr)
