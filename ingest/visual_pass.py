"""The single decode pass over a video's frames: shots, keyframes (JPEG bytes kept in memory), screen text and
keyframe embeddings, all streamed so memory stays flat in the video's length. ``VisualStage`` is the
pipeline's ``frames`` stage: the pass and its text vectors on a worker, its records written by the driver."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from memindex.encoders.base import FrameEmbedder
from memindex.errors import MediaError
from memindex.ingest.config import IngestConfig
from memindex.ingest.decode import VideoInfo, decode_frames
from memindex.ingest.keyframes import Keyframe, KeyframeSelector
from memindex.ingest.records import OcrLineRec, SampledFrame, Shot
from memindex.ingest.shots import make_shot_detector
from memindex.media import MediaCache, encode_jpeg

__all__ = ["VisualResult", "KeptFrame", "run_visual_pass", "VisualStage"]

log = logging.getLogger(__name__)


@dataclass
class KeptFrame:
    """A keyframe as JPEG bytes; ``path`` is set when the driver has written it to the media cache."""

    shot_index: int
    t: float
    name: str
    width: int
    height: int
    jpeg: bytes
    vector: np.ndarray | None = None
    path: str = ""


@dataclass
class VisualResult:
    shots: list[Shot] = field(default_factory=list)
    frames: list[KeptFrame] = field(default_factory=list)
    ocr: list[OcrLineRec] = field(default_factory=list)
    decoded_until: float = 0.0
    seconds: dict[str, float] = field(default_factory=dict)
    ocr_vectors: np.ndarray | None = None  # text vectors of ``ocr``, in order
    outcomes: list = field(default_factory=list)  # the ``Outcome`` of shots, keyframes, visual and ocr


def _resize(image: np.ndarray, max_side: int) -> np.ndarray:
    h, w = image.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1:
        return image
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((max(1, int(w * scale)), max(1, int(h * scale))), Image.BILINEAR))


class _Pass:
    def __init__(self, info: VideoInfo, cfg: IngestConfig, embedder: FrameEmbedder | None, ocr: object | None) -> None:
        self.info, self.cfg = info, cfg
        self.embedder, self.ocr = embedder, ocr
        self.result = VisualResult()
        self.shot_start = 0.0
        self.keys = KeyframeSelector(cfg.keyframes.max_gap)
        self.pending: list[tuple[KeptFrame, np.ndarray]] = []

    def keep(self, keyframes: list[Keyframe]) -> None:
        for kf in keyframes:
            img = _resize(kf.image, self.cfg.keyframes.max_side)
            kept = KeptFrame(
                kf.shot_index, kf.t, f"{int(round(kf.t * 1000)):09d}", img.shape[1], img.shape[0], encode_jpeg(img)
            )
            self.result.frames.append(kept)
            if self.embedder is not None:
                self.pending.append((kept, img))
        if len(self.pending) >= 16:
            self.embed_pending()

    def embed_pending(self) -> None:
        if self.embedder is None or not self.pending:
            return
        vecs = self.embedder.embed_images([img for _, img in self.pending])
        for (kept, _), vec in zip(self.pending, vecs, strict=True):
            kept.vector = vec
        self.pending = []

    def cut(self, t: float) -> None:
        if t - self.shot_start <= 0:
            return
        self.result.shots.append(Shot(len(self.result.shots), self.shot_start, t))
        self.shot_start = t
        self.keep(self.keys.cut(t))


class _OcrWorker:
    """Runs the screen-text tracker in its own thread (ONNX Runtime releases the GIL), fed through a small
    bounded queue, so reading text overlaps decoding instead of stalling it."""

    def __init__(self, tracker: object, depth: int = 8) -> None:
        self.tracker = tracker
        self.lines: list[OcrLineRec] = []
        self._queue: queue.Queue[SampledFrame | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="memindex-ocr", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (frame := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self.lines.extend(self.tracker.feed(frame))  # type: ignore[attr-defined]
                except BaseException as exc:  # re-raised in the decoding thread by finish()
                    self._error = exc

    def submit(self, frame: SampledFrame) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(frame)

    def finish(self, end: float | None) -> list[OcrLineRec]:
        """Drain the queue; with ``end`` close the open lines there (None: abandon after an error)."""
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error
        if end is not None:
            self.lines.extend(self.tracker.flush(end))  # type: ignore[attr-defined]
        return self.lines


def run_visual_pass(
    info: VideoInfo,
    cfg: IngestConfig,
    *,
    embedder: FrameEmbedder | None,
    ocr: object | None,
    on_progress: Callable[[float], None] | None = None,
) -> VisualResult:
    """Decode once; returns shots covering [0, end], keyframes as JPEG bytes, and screen text."""
    p = _Pass(info, cfg, embedder, ocr)
    detector = make_shot_detector(cfg.shots.detector, min_shot=cfg.shots.min_shot, threshold=cfg.shots.threshold)
    worker = _OcrWorker(ocr) if ocr is not None else None
    last_report, t = 0.0, 0.0
    try:
        for frame in decode_frames(
            info.path,
            analysis_width=cfg.decode.analysis_width,
            sample_every=cfg.decode.sample_every,
            skip_nonref=cfg.decode.skip_nonref,
        ):
            t = frame.t
            for cut in detector.feed(t, frame.small):
                p.cut(cut)
            if frame.rgb is not None:
                sample = SampledFrame(t, frame.rgb)
                p.keep(p.keys.feed(sample))
                if worker is not None:
                    worker.submit(sample)
            if on_progress and t - last_report >= 5.0:
                on_progress(t)
                last_report = t
        _finish(p, detector, t)
    finally:
        if worker is not None:
            p.result.ocr.extend(worker.finish(p.result.decoded_until or None))
    return p.result


def _finish(p: _Pass, detector: object, t_last: float) -> None:
    info = p.info
    end = max(info.duration, t_last)
    if info.duration and t_last < info.duration * 0.9 - 2.0:
        raise MediaError(
            f"the video stream ends at {t_last:.1f}s of {info.duration:.1f}s (truncated file?)",
            path=info.path,
            t=t_last,
        )
    for cut in detector.flush():  # type: ignore[attr-defined]
        p.cut(cut)
    p.result.shots.append(Shot(len(p.result.shots), p.shot_start, end))
    p.keep(p.keys.flush())
    p.embed_pending()
    p.result.decoded_until = end


class VisualStage:
    """Worker stage ``frames``: the decode pass, then the screen text's vectors; the driver writes the
    keyframes to the media cache and the rows and docs of shots, keyframes, visual and ocr in one group."""

    def produce(self, job: Any) -> VisualResult:
        from memindex.ingest.work import Outcome

        t0 = time.perf_counter()
        job.advance(0.0)  # the analysis began (a progress display shows the video as active)
        embedder, why = job.models.frame()
        tracker = _tracker(job)
        res = run_visual_pass(job.info, job.config, embedder=embedder, ocr=tracker, on_progress=job.advance)
        if res.ocr:
            res.ocr_vectors = job.models.text().embed([ln.text for ln in res.ocr])
        frame_cfg = job.task.store_config.frame
        res.outcomes = [
            Outcome("shots", "done", job.config.shots.detector, f"{len(res.shots)} shots", time.perf_counter() - t0),
            Outcome("keyframes", "done", None, f"{len(res.frames)} keyframes"),
            Outcome("visual", "done", embedder.name)
            if embedder
            else Outcome("visual", "pending", frame_cfg.name, why or "disabled"),
            Outcome("ocr", "done", tracker.name, f"{len(res.ocr)} lines")
            if tracker
            else Outcome("ocr", "skipped", None, "disabled"),
        ]
        return res

    def write_files(self, media: MediaCache, video_id: str, res: VisualResult) -> None:
        for frame in res.frames:
            frame.path = media.put_jpeg(video_id, frame.name, frame.jpeg)

    def commit(self, txn: Any, video_id: str, res: VisualResult, cfg: IngestConfig) -> None:
        from memindex.ingest.commit import add_visual

        add_visual(txn, video_id, res)


def _tracker(job: Any) -> Any:
    """A fresh screen-text tracker for the video, over the process's OCR reader; None when OCR is off."""
    cfg = job.config.ocr
    if not cfg.enabled:
        return None
    from memindex.ingest.ocr import ScreenTextTracker, make_ocr_reader

    reader = job.models.load("ocr", cfg.reader, lambda: make_ocr_reader(cfg.reader))
    return ScreenTextTracker(reader, interval=cfg.interval, budget=cfg.budget)
