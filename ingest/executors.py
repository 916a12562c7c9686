"""Where ``analyze`` runs, chosen by name; every executor gives the same index.

- ``inline``: in the driver's process, one video at a time (the library's default; what tests use).

An executor only analyzes: ``submit`` a task, then ``result`` blocks for it (a failed analysis raises that
video's memindex error). The driver commits results in input order, so which worker finished first never
shows in the index. Third-party executors register under the ``memindex.executors`` entry-point group.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Protocol

from ingest.work import Models, TaskFailure, VideoRecords, VideoTask, analyze
from memindex.errors import ConfigError, MemIndexError
from memindex.progress import ProgressCallback
from memindex.registry import Registry

__all__ = ["Executor", "ExecutorSettings", "InlineExecutor", "EXECUTORS", "make_executor", "available_cores"]

log = logging.getLogger(__name__)


class Executor(Protocol):
    name: str
    slots: int  # how many tasks the driver keeps submitted ahead of its commits

    def submit(self, task: VideoTask) -> None: ...

    def result(self, task: VideoTask) -> VideoRecords:
        """The task's records once analyzed; raises the video's memindex error when the analysis failed."""
        ...

    def close(self, cancel: bool = False) -> None:
        """Release the workers; ``cancel`` drops unfinished tasks (a stopped or interrupted batch)."""
        ...


@dataclass(frozen=True)
class ExecutorSettings:
    """``workers``: local worker processes (None: one per core); ``address``: the Ray cluster (None: the one
    ``RAY_ADDRESS`` names, else a new local one); ``retries``: new attempts after a worker died mid-task."""

    workers: int | None = None
    address: str | None = None
    retries: int = 1


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _unwrap(task: VideoTask, out: Any) -> VideoRecords:
    if isinstance(out, TaskFailure):
        log.debug("analysis of %s failed in a worker:\n%s", task.path, out.trace)
        raise out.error()
    if isinstance(out, MemIndexError):
        raise out
    return out  # type: ignore[no-any-return]


class InlineExecutor:
    """Analyzes in this process when the driver asks for the result, with the ingester's models."""

    name = "inline"
    slots = 1

    def __init__(self, settings: ExecutorSettings, models: Models, progress: ProgressCallback) -> None:
        self.models, self.progress = models, progress
        self._tasks: dict[int, VideoTask] = {}

    def submit(self, task: VideoTask) -> None:
        self._tasks[task.seq] = task

    def result(self, task: VideoTask) -> VideoRecords:
        return analyze(self._tasks.pop(task.seq), self.models, self.progress)

    def close(self, cancel: bool = False) -> None:
        self._tasks.clear()


EXECUTORS: Registry[Executor] = Registry("memindex.executors", "executor")
EXECUTORS.register("inline", InlineExecutor)


def make_executor(name: str, settings: ExecutorSettings, models: Models, progress: ProgressCallback) -> Executor:
    """The executor registered as ``name``; a setting it has no use for is a ``ConfigError``."""
    if settings.workers is not None and name != "local":
        raise ConfigError(f"a number of workers is a setting of the local executor, not of {name!r}")
    if settings.address is not None and name != "ray":
        raise ConfigError(f"a Ray address is a setting of the ray executor, not of {name!r}")
    if settings.workers is not None and settings.workers < 1:
        raise ConfigError(f"the number of workers must be at least 1, got {settings.workers}")
    return EXECUTORS.create(name, settings, models, progress)
