"""Where ``analyze`` runs, chosen by name; every executor gives the same index.

- ``inline``: in the driver's process, one video at a time (the library's default; what tests use);
- ``local``: worker processes on this machine (``memindex ingest --workers N``; default one per core), each
  a fresh interpreter (``python -m ingest.worker``: nothing inherited, the caller's main module never
  re-run) loading its models once for all the videos it analyzes;

An executor only analyzes: ``submit`` a task, then ``result`` blocks for it (a failed analysis raises that
video's memindex error; a worker that died is retried, then that video fails). The driver commits results in
input order, so which worker finished first never shows in the index. Third-party executors register under
the ``memindex.executors`` entry-point group.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import subprocess
import sys
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ingest.work import Models, TaskFailure, VideoRecords, VideoTask, analyze
from ingest.worker import Channel
from memindex.errors import ConfigError, MemIndexError, StageError
from memindex.progress import ProgressCallback, ProgressEvent
from memindex.registry import Registry

__all__ = [
    "Executor",
    "ExecutorSettings",
    "InlineExecutor",
    "LocalExecutor",
    "EXECUTORS",
    "make_executor",
    "available_cores",
]

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


@dataclass
class _Worker:
    process: subprocess.Popen
    channel: Channel
    task: VideoTask | None = None
    dead: bool = False


class LocalExecutor:
    """N worker processes (``python -m ingest.worker``), each fed one task at a time, so a worker that dies
    is known with the task it held: that task is retried ``retries`` times on a fresh worker, then fails
    alone. A reader thread forwards the workers' progress and collects their results."""

    name = "local"

    def __init__(self, settings: ExecutorSettings, models: Models, progress: ProgressCallback) -> None:
        self.workers = settings.workers or available_cores()
        self.slots = 2 * self.workers
        self.retries = settings.retries
        self.progress = progress
        self._lock = threading.Condition()
        self._waiting: deque[VideoTask] = deque()
        self._done: dict[int, Any] = {}
        self._attempts: dict[int, int] = {}
        self._closing = False
        self._pool = [self._spawn() for _ in range(self.workers)]
        self._reader = threading.Thread(target=self._read, name="memindex-workers", daemon=True)
        self._reader.start()

    def _spawn(self) -> _Worker:
        mine, theirs = socket.socketpair()
        level = logging.getLogger().getEffectiveLevel()
        root = str(Path(__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (root, os.environ.get("PYTHONPATH"))))}
        proc = subprocess.Popen(
            [sys.executable, "-m", "ingest.worker", str(theirs.fileno()), str(level), str(os.getpid())],
            pass_fds=(theirs.fileno(),),
            env=env,
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        return _Worker(proc, Channel(mine))

    def submit(self, task: VideoTask) -> None:
        with self._lock:
            self._attempts[task.seq] = 0
            self._waiting.append(task)
            self._dispatch()

    def _dispatch(self) -> None:
        for w in self._pool:
            if w.task is None and not w.dead and self._waiting:
                w.task = self._waiting.popleft()
                try:
                    w.channel.send(w.task)
                except OSError:  # it died meanwhile: the reader sees its end close, ``_reap`` retries the task
                    pass

    def result(self, task: VideoTask) -> VideoRecords:
        with self._lock:
            while task.seq not in self._done:
                self._reap()
                self._lock.wait(0.5)
            out = self._done.pop(task.seq)
        return _unwrap(task, out)

    def _read(self) -> None:
        """The reader thread: progress events go to the callback, results to ``result``; a closed channel
        marks its worker dead."""
        while not self._closing:
            with self._lock:
                live = {w.channel: w for w in self._pool if not w.dead}
            for chan in select.select(list(live), [], [], 0.5)[0]:
                try:
                    msg = chan.recv()
                except (EOFError, OSError):
                    chan.close()
                    with self._lock:
                        live[chan].dead = True
                        self._lock.notify_all()
                    continue
                if msg[0] == "event":
                    self._forward(msg[1])
                else:
                    self._collect(live[chan], msg[1], msg[2])

    def _forward(self, event: ProgressEvent) -> None:
        try:
            self.progress(event)
        except Exception:  # a failing progress display must never stop an ingest
            log.debug("progress callback failed", exc_info=True)

    def _collect(self, w: _Worker, seq: int, out: Any) -> None:
        with self._lock:
            if w.task is not None and w.task.seq == seq:
                w.task = None
                self._done[seq] = out
                self._dispatch()
                self._lock.notify_all()

    def _reap(self) -> None:
        """Replace dead workers; the task a dead one held goes back to the front of the line, or fails."""
        for i, w in enumerate(self._pool):
            if not w.dead and w.process.poll() is None:
                continue
            w.dead = True
            self._pool[i] = self._spawn()
            w.process.wait()
            if w.task is not None:
                self._retry(w.task, f"exit code {w.process.returncode}")
        self._dispatch()

    def _retry(self, task: VideoTask, why: str) -> None:
        self._attempts[task.seq] += 1
        if self._attempts[task.seq] > self.retries:
            log.warning("the worker analyzing %s died (%s); no attempts left", task.path, why)
            self._done[task.seq] = StageError(
                f"the worker process analyzing this video died ({why}) on every attempt",
                path=task.path,
                video_id=task.video_id,
            )
        else:
            log.warning("the worker analyzing %s died (%s); trying again on a fresh worker", task.path, why)
            self._waiting.appendleft(task)

    def close(self, cancel: bool = False) -> None:
        with self._lock:
            self._closing = True
            for w in self._pool:
                if cancel:
                    w.process.terminate()
                else:
                    with contextlib.suppress(OSError):
                        w.channel.send(None)
        self._reader.join(timeout=5)
        for w in self._pool:
            try:
                w.process.wait(timeout=10 if cancel else 60)
            except subprocess.TimeoutExpired:
                w.process.kill()
                w.process.wait()
            w.channel.close()


EXECUTORS: Registry[Executor] = Registry("memindex.executors", "executor")
EXECUTORS.register("inline", InlineExecutor)
EXECUTORS.register("local", LocalExecutor)


def make_executor(name: str, settings: ExecutorSettings, models: Models, progress: ProgressCallback) -> Executor:
    """The executor registered as ``name``; a setting it has no use for is a ``ConfigError``."""
    if settings.workers is not None and name != "local":
        raise ConfigError(f"a number of workers is a setting of the local executor, not of {name!r}")
    if settings.address is not None and name != "ray":
        raise ConfigError(f"a Ray address is a setting of the ray executor, not of {name!r}")
    if settings.workers is not None and settings.workers < 1:
        raise ConfigError(f"the number of workers must be at least 1, got {settings.workers}")
    return EXECUTORS.create(name, settings, models, progress)
