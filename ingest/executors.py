"""Where ``analyze`` runs, chosen by name; every executor gives the same index.

- ``inline``: in the driver's process, one video at a time (the library's default; what tests use);
- ``local``: worker processes on this machine (``memindex ingest --workers N``; default one per core), each
  a fresh interpreter (``python -m memindex.ingest.worker``: nothing inherited, the caller's main module never
  re-run) loading its models once for all the videos it analyzes;
- ``ray``: the same worker function as Ray tasks (``memindex ingest --ray [ADDRESS]``; the ``ray`` extra),
  with Ray's scheduling and retries.

An executor only analyzes: ``submit`` a task, then ``result`` blocks for it (a failed analysis raises that
video's memindex error; a worker that died is retried, then that video fails), or ``discard`` it. A task is a
whole video or one time chunk's part of one stage (``ingest/chunks.py``): a long video's parts run on several
workers at once. The driver commits results in input order, so which worker finished first never shows in
the index. Third-party executors register under
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from memindex.errors import ConfigError, MemIndexError, MissingDependencyError, StageError
from memindex.ingest.work import Models, TaskFailure, VideoRecords, VideoTask, analyze, run_task
from memindex.ingest.worker import Channel
from memindex.progress import ProgressCallback, ProgressEvent
from memindex.registry import Registry

__all__ = [
    "Executor",
    "ExecutorSettings",
    "InlineExecutor",
    "LocalExecutor",
    "RayExecutor",
    "EXECUTORS",
    "make_executor",
    "available_cores",
    "ray_reachable",
]

log = logging.getLogger(__name__)


class Executor(Protocol):
    name: str
    slots: int  # how many tasks the driver keeps submitted ahead of its commits
    concurrency: int  # how many tasks run at once: a long video is split into time chunks only when > 1
    cores_per_task: int | None  # the cores each task may use (``VideoTask.cores``); None: the whole machine

    def submit(self, task: VideoTask) -> None: ...

    def result(self, task: VideoTask) -> VideoRecords:
        """The task's records once analyzed; raises the video's memindex error when the analysis failed."""
        ...

    def discard(self, task: VideoTask) -> None:
        """Forget a submitted task whose result will not be asked for (another part of its video failed)."""
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
    concurrency = 1  # one task at a time: a video's stages keep their lanes in one pass, never split
    cores_per_task = None

    def __init__(self, settings: ExecutorSettings, models: Models, progress: ProgressCallback) -> None:
        self.models, self.progress = models, progress
        self._tasks: dict[int, VideoTask] = {}

    def submit(self, task: VideoTask) -> None:
        self._tasks[task.seq] = task

    def result(self, task: VideoTask) -> VideoRecords:
        return analyze(self._tasks.pop(task.seq), self.models, self.progress)

    def discard(self, task: VideoTask) -> None:
        self._tasks.pop(task.seq, None)

    def close(self, cancel: bool = False) -> None:
        self._tasks.clear()


class _Relay:
    """Forwards the progress events workers send to the driver's callback, from one thread."""

    def __init__(self, get: Callable[[], Any], progress: ProgressCallback) -> None:
        self._get, self._progress = get, progress
        self._thread = threading.Thread(target=self._run, name="memindex-progress", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (event := self._get()) is not None:
            if isinstance(event, ProgressEvent):
                try:
                    self._progress(event)
                except Exception:  # a failing progress display must never stop an ingest
                    log.debug("progress callback failed", exc_info=True)

    def join(self) -> None:
        self._thread.join(timeout=5)


@dataclass
class _Worker:
    process: subprocess.Popen
    channel: Channel
    task: VideoTask | None = None
    dead: bool = False


class LocalExecutor:
    """N worker processes (``python -m memindex.ingest.worker``), each fed one task at a time, so a worker that dies
    is known with the task it held: that task is retried ``retries`` times on a fresh worker, then fails
    alone. A reader thread forwards the workers' progress and collects their results."""

    name = "local"

    def __init__(self, settings: ExecutorSettings, models: Models, progress: ProgressCallback) -> None:
        self.workers = settings.workers or available_cores()
        self.slots = 2 * self.workers
        self.concurrency = self.workers
        self.cores_per_task = max(1, available_cores() // self.workers)
        self.retries = settings.retries
        self.progress = progress
        self._lock = threading.Condition()
        self._waiting: deque[VideoTask] = deque()
        self._done: dict[int, Any] = {}
        self._attempts: dict[int, int] = {}
        self._dropped: set[int] = set()
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
            [sys.executable, "-m", "memindex.ingest.worker", str(theirs.fileno()), str(level), str(os.getpid())],
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
                with contextlib.suppress(OSError):  # it died meanwhile: its reader sees the end; ``_reap`` retries
                    w.channel.send(w.task)

    def result(self, task: VideoTask) -> VideoRecords:
        with self._lock:
            while task.seq not in self._done:
                self._reap()
                self._lock.wait(0.5)
            out = self._done.pop(task.seq)
        return _unwrap(task, out)

    def discard(self, task: VideoTask) -> None:
        with self._lock:
            if task in self._waiting:
                self._waiting.remove(task)
            elif self._done.pop(task.seq, None) is None:
                self._dropped.add(task.seq)  # still running: its result is dropped when it comes
            self._attempts.pop(task.seq, None)

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
                if seq in self._dropped:
                    self._dropped.discard(seq)
                else:
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
        if task.seq in self._dropped:
            self._dropped.discard(task.seq)
            return
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


def ray_reachable(address: str, timeout: float = 2.0) -> bool:
    """Whether a Ray head answers at ``host:port`` (its GCS port), without starting or joining anything."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


class _RayProgress:
    """Progress from a Ray task to the driver through a queue actor; a lost event is only a display's loss."""

    def __init__(self, events: Any) -> None:
        self.events = events

    def __call__(self, event: ProgressEvent) -> None:
        with contextlib.suppress(Exception):  # the queue actor is gone (the driver stopped): nothing to show it to
            self.events.put_nowait(event)


def _ray_task(task: VideoTask, events: Any) -> VideoRecords | TaskFailure:
    return run_task(task, _RayProgress(events))


class RayExecutor:
    """``run_task`` as Ray tasks (one CPU each); Ray retries a task whose worker died, then that video fails."""

    name = "ray"

    def __init__(self, settings: ExecutorSettings, models: Models, progress: ProgressCallback) -> None:
        try:
            import ray
            from ray.util.queue import Empty, Queue
        except ImportError as exc:
            raise MissingDependencyError("ray", "ray", "the Ray executor") from exc
        self._ray, self._empty = ray, Empty
        self._owner = not ray.is_initialized()
        if self._owner:
            _ray_init(ray, settings.address)
        self._remote = ray.remote(num_cpus=1, max_retries=settings.retries, retry_exceptions=False)(_ray_task)
        self.concurrency = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.cores_per_task = 1  # what each task asks of Ray (num_cpus=1)
        self.slots = max(2, 2 * self.concurrency)
        self._events = Queue(actor_options={"num_cpus": 0})
        self._stop = threading.Event()
        self._relay = _Relay(self._next_event, progress)
        self._refs: dict[int, Any] = {}

    def _next_event(self) -> Any:
        while not self._stop.is_set():
            try:
                return self._events.get(timeout=0.5)
            except self._empty:
                continue
        return None

    def submit(self, task: VideoTask) -> None:
        self._refs[task.seq] = self._remote.remote(task, self._events)

    def result(self, task: VideoTask) -> VideoRecords:
        ref = self._refs.pop(task.seq)
        try:
            out = self._ray.get(ref)
        except self._ray.exceptions.RayError as exc:
            raise StageError(
                f"the Ray task analyzing this video failed: {exc}", path=task.path, video_id=task.video_id
            ) from exc
        return _unwrap(task, out)

    def discard(self, task: VideoTask) -> None:
        ref = self._refs.pop(task.seq, None)
        if ref is not None:
            self._ray.cancel(ref, force=True)

    def close(self, cancel: bool = False) -> None:
        for ref in self._refs.values():
            self._ray.cancel(ref, force=True)
        self._refs.clear()
        self._stop.set()
        self._relay.join()
        self._ray.kill(self._events.actor)
        if self._owner:
            self._ray.shutdown()


def _ray_init(ray: Any, address: str | None) -> None:
    if address and ":" in address and not address.startswith("ray://") and not ray_reachable(address):
        raise ConfigError(
            f"no Ray cluster answers at {address} (start one with `ray start --head`, or give "
            "the head's address as host:port)"
        )
    try:
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ConfigError(
            f"cannot join the Ray cluster {address or '(RAY_ADDRESS or a new local one)'}: {exc}"
        ) from exc


EXECUTORS: Registry[Executor] = Registry("memindex.executors", "executor")
EXECUTORS.register("inline", InlineExecutor)
EXECUTORS.register("local", LocalExecutor)
EXECUTORS.register("ray", RayExecutor)


def make_executor(name: str, settings: ExecutorSettings, models: Models, progress: ProgressCallback) -> Executor:
    """The executor registered as ``name``; a setting it has no use for is a ``ConfigError``."""
    if settings.workers is not None and name != "local":
        raise ConfigError(f"a number of workers is a setting of the local executor, not of {name!r}")
    if settings.address is not None and name != "ray":
        raise ConfigError(f"a Ray address is a setting of the ray executor, not of {name!r}")
    if settings.workers is not None and settings.workers < 1:
        raise ConfigError(f"the number of workers must be at least 1, got {settings.workers}")
    return EXECUTORS.create(name, settings, models, progress)
