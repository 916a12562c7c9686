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
from memindex.ingest.chunks import Part, margins
from memindex.ingest.config import IngestConfig
from memindex.ingest.decode import VideoInfo, decode_frames
from memindex.ingest.keyframes import Keyframe, KeyframeSelector
from memindex.ingest.records import OcrLineRec, SampledFrame, Shot
from memindex.ingest.shots import ShotDetector, make_shot_detector
from memindex.ingest.work import Outcome
from memindex.media import MediaCache, encode_jpeg

__all__ = ["VisualResult", "Seams", "KeptFrame", "run_visual_pass", "shots_from", "VisualStage"]

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
    seam: Seams | None = None  # a time chunk's part: what the driver needs to stitch it (``ingest/chunks.py``)


@dataclass
class Seams:
    """A part's view of its seams: the pass's state as it crossed its start (``head``) and its end (``tail``),
    the shots the keyframe selector had closed at each, its own accepted cuts, the ``carried`` mark of each
    of its screen-text lines (lines on screen at its start), and the lines on screen at its end."""

    cuts: list[float] = field(default_factory=list)
    head: tuple | None = None
    tail: tuple | None = None
    head_shots: int = 0
    tail_shots: int = 0
    ocr_marks: list[int | None] = field(default_factory=list)
    ocr_open: list[tuple[int | None, OcrLineRec]] = field(default_factory=list)


def _resize(image: np.ndarray, max_side: int) -> np.ndarray:
    h, w = image.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1:
        return image
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((max(1, int(w * scale)), max(1, int(h * scale))), Image.BILINEAR))


_WHOLE = Part("frames", 0, 1, 0.0, None)
_RECENT = 30.0  # a shot start older than this before a seam can no longer decide whether a cut is new


class _Pass:
    def __init__(
        self, info: VideoInfo, cfg: IngestConfig, embedder: FrameEmbedder | None, part: Part, start: float
    ) -> None:
        self.info, self.cfg, self.part = info, cfg, part
        self.embedder = embedder
        self.result = VisualResult()
        self.cuts: list[float] = []
        self.shot_start = start
        self.keys = KeyframeSelector(cfg.keyframes.max_gap)

    def keep(self, keyframes: list[Keyframe]) -> None:
        """The part's own keyframes as JPEG bytes, each embedded alone (a batch's make-up never shows in its
        vectors, so any split of the video gives the same ones)."""
        for kf in keyframes:
            if not self.part.owns(kf.t):
                continue
            img = _resize(kf.image, self.cfg.keyframes.max_side)
            kept = KeptFrame(
                kf.shot_index, kf.t, f"{int(round(kf.t * 1000)):09d}", img.shape[1], img.shape[0], encode_jpeg(img)
            )
            if self.embedder is not None:
                kept.vector = self.embedder.embed_images([img])[0]
            self.result.frames.append(kept)

    def cut(self, t: float) -> None:
        if t - self.shot_start <= 0:
            return
        if self.part.owns(t):
            self.cuts.append(t)
        self.shot_start = t
        self.keep(self.keys.cut(t))

    def state(self, detector: ShotDetector, t: float) -> tuple:
        """The pass's state before the frame at ``t`` (the OCR thread records its own)."""
        recent = self.shot_start if self.shot_start >= t - _RECENT else None
        return detector.seam_state(), self.keys.seam_state(), recent  # type: ignore[attr-defined]


def shots_from(cuts: list[float], end: float) -> list[Shot]:
    """Shots from accepted cuts (increasing), the last one ending at ``end``."""
    bounds = [0.0, *cuts]
    return [Shot(i, a, b) for i, (a, b) in enumerate(zip(bounds, [*cuts, end], strict=True))]


class _Crossing:
    """Tells the OCR thread that the pass crosses a seam here: record the tracker's state (and at the part's
    start, carry its open lines over)."""

    def __init__(self, head: bool, t: float) -> None:
        self.head, self.t = head, t


class _OcrWorker:
    """Runs the screen-text tracker in its own thread (ONNX Runtime releases the GIL), fed through a small
    bounded queue, so reading text overlaps decoding instead of stalling it. Only the lines a frame of the
    part's own range finishes are kept."""

    def __init__(self, tracker: object, part: Part, depth: int = 8) -> None:
        self.tracker, self.part = tracker, part
        self.lines: list[OcrLineRec] = []
        self.marks: list[int | None] = []
        self.head: tuple | None = None
        self.tail: tuple | None = None
        self.open: list[tuple[int | None, OcrLineRec]] = []
        self._queue: queue.Queue[SampledFrame | _Crossing | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="memindex-ocr", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._take(item)
                except BaseException as exc:  # re-raised in the decoding thread by finish()
                    self._error = exc

    def _take(self, item: SampledFrame | _Crossing) -> None:
        tracker: Any = self.tracker
        if isinstance(item, _Crossing):
            if item.head:
                self.head = tracker.seam_state(item.t)
                tracker.continue_lines()
            else:
                self.tail, self.open = tracker.seam_state(item.t), tracker.open_lines()
            return
        lines, marks = tracker.feed(item), tracker.take_marks()
        if self.part.owns(item.t):
            self.lines.extend(lines)
            self.marks.extend(marks)

    def submit(self, item: SampledFrame | _Crossing) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(item)

    def finish(self, end: float | None) -> list[OcrLineRec]:
        """Drain the queue; with ``end`` close the open lines there (None: leave them, or abandon after an
        error)."""
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error
        if end is not None:
            self.lines.extend(self.tracker.flush(end))  # type: ignore[attr-defined]
            self.marks.extend(self.tracker.take_marks())  # type: ignore[attr-defined]
        return self.lines


def run_visual_pass(
    info: VideoInfo,
    cfg: IngestConfig,
    *,
    embedder: FrameEmbedder | None,
    ocr: object | None,
    on_progress: Callable[[float], None] | None = None,
    part: Part = _WHOLE,
) -> VisualResult:
    """Decode once; returns shots covering [0, end], keyframes as JPEG bytes, and screen text. A ``part`` of a
    longer video decodes its range with the margins around it and returns its own records and its seams."""
    pre, post = margins(cfg)
    start = 0.0 if part.first else max(0.0, part.start - pre)
    stop = None if part.last or part.end is None else part.end + post
    p = _Pass(info, cfg, embedder, part, start)
    detector = make_shot_detector(cfg.shots.detector, min_shot=cfg.shots.min_shot, threshold=cfg.shots.threshold)
    worker = _OcrWorker(ocr, part) if ocr is not None else None
    seams = Seams()
    crossings = [(part.start, True)] if not part.first else []
    crossings += [(part.end, False)] if not part.last and part.end is not None else []
    last_report, t = 0.0, 0.0
    try:
        for frame in decode_frames(
            info.path,
            analysis_width=cfg.decode.analysis_width,
            sample_every=cfg.decode.sample_every,
            skip_nonref=cfg.decode.skip_nonref,
            start=start,
            end=stop,
        ):
            t = frame.t
            while crossings and t >= crossings[0][0]:
                _cross(p, detector, worker, seams, t, crossings.pop(0)[1])
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
        if part.last:
            _finish(p, detector, t)
        elif crossings:  # the stream ends before this part's end: its seams cannot be checked (one pass instead)
            seams.tail = None
    except MediaError:
        if part.first or t > 0.0:
            raise
        seams.head = None  # nothing to decode from the part's start: the stream ends before it (one pass instead)
    finally:
        if worker is not None:
            p.result.ocr.extend(worker.finish(p.result.decoded_until or None))
    if part.count > 1:
        _seams(p, worker, seams)
    return p.result


def _cross(p: _Pass, detector: ShotDetector, worker: _OcrWorker | None, seams: Seams, t: float, head: bool) -> None:
    state = p.state(detector, t)
    if head:
        seams.head, seams.head_shots = state, p.keys.shots
    else:
        seams.tail, seams.tail_shots = state, p.keys.shots
    if worker is not None:
        worker.submit(_Crossing(head, t))


def _seams(p: _Pass, worker: _OcrWorker | None, seams: Seams) -> None:
    seams.cuts = p.cuts
    if worker is not None:
        seams.head = seams.head and (*seams.head, worker.head)
        seams.tail = seams.tail and (*seams.tail, worker.tail)
        seams.ocr_marks, seams.ocr_open = worker.marks, worker.open
    p.result.seam = seams


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
    p.result.shots = shots_from(p.cuts, end) if p.part.first else []
    p.keep(p.keys.flush())
    p.result.decoded_until = end


def outcomes(res: VisualResult, detector: str, visual: Any, ocr: str | None, seconds: float) -> list[Any]:
    """The ``Outcome`` rows of a (stitched) visual result."""
    return [
        Outcome("shots", "done", detector, f"{len(res.shots)} shots", seconds),
        Outcome("keyframes", "done", None, f"{len(res.frames)} keyframes"),
        visual,
        Outcome("ocr", "done", ocr, f"{len(res.ocr)} lines") if ocr else Outcome("ocr", "skipped", None, "disabled"),
    ]


class VisualStage:
    """Worker stage ``frames``: the decode pass, then the screen text's vectors; the driver writes the
    keyframes to the media cache and the rows and docs of shots, keyframes, visual and ocr in one group."""

    def produce(self, job: Any) -> VisualResult:
        res, models = self._pass(job, _WHOLE)
        if res.ocr:
            res.ocr_vectors = job.models.text().embed([ln.text for ln in res.ocr])
        res.outcomes = outcomes(res, *models)
        return res

    def produce_part(self, job: Any, part: Part) -> VisualResult:
        """One time chunk's part; the driver stitches the parts (``ingest/chunks.py``) and embeds the text."""
        res, models = self._pass(job, part)
        res.outcomes = outcomes(res, *models)
        return res

    def _pass(self, job: Any, part: Part) -> tuple[VisualResult, tuple[Any, Any, Any, float]]:
        t0 = time.perf_counter()
        job.advance(part.start)  # the analysis began (a progress display shows the video as active)
        embedder, why = job.models.frame()
        tracker = _tracker(job)
        res = run_visual_pass(job.info, job.config, embedder=embedder, ocr=tracker, on_progress=job.advance, part=part)
        visual = (
            Outcome("visual", "done", embedder.name)
            if embedder
            else Outcome("visual", "pending", job.task.store_config.frame.name, why or "disabled")
        )
        return res, (job.config.shots.detector, visual, tracker.name if tracker else None, time.perf_counter() - t0)

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

    # ONNX Runtime's threads follow the task's share of the cores (its results do not: 1, 2 and 4 threads read
    # the same lines with the same scores); left unset, it takes every core in every worker.
    options = {"threads": job.task.cores} if cfg.reader == "rapidocr" and job.task.cores else {}
    reader = job.models.load("ocr", (cfg.reader, options), lambda: make_ocr_reader(cfg.reader, **options))
    return ScreenTextTracker(reader, interval=cfg.interval, budget=cfg.budget)
