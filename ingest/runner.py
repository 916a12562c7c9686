"""The driver of one batch: it owns the store. Each video is prepared here (probed, hashed, claimed,
registered), its analysis goes to the executor, and the results are committed strictly in input order (one
transaction per worker stage group), then the stages beside the store run and the video is marked ready.

Resume: a video already ``ready`` is skipped; a worker stage whose ``stage_runs`` row says its records are
committed is not run again; the store stages always run again (they replace their own results). Claims
(``ingest/claims.py``) keep two ingests of one store from doing a video twice."""

from __future__ import annotations

import hashlib
import logging
from collections import deque
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import select

from memindex.catalog.models import READY, StageRun, Video
from memindex.errors import MediaError, MemIndexError
from memindex.ingest import chunks, stages
from memindex.ingest.claims import claim, holder
from memindex.ingest.commit import commit_group, record_stage
from memindex.ingest.decode import VideoInfo, probe
from memindex.ingest.executors import Executor
from memindex.ingest.failures import file_error, store_fault
from memindex.ingest.work import VideoRecords, VideoTask
from memindex.progress import ProgressCallback, ProgressEvent
from memindex.store import Store

__all__ = ["Runner", "IngestReport", "video_id_for"]

log = logging.getLogger(__name__)
_HASH_BLOCK = 1 << 20


def video_id_for(path: str | Path) -> tuple[str, str]:
    """(id, sha256): the id is the content hash's first 16 hex digits, so a moved file keeps its id."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_HASH_BLOCK):
            h.update(block)
    digest = h.hexdigest()
    return digest[:16], digest


@dataclass
class IngestReport:
    """What a batch did. ``stopped`` is set when a store-wide fault ended the batch early:
    ``{"store", "error", "code", "not_tried"}``; the files after the one that hit it were not tried."""

    ingested: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)
    stopped: dict | None = None

    @property
    def ok(self) -> bool:
        return not self.failed and self.stopped is None

    def to_dict(self) -> dict:
        return {"ingested": self.ingested, "skipped": self.skipped, "failed": self.failed, "stopped": self.stopped}


class _VideoFailed(Exception):
    """Carries the id of the video whose ingest raised ``__cause__`` out to the batch loop."""

    def __init__(self, video_id: str) -> None:
        super().__init__(video_id)
        self.video_id = video_id


@dataclass
class _InFlight:
    """A video in flight: ``task`` as the driver prepared it, and the tasks submitted for it (the whole video,
    or its time chunks' parts and a task for the stages that are not split)."""

    entry: dict
    task: VideoTask
    claim: ExitStack
    tasks: list[VideoTask] = field(default_factory=list)


def _message(err: MemIndexError) -> str:
    """The error's text with the file and video it names, also when those were set after it was raised."""
    return str(err.to_dict()["message"])


class Runner:
    """Runs one batch on ``executor``; ``store_stages`` are the loaded store-side stages, in order."""

    def __init__(
        self,
        store: Store,
        cfg: Any,
        executor: Executor,
        store_stages: list[tuple[str, Any]],
        emit: ProgressCallback,
        report: IngestReport,
    ) -> None:
        self.store, self.cfg, self.executor = store, cfg, executor
        self.store_stages, self.emit, self.report = store_stages, emit, report
        self.worker_stages = [(spec, spec.load()()) for spec in stages.worker_stages()]
        self.claims = store.dir / "claims"
        self._flight: deque[_InFlight] = deque()
        self._seq = 0

    def run(self, files: list[str]) -> None:
        todo = deque(files)
        try:
            while todo or self._flight:
                while todo and len(self._flight) < self.executor.slots:
                    if not self._safely(todo.popleft(), self._prepare):
                        return self._stop(len(todo) + len(self._flight))
                if self._flight and not self._safely(self._flight[0].entry["path"], self._finish):
                    return self._stop(len(todo) + len(self._flight))
        finally:
            while self._flight:  # stopped or interrupted: their claims go, a re-run resumes them
                f = self._flight.popleft()
                for task in f.tasks:
                    self.executor.discard(task)
                f.claim.close()

    def _stop(self, not_tried: int) -> None:
        self.report.stopped["not_tried"] = not_tried  # type: ignore[index]

    def _safely(self, path: str, step: Any) -> bool:
        """Run one step for a file, reporting its failure; False when the store itself failed (stop)."""
        try:
            step(path)
        except Exception as exc:  # any failure of this one file is reported for it; see memindex.ingest.failures
            vid = exc.video_id if isinstance(exc, _VideoFailed) else None
            cause = exc.__cause__ if isinstance(exc, _VideoFailed) and exc.__cause__ else exc
            log.debug("ingest of %r failed", path, exc_info=cause)
            fault = store_fault(cause, self.store)
            self.failed(path, fault or file_error(cause, path, vid))
            if fault is not None:
                self.report.stopped = {"store": str(self.store.root), "error": _message(fault), "code": fault.code}
            return fault is None
        return True

    def failed(self, path: str, err: MemIndexError) -> None:
        entry = {"path": path, "error": _message(err), "code": err.code}
        if err.video_id:
            entry["video_id"] = err.video_id
        log.info("ingest failed: %s", entry["error"])
        self.report.failed.append(entry)
        self.emit(ProgressEvent("failed", path, err.video_id, message=entry["error"]))

    # -- before the analysis -------------------------------------------------------------------------------
    def _prepare(self, path: str) -> None:
        """Probe, hash, skip or claim and register, then submit. A video already ready, in this batch, or
        claimed by another ingest is skipped."""
        info = probe(path)
        vid, digest = video_id_for(path)
        entry = {"path": path, "video_id": vid, "duration": info.duration}
        if any(f.task.video_id == vid for f in self._flight):
            return self._skip(entry, "already in this batch (same content)")
        if self._status(vid) == READY:
            return self._skip(entry, "already ingested (same content)")
        held = ExitStack()
        if not held.enter_context(claim(self.claims, vid)):
            held.close()
            return self._skip(entry, f"being ingested by {holder(self.claims, vid)}")
        try:
            if self._status(vid) == READY:  # the other ingest finished between our two looks
                held.close()
                return self._skip(entry, "already ingested (same content)")
            self._register(vid, digest, info)
            task = VideoTask(0, path, vid, info, self.cfg, self.store.config, frozenset(self._committed(vid)))
            self.emit(ProgressEvent("start", path, vid, total=info.duration))
            tasks = [self._submit(t) for t in self._split(task)]
        except Exception as exc:
            self._undo(vid, info, exc)
            held.close()
            raise _VideoFailed(vid) from exc
        self._flight.append(_InFlight(entry, task, held, tasks))

    def _split(self, task: VideoTask) -> list[VideoTask]:
        """The video's tasks: one, or the parts of its split stages plus one task for the others. Only an
        executor that runs tasks at once gets parts: run one after another, they would only lose the lanes
        a single task runs side by side (and add the pre-roll decoding at every seam)."""
        info, skip = task.info, set(task.skip)
        seconds = self.cfg.chunk_seconds
        if self.executor.concurrency < 2:
            return [task]
        parts = []
        if "frames" not in skip:
            parts += chunks.visual_parts(info.duration, seconds)
        if "speech" not in skip and info.has_audio:
            parts += chunks.speech_parts(info.duration, seconds, self.cfg)
        split = [p for p in parts if p.count > 1]
        if not split:
            return [task]
        out = [replace(task, part=p) for p in split]
        rest = skip | {p.stage for p in split}
        if any(spec.name not in rest for spec, _ in self.worker_stages):
            out.append(replace(task, skip=frozenset(rest)))
        return out

    def _submit(self, task: VideoTask) -> VideoTask:
        self._seq += 1
        task = replace(task, seq=self._seq, cores=getattr(self.executor, "cores_per_task", None))
        self.executor.submit(task)
        return task

    def _skip(self, entry: dict, why: str) -> None:
        self.emit(ProgressEvent("skipped", entry["path"], entry["video_id"], message=why))
        self.report.skipped.append({**entry, "reason": why})

    def _committed(self, vid: str) -> set[str]:
        """The worker stages whose records a previous run committed."""
        with self.store.Session() as s:
            done = set(
                s.scalars(
                    select(StageRun.stage).where(
                        StageRun.video_id == vid, StageRun.status.in_(("done", "pending", "skipped"))
                    )
                ).all()
            )
        return {spec.name for spec, _ in self.worker_stages if spec.resume_when in done}

    def _register(self, vid: str, digest: str, info: VideoInfo) -> None:
        """The video's row (status ``ingesting``) and the ``pipeline`` row: every stage's options."""
        with self.store.write() as txn:
            v = txn.session.get(Video, vid)
            if v is None:
                txn.session.add(
                    Video(
                        id=vid,
                        uri=str(Path(info.path).resolve()),
                        sha256=digest,
                        size_bytes=info.size_bytes,
                        duration=info.duration,
                        fps=info.fps,
                        width=info.width,
                        height=info.height,
                        codec=info.codec,
                        audio_codec=info.audio_codec,
                        has_audio=info.has_audio,
                        status="ingesting",
                    )
                )
            else:
                v.status, v.uri = "ingesting", str(Path(info.path).resolve())
            record_stage(
                txn,
                vid,
                "pipeline",
                "done",
                "stages=" + ",".join(s.name for s in stages.PIPELINE),
                stages.options_json(self.cfg),
            )

    # -- after the analysis --------------------------------------------------------------------------------
    def _finish(self, path: str) -> None:
        """Commit the oldest video in flight: its worker groups, then the store stages; then it is ready."""
        f = self._flight.popleft()
        task, vid = f.task, f.task.video_id
        with f.claim:
            try:
                self._commit(task, self._records(f))
                for name, stage in self.store_stages:
                    stage.run(vid)
                    self.emit(ProgressEvent("stage", path, vid, stage=name))
            except Exception as exc:
                self._undo(vid, task.info, exc)
                raise _VideoFailed(vid) from exc
            self._set_status(vid, READY)
        self.emit(ProgressEvent("done", path, vid, done=task.info.duration, total=task.info.duration))
        self.report.ingested.append(f.entry)

    def _records(self, f: _InFlight) -> VideoRecords:
        """The video's records: its one task's, or its parts' stitched (``ingest/chunks.py``). A frames seam
        that is not exact sends the whole video's frames to one task instead."""
        out = VideoRecords(f.task.seq, f.task.video_id)
        parts: dict[str, list[Any]] = {}
        try:
            while f.tasks:
                task = f.tasks[0]
                records = self.executor.result(task).records
                f.tasks.pop(0)
                if task.part is None:
                    out.records.update(records)
                else:
                    parts.setdefault(task.part.stage, []).append(records[task.part.stage])
        finally:
            for task in f.tasks:  # a task failed: the video's other tasks are of no use
                self.executor.discard(task)
        text = self.store.text_embedder
        if "speech" in parts:
            out.records["speech"] = chunks.stitch_speech(parts["speech"], text, self.cfg)
        if "frames" in parts:
            visual = chunks.stitch_visual(parts["frames"], text)
            if visual is None:
                log.warning("%s: a time-chunk seam of the frames is not exact; analyzing them in one pass", f.task.path)
                whole = self._submit(
                    replace(f.task, skip=frozenset(s.name for s, _ in self.worker_stages) - {"frames"})
                )
                visual = self.executor.result(whole).records["frames"]
            out.records["frames"] = visual
        return out

    def _commit(self, task: VideoTask, out: VideoRecords) -> None:
        for spec, stage in self.worker_stages:
            records = out.records.get(spec.name)
            if records is not None:
                commit_group(self.store, task.video_id, stage, records, task.config)
                self.emit(ProgressEvent("stage", task.path, task.video_id, stage=spec.name))

    def _undo(self, vid: str, info: VideoInfo, exc: Exception) -> None:
        """A broken file leaves nothing behind; any other failure marks the video failed (a re-run resumes
        it), unless the store itself failed."""
        if isinstance(exc, MediaError):
            self.store.delete_video(vid)
        elif store_fault(exc, self.store) is None:
            self._set_status(vid, "failed", _message(file_error(exc, info.path, vid)))

    def _status(self, vid: str) -> str | None:
        with self.store.Session() as s:
            return s.scalar(select(Video.status).where(Video.id == vid))

    def _set_status(self, vid: str, status: str, error: str | None = None) -> None:
        with self.store.write() as txn:
            v = txn.session.get(Video, vid)
            if v is not None:
                v.status, v.error = status, error
