"""The worker side of ingest: ``analyze(task) -> VideoRecords``, a function of one video file and the configs.

It reads the file, runs the worker stages of the declaration (``ingest/stages.py``; stages of different lanes
concurrently) and returns their records: keyframe JPEG bytes, rows and vectors, never written anywhere. It
does not open the store, so the same function runs inline, in worker processes and as Ray tasks; the driver
commits what it returns. ``run_task`` is its form for other processes: any failure comes back as a
``TaskFailure`` record (errors do not cross process boundaries reliably) that the driver turns into the
same memindex error an inline run raises.
"""

from __future__ import annotations

import json
import logging
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from memindex import errors
from memindex.config import StoreConfig
from memindex.encoders import Encoders
from memindex.encoders.base import FrameEmbedder, TextEmbedder, limit_blas_threads
from memindex.errors import MemIndexError, StageError, StoreError
from memindex.ingest import stages
from memindex.ingest.chunks import Part
from memindex.ingest.config import IngestConfig
from memindex.ingest.decode import VideoInfo
from memindex.progress import ProgressCallback, ProgressEvent

__all__ = [
    "VideoTask",
    "VideoRecords",
    "Outcome",
    "Job",
    "Models",
    "ConfigEncoders",
    "TaskFailure",
    "analyze",
    "run_task",
    "process_models",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoTask:
    """What a worker needs for one video: its file (read access only), what the driver probed, the configs,
    and the worker stages whose records are committed already (a resumed ingest skips them), or the one
    part of a stage it analyzes when the video is split into time chunks."""

    seq: int
    path: str
    video_id: str
    info: VideoInfo
    config: IngestConfig
    store_config: StoreConfig
    skip: frozenset[str] = frozenset()
    part: Part | None = None  # one time chunk of one stage (``ingest/chunks.py``); None: the whole video
    # The cores the executor gives this task (a local worker's share of the machine, a Ray task's CPUs); None:
    # the whole machine. It sizes only thread pools whose count never changes results (CTranslate2's).
    cores: int | None = None


@dataclass(frozen=True)
class Outcome:
    """One ``stage_runs`` row: what a stage did to a video."""

    stage: str
    status: str  # done | pending | failed | skipped
    model: str | None = None
    detail: str | None = None
    seconds: float = 0.0


@dataclass
class VideoRecords:
    """Everything the worker stages produced for one video, by stage name (None: nothing to commit)."""

    seq: int
    video_id: str
    records: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True)
class TaskFailure:
    """A failed analysis, as plain data: the memindex error class name, its message and where."""

    kind: str
    message: str
    path: str | None
    video_id: str | None
    t: float | None
    trace: str

    @classmethod
    def of(cls, exc: BaseException, task: VideoTask) -> TaskFailure:
        from memindex.ingest.failures import file_error

        err = file_error(exc, task.path, task.video_id)
        return cls(type(err).__name__, err.message, err.path, err.video_id, err.t, traceback.format_exc())

    def error(self) -> MemIndexError:
        """The error as an inline run raises it. A worker never writes the store, so a write error there
        (its temporary folder full) is that video's failure, never a store-wide fault."""
        cls = getattr(errors, self.kind, StageError)
        if not (isinstance(cls, type) and issubclass(cls, MemIndexError)) or issubclass(cls, StoreError):
            cls = StageError
        err = cls.__new__(cls)
        MemIndexError.__init__(err, self.message, path=self.path, video_id=self.video_id, t=self.t)
        return err


ConfigEncoders = Encoders  # the store's encoders built from its config, in a process without a store


class Models:
    """The models of one process, each loaded on first use and kept (per config), so a worker process loads
    each once for all the videos it analyzes. ``encoders`` is the store itself inline (its encoders, test
    doubles included) or ``ConfigEncoders`` in a worker."""

    def __init__(self, encoders: Any) -> None:
        self.encoders = encoders
        self._loaded: dict[tuple[str, str], Any] = {}
        self._failed: dict[tuple[str, str], MemIndexError] = {}
        self._lock = threading.RLock()
        self._frame_said = False

    def text(self) -> TextEmbedder:
        with self._lock:
            return self.encoders.text_embedder  # type: ignore[no-any-return]

    def frame(self) -> tuple[FrameEmbedder | None, str | None]:
        """CLIP, or (None, why) when it is disabled or its weights cannot be loaded (said once)."""
        if not self.encoders.config.frame.enabled:
            return None, None
        try:
            return self.load("frame", "", lambda: self.encoders.frame_embedder), None
        except MemIndexError as exc:
            if not self._frame_said:
                self._frame_said = True
                log.warning(
                    "keyframe embeddings are PENDING: %s. Run `memindex backfill --stage visual` once the "
                    "weights are available.",
                    exc,
                )
            return None, str(exc)

    def load(self, kind: str, key: Any, factory: Callable[[], Any]) -> Any:
        """The model ``kind`` for config ``key``, built once; a failure is remembered and raised again."""
        slot = (kind, repr(key))
        with self._lock:
            if slot in self._failed:
                raise self._failed[slot]
            if slot not in self._loaded:
                try:
                    self._loaded[slot] = factory()
                except MemIndexError as exc:
                    self._failed[slot] = exc
                    raise
            return self._loaded[slot]


# One ``Models`` per worker process and store config: a worker process (local or Ray) loads each model once
# and keeps it for every later task. The only process-wide state of ingest; the driver never uses it.
_PROCESS_MODELS: dict[str, Models] = {}

# numpy's BLAS threads while ingest computes what it stores, in the driver and in every worker. The count shapes
# results: faster-whisper's mel features are a BLAS product whose last bits differ between 1 thread and 2, enough
# to change a decoded comma, and OpenBLAS takes its own count from the machine's cores or OMP_NUM_THREADS (Ray
# sets 1 in its workers). Fixed, so the index never depends on the machine or the executor; 1 because ingest's
# products are small and its lanes already keep the cores busy.
ANALYSIS_BLAS_THREADS = 1


def process_models(store_config: StoreConfig) -> Models:
    key = json.dumps(store_config.to_dict(), sort_keys=True)
    if key not in _PROCESS_MODELS:
        _PROCESS_MODELS[key] = Models(ConfigEncoders(store_config))
    return _PROCESS_MODELS[key]


@dataclass
class Job:
    """One worker stage's view of its video: the task, the process's models, and progress."""

    task: VideoTask
    models: Models
    emit: ProgressCallback

    @property
    def info(self) -> VideoInfo:
        return self.task.info

    @property
    def config(self) -> IngestConfig:
        return self.task.config

    def advance(self, t: float) -> None:
        self.emit(ProgressEvent("advance", self.task.path, self.task.video_id, "video", t, self.info.duration))


def analyze(task: VideoTask, models: Models | None = None, progress: ProgressCallback | None = None) -> VideoRecords:
    """Run the worker stages on one video; lanes run concurrently, the first lane in this thread."""
    with analysis_threads():
        return _analyze(task, models, progress)


def analysis_threads() -> AbstractContextManager[Any]:
    """Every loaded BLAS at ``ANALYSIS_BLAS_THREADS`` while ingest computes what it stores, in every process."""
    return limit_blas_threads(ANALYSIS_BLAS_THREADS, rescan=True)  # libraries loaded since (faiss, scipy) too


def _analyze(task: VideoTask, models: Models | None, progress: ProgressCallback | None) -> VideoRecords:
    import time

    t0 = time.perf_counter()
    job = Job(task, models or process_models(task.store_config), progress or (lambda _e: None))
    # Loaded once here, before two lanes want it; also for a part, since loading it sets the process's torch
    # threads, and the thread count can show in the last bits of other models' vectors (voice embeddings).
    job.models.text()
    out = VideoRecords(task.seq, task.video_id)
    if task.part is not None:  # one part of one stage: no lanes
        spec = next(s for s in stages.worker_stages() if s.name == task.part.stage)
        out.records[spec.name] = spec.load()().produce_part(job, task.part)
        out.seconds = time.perf_counter() - t0
        return out
    lanes: dict[str, list[stages.StageSpec]] = {}
    for spec in stages.worker_stages():
        if spec.name not in task.skip:
            lanes.setdefault(spec.lane, []).append(spec)
    if not lanes:
        return out
    first, *others = lanes.values()
    with ThreadPoolExecutor(max_workers=max(1, len(others)), thread_name_prefix="memindex-lane") as pool:
        futures = [pool.submit(_lane, specs, job) for specs in others]
        out.records.update(_lane(first, job))
        for fut in futures:
            out.records.update(fut.result())
    out.seconds = time.perf_counter() - t0
    return out


def _lane(specs: list[stages.StageSpec], job: Job) -> dict[str, Any]:
    return {spec.name: spec.load()().produce(job) for spec in specs}


def run_task(task: VideoTask, progress: ProgressCallback | None = None) -> VideoRecords | TaskFailure:
    """``analyze`` in a worker process or Ray task: a failure is returned as a ``TaskFailure``."""
    try:
        return analyze(task, progress=progress)
    except Exception as exc:  # returned as data for the driver, which reports it for this video
        log.debug("analysis of %s failed", task.path, exc_info=True)
        return TaskFailure.of(exc, task)
