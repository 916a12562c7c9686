"""The ingester the core finds through the ``memindex.ingesters`` entry point: a folder or a list of
files in, one committed video at a time out; resumable, and a failing video never stops the others."""

from __future__ import annotations

import hashlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ingest.batch import discover
from ingest.claims import claim, holder
from ingest.commit import commit_speech, commit_visual
from ingest.config import IngestConfig
from ingest.decode import VideoInfo, probe
from ingest.failures import file_error, store_fault
from ingest.visual_pass import run_visual_pass
from memindex.catalog.models import READY, StageRun, Video
from memindex.encoders.base import FrameEmbedder
from memindex.errors import MediaError, MemIndexError, StageError, StoreError
from memindex.progress import ProgressCallback, ProgressEvent
from memindex.store import Store

__all__ = ["Ingester", "IngestReport", "video_id_for"]

log = logging.getLogger(__name__)
_HASH_BLOCK = 1 << 20


class _VideoFailed(Exception):
    """Carries the id of the video whose ingest raised ``__cause__`` out to the batch loop."""

    def __init__(self, video_id: str) -> None:
        super().__init__(video_id)
        self.video_id = video_id


def _message(err: MemIndexError) -> str:
    """The error's text with the file and video it names, also when those were set after it was raised."""
    return str(err.to_dict()["message"])


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


class Ingester:
    """Runs the stages over videos and commits each stage group atomically."""

    def __init__(self, store: Store, config: IngestConfig | None = None, **_: Any) -> None:
        self.store = store
        self.cfg = config or IngestConfig()
        self._frame_embedder: FrameEmbedder | None = None
        self._frame_failed: str | None = None
        self._ocr_reader: Any = None
        self._transcriber: Any = None
        self._hierarchy: Any = None
        self._diarizer: Any = None
        self._diarizer_failed: str | None = None

    # -- models, loaded once per ingester ----------------------------------------------------------------
    def frame_embedder(self) -> FrameEmbedder | None:
        """CLIP, or None (said once) when its weights cannot be loaded: the visual tier stays pending."""
        if not self.store.config.frame.enabled or self._frame_failed:
            return None
        if self._frame_embedder is None:
            try:
                self._frame_embedder = self.store.frame_embedder
            except MemIndexError as exc:
                self._frame_failed = str(exc)
                log.warning("keyframe embeddings are PENDING: %s. Run `memindex backfill --stage visual` "
                            "once the weights are available.", exc)
                return None
        return self._frame_embedder

    def ocr_tracker(self) -> Any:
        if not self.cfg.ocr.enabled:
            return None
        from ingest.ocr import ScreenTextTracker, make_ocr_reader

        if self._ocr_reader is None:
            self._ocr_reader = make_ocr_reader(self.cfg.ocr.reader)
        return ScreenTextTracker(self._ocr_reader, interval=self.cfg.ocr.interval, budget=self.cfg.ocr.budget)

    def transcriber(self) -> Any:
        from ingest.asr import transcriber_for

        if self._transcriber is None:
            self._transcriber = transcriber_for(self.cfg.asr)
        return self._transcriber

    def hierarchy(self) -> Any:
        """Captions, events, chapters and segment texts, built from the stored rows (ingest/rebuild.py)."""
        from ingest.rebuild import HierarchyBuilder

        if self._hierarchy is None:
            self._hierarchy = HierarchyBuilder(self.store, self.cfg)
        return self._hierarchy

    # -- batch ---------------------------------------------------------------------------------------------
    def ingest(self, paths: Any, *, progress: ProgressCallback | None = None) -> IngestReport:
        """Each file that fails is reported in ``failed`` and the batch goes on; a store-wide fault stops it
        (``report.stopped``). KeyboardInterrupt stops it at once: committed work is kept, a re-run resumes."""
        emit = progress or (lambda _e: None)
        report = IngestReport()
        files, problems = discover(paths)
        emit(ProgressEvent("batch", "", total=len(files) + len(problems)))
        for path, why in problems:
            self._failed(report, emit, path, MediaError(why, path=path))
        for n, path in enumerate(files):
            if not self._one_safely(path, report, emit):
                report.stopped["not_tried"] = len(files) - n - 1  # type: ignore[index]
                break
        return report

    def _one_safely(self, path: str, report: IngestReport, emit: ProgressCallback) -> bool:
        """Ingest one file, reporting its failure; False when the store itself failed (stop the batch)."""
        try:
            outcome, entry = self.ingest_one(path, emit)
        except Exception as exc:  # any failure of this one file is reported for it; see ingest.failures
            vid = exc.video_id if isinstance(exc, _VideoFailed) else None
            cause = exc.__cause__ if isinstance(exc, _VideoFailed) and exc.__cause__ else exc
            log.debug("ingest of %r failed", path, exc_info=cause)
            fault = store_fault(cause, self.store)
            self._failed(report, emit, path, fault or file_error(cause, path, vid))
            if fault is not None:
                report.stopped = {"store": str(self.store.root), "error": _message(fault), "code": fault.code}
            return fault is None
        (report.skipped if outcome == "skipped" else report.ingested).append(entry)
        return True

    def _failed(self, report: IngestReport, emit: ProgressCallback, path: str, err: MemIndexError) -> None:
        entry = {"path": path, "error": _message(err), "code": err.code}
        if err.video_id:
            entry["video_id"] = err.video_id
        log.info("ingest failed: %s", entry["error"])
        report.failed.append(entry)
        emit(ProgressEvent("failed", path, err.video_id, message=entry["error"]))

    # -- one video -----------------------------------------------------------------------------------------
    def ingest_one(self, path: str, emit: ProgressCallback) -> tuple[str, dict]:
        """("ingested" | "skipped", the report entry). Skips a video already in the store, and one another
        process (or another ``MemoryIndex`` on this store) is ingesting right now: its per-video claim."""
        info = probe(path)
        vid, digest = video_id_for(path)
        entry = {"path": path, "video_id": vid, "duration": info.duration}
        claims = self.store.dir / "claims"
        if self._status(vid) == READY:
            return self._skip(entry, "already ingested (same content)", emit)
        with claim(claims, vid) as mine:
            if not mine:
                return self._skip(entry, f"being ingested by {holder(claims, vid)}", emit)
            if self._status(vid) == READY:  # the other ingest finished between our two looks
                return self._skip(entry, "already ingested (same content)", emit)
            self._claimed(vid, digest, info, emit)
        emit(ProgressEvent("done", path, vid, done=info.duration, total=info.duration))
        return "ingested", entry

    def _skip(self, entry: dict, why: str, emit: ProgressCallback) -> tuple[str, dict]:
        emit(ProgressEvent("skipped", entry["path"], entry["video_id"], message=why))
        return "skipped", {**entry, "reason": why}

    def _claimed(self, vid: str, digest: str, info: VideoInfo, emit: ProgressCallback) -> None:
        """The work on one video, under its claim. A broken file leaves nothing behind; any other failure of
        this video marks it failed (a re-run resumes it), unless the store itself failed."""
        self._register(vid, digest, info)
        emit(ProgressEvent("start", info.path, vid, total=info.duration))
        try:
            self._run_stages(vid, info, emit)
        except Exception as exc:
            self._undo(vid, info, exc)
            raise _VideoFailed(vid) from exc
        self._set_status(vid, READY)

    def _undo(self, vid: str, info: VideoInfo, exc: Exception) -> None:
        if isinstance(exc, MediaError):
            self.store.delete_video(vid)
        elif store_fault(exc, self.store) is None:
            self._set_status(vid, "failed", _message(file_error(exc, info.path, vid)))

    def _run_stages(self, vid: str, info: VideoInfo, emit: ProgressCallback) -> None:
        done = self._done_stages(vid)
        _ = self.store.text_embedder  # load once, before two threads need it
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="memindex-ingest") as pool:
            speech = None
            if "asr" not in done and info.has_audio and self.cfg.asr.enabled:
                speech = pool.submit(self._speech, vid, info)
            if "shots" not in done:
                self._visual(vid, info, emit)
            if speech is not None:
                self._speech_outcome(vid, speech)
        if info.has_audio is False and "asr" not in done:
            with self.store.write() as txn:
                from ingest.commit import record_stage

                record_stage(txn, vid, "asr", "skipped", None, "no audio stream")
        self.hierarchy().caption(vid)
        self.hierarchy().build(vid)
        self._semantic(vid)

    def _semantic(self, vid: str) -> None:
        """Consolidate names, terms and facts; a failure is recorded and the video stays ingested."""
        if not self.cfg.semantic.enabled:
            return
        from ingest.semantic import consolidate

        try:
            consolidate(self.store, vid, self.cfg.semantic)
        except StoreError:
            raise  # the store itself failed: the batch stops, not just this stage
        except MemIndexError as exc:
            log.error("semantic stage FAILED for video %s: %s (`memindex rebuild --stage semantic` retries)",
                      vid, exc)
            with self.store.write() as txn:
                from ingest.commit import record_stage

                record_stage(txn, vid, "semantic", "failed", None, str(exc))

    def _speech_outcome(self, vid: str, future: Any) -> None:
        """A failed ASR stage is recorded and reported loudly; the video's other tiers still land."""
        try:
            future.result()
        except StoreError:
            raise
        except MemIndexError as exc:
            log.error("speech stage FAILED for video %s: %s (re-run ingest to retry it)", vid, exc)
            with self.store.write() as txn:
                from ingest.commit import record_stage

                record_stage(txn, vid, "asr", "failed", self.cfg.asr.model, str(exc))

    def _visual(self, vid: str, info: VideoInfo, emit: ProgressCallback) -> None:
        t0 = time.perf_counter()
        embedder = self.frame_embedder()
        tracker = self.ocr_tracker()
        res = run_visual_pass(info, vid, self.cfg, self.store.media, embedder=embedder, ocr=tracker,
                              on_progress=lambda t: emit(ProgressEvent("advance", info.path, vid, "video", t,
                                                                       info.duration)))
        res.seconds["shots"] = time.perf_counter() - t0
        stages: dict[str, tuple[str, str | None, str | None]] = {
            "shots": ("done", f"{self.cfg.shots.detector}", f"{len(res.shots)} shots"),
            "keyframes": ("done", None, f"{len(res.frames)} keyframes"),
            "visual": ("done", embedder.name, None) if embedder else
            ("pending", self.store.config.frame.name, self._frame_failed or "disabled"),
        }
        stages["ocr"] = ("done", tracker.name, f"{len(res.ocr)} lines") if tracker else \
            ("skipped", None, "disabled")
        commit_visual(self.store, vid, res, self.store.text_embedder, stages)

    def _speech(self, vid: str, info: VideoInfo) -> None:
        from ingest.audio import audio_chunks

        t0 = time.perf_counter()
        asr = self.transcriber()
        utts = []
        speakers = self.speaker_stage(vid)
        try:
            for chunk in audio_chunks(info.path, chunk_seconds=self.cfg.asr.chunk_seconds):
                utts.extend(asr.transcribe(chunk))
                speakers = self._feed_speakers(vid, speakers, chunk)
        except StageError as exc:
            exc.video_id = vid
            raise
        if speakers is not None:
            utts = speakers.label(self.store, vid, utts)[0]
        commit_speech(self.store, vid, utts, self.store.text_embedder, asr.name, time.perf_counter() - t0)

    def speaker_stage(self, vid: str) -> Any:
        """A fresh ``SpeakerStage`` for one video, or None (recorded as failed, said loudly) when the
        diarizer cannot load; speech is still transcribed."""
        if not self.cfg.speakers.enabled:
            return None
        from ingest.diarize import SpeakerStage, make_diarizer

        if self._diarizer is None and self._diarizer_failed is None:
            try:
                self._diarizer = make_diarizer(self.cfg.speakers)
            except MemIndexError as exc:
                self._diarizer_failed = str(exc)
        if self._diarizer is None:
            log.error("speakers stage FAILED for video %s: %s; words get no speaker ids", vid,
                      self._diarizer_failed)
            with self.store.write() as txn:
                from ingest.commit import record_stage

                record_stage(txn, vid, "speakers", "failed", self.cfg.speakers.backend, self._diarizer_failed)
            return None
        return SpeakerStage(self._diarizer, self.cfg.speakers)

    def _feed_speakers(self, vid: str, stage: Any, chunk: Any) -> Any:
        if stage is None:
            return None
        try:
            stage.feed(chunk)
            return stage
        except StageError as exc:
            log.error("speakers stage FAILED for video %s at %.1f s: %s", vid, chunk.start, exc)
            with self.store.write() as txn:
                from ingest.commit import record_stage

                record_stage(txn, vid, "speakers", "failed", stage.diarizer.name, str(exc))
            return None

    # -- catalog helpers ---------------------------------------------------------------------------------
    def _status(self, vid: str) -> str | None:
        with self.store.Session() as s:
            return s.scalar(select(Video.status).where(Video.id == vid))

    def _done_stages(self, vid: str) -> set[str]:
        with self.store.Session() as s:
            return set(s.scalars(select(StageRun.stage).where(
                StageRun.video_id == vid, StageRun.status.in_(("done", "pending", "skipped")))).all())

    def _register(self, vid: str, digest: str, info: VideoInfo) -> None:
        with self.store.write() as txn:
            v = txn.session.get(Video, vid)
            if v is None:
                txn.session.add(Video(id=vid, uri=str(Path(info.path).resolve()), sha256=digest,
                                      size_bytes=info.size_bytes, duration=info.duration, fps=info.fps,
                                      width=info.width, height=info.height, codec=info.codec,
                                      audio_codec=info.audio_codec, has_audio=info.has_audio,
                                      status="ingesting"))
            else:
                v.status, v.uri = "ingesting", str(Path(info.path).resolve())

    def _set_status(self, vid: str, status: str, error: str | None = None) -> None:
        with self.store.write() as txn:
            v = txn.session.get(Video, vid)
            if v is not None:
                v.status, v.error = status, error

    # -- backfill ----------------------------------------------------------------------------------------
    def backfill(self, stage: str = "visual", *, progress: ProgressCallback | None = None) -> dict:
        from ingest.backfill import backfill_visual

        if stage != "visual":
            from memindex.errors import ConfigError

            raise ConfigError(f"unknown backfill stage {stage!r}; valid: ['visual']")
        return backfill_visual(self.store, self.frame_embedder(), self._frame_failed)

    # -- rebuild -----------------------------------------------------------------------------------------
    def rebuild(self, stage: str, videos: Any = None, *, progress: ProgressCallback | None = None) -> dict:
        """Re-derive a stage (events | captions) from stored rows, replacing its results atomically."""
        from ingest.rebuild import rebuild

        return rebuild(self.store, stage, videos, builder=self.hierarchy(), semantic=self.cfg.semantic)
