"""On-screen text (OCR): pluggable readers and a push-style tracker that reads each piece of screen text once.

``ScreenTextTracker`` is fed sampled frames in one pass over a video. It samples at ``interval``, skips
frames a cheap prefilter says cannot hold text, skips frames nearly identical to the last one it decided on,
reads the rest (downscaled to ``max_side``) and merges fuzzily-equal lines across reads into one
``OcrLineRec`` spanning the time the text was visible. Defaults were chosen by ``benchmarks/ocr_choice.py``.
"""

from __future__ import annotations

import logging
import math
import time
import zlib
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any, Protocol, runtime_checkable

import numpy as np

from memindex.errors import ConfigError, MissingDependencyError, StageError
from memindex.ingest.records import OcrLineRec, SampledFrame
from memindex.registry import Registry

__all__ = [
    "Box",
    "OcrReader",
    "TextPrefilter",
    "RapidOcrReader",
    "TesseractReader",
    "DetectorPrefilter",
    "EdgePrefilter",
    "OCR_READERS",
    "make_ocr_reader",
    "ScreenTextTracker",
    "ReadBudget",
    "TrackerStats",
    "text_similarity",
]

logger = logging.getLogger(__name__)

Box = tuple[tuple[float, float], ...]
"""Four (x, y) corners in pixels."""


@runtime_checkable
class OcrReader(Protocol):
    """Reads text lines from one RGB image; ``name`` identifies the model for the index config."""

    name: str

    def read(self, image: np.ndarray) -> list[tuple[str, float, Box]]: ...


class TextPrefilter(Protocol):
    """Cheap test on a small RGB thumbnail: can this frame hold text at all?"""

    def __call__(self, thumb: np.ndarray) -> bool: ...


def _import_cv2() -> Any:
    try:
        import cv2
    except ImportError as exc:
        raise MissingDependencyError("opencv-python-headless", "ocr", "on-screen text") from exc
    return cv2


def _to_box(points: Any) -> Box:
    return tuple((float(x), float(y)) for x, y in points)


class RapidOcrReader:
    """PP-OCRv4 detector + recognizer through ONNX Runtime (rapidocr-onnxruntime); CPU, no downloads."""

    def __init__(self, *, min_confidence: float = 0.6, det_limit_side_len: int = 960, threads: int = -1):
        try:
            from importlib.metadata import version

            from rapidocr_onnxruntime import RapidOCR
        except ImportError as exc:
            raise MissingDependencyError("rapidocr-onnxruntime", "ocr", "on-screen text") from exc
        self._cv2 = _import_cv2()
        self.min_confidence = min_confidence
        # limit_type "max" only ever shrinks; the package default ("min", 736) upscales 720p frames.
        self._engine = RapidOCR(
            det_limit_side_len=det_limit_side_len,
            det_limit_type="max",
            text_score=min_confidence,
            intra_op_num_threads=threads,
        )
        self.name = f"rapidocr-onnxruntime-{version('rapidocr-onnxruntime')}/PP-OCRv4"

    def read(self, image: np.ndarray) -> list[tuple[str, float, Box]]:
        bgr = self._cv2.cvtColor(image, self._cv2.COLOR_RGB2BGR)
        result, _ = self._engine(bgr)
        lines = []
        for points, text, score in result or ():
            if float(score) >= self.min_confidence and text.strip():
                lines.append((text.strip(), float(score), _to_box(points)))
        return lines

    def detect(self, image: np.ndarray) -> list[Box]:
        """Text boxes only (no recognition): the cheap half of ``read``."""
        bgr = self._cv2.cvtColor(image, self._cv2.COLOR_RGB2BGR)
        boxes, _ = self._engine.text_det(bgr)
        return [] if boxes is None else [_to_box(b) for b in boxes]


class TesseractReader:
    """Tesseract 5 through pytesseract; needs the ``tesseract`` binary on PATH."""

    def __init__(self, *, min_confidence: float = 0.6, lang: str = "eng", psm: int = 11):
        purpose = "on-screen text with Tesseract (also: apt-get install tesseract-ocr tesseract-ocr-eng)"
        try:
            import pytesseract
        except ImportError as exc:
            raise MissingDependencyError("pytesseract", "tesseract", purpose) from exc
        try:
            engine_version = pytesseract.get_tesseract_version()
        except pytesseract.TesseractNotFoundError as exc:
            raise MissingDependencyError("tesseract-ocr", "tesseract", purpose) from exc
        self._tess = pytesseract
        self.min_confidence = min_confidence
        self._config = f"--psm {psm}"
        self._lang = lang
        self.name = f"tesseract-{engine_version}/{lang}/psm{psm}"

    def read(self, image: np.ndarray) -> list[tuple[str, float, Box]]:
        data = self._tess.image_to_data(image, lang=self._lang, config=self._config, output_type=self._tess.Output.DICT)
        words: dict[tuple[int, int, int], list[int]] = {}
        for i, word in enumerate(data["text"]):
            if word.strip() and float(data["conf"][i]) >= 0:
                words.setdefault((data["block_num"][i], data["par_num"][i], data["line_num"][i]), []).append(i)
        lines = [_tesseract_line(data, idx) for idx in words.values()]
        return [line for line in lines if line[1] >= self.min_confidence]


def _tesseract_line(data: dict[str, list[Any]], idx: list[int]) -> tuple[str, float, Box]:
    text = " ".join(data["text"][i].strip() for i in idx)
    conf = float(np.mean([float(data["conf"][i]) for i in idx])) / 100.0
    x0 = min(data["left"][i] for i in idx)
    y0 = min(data["top"][i] for i in idx)
    x1 = max(data["left"][i] + data["width"][i] for i in idx)
    y1 = max(data["top"][i] + data["height"][i] for i in idx)
    return text, conf, ((x0, y0), (x1, y0), (x1, y1), (x0, y1))


OCR_READERS: Registry[OcrReader] = Registry("memindex.ocr_readers", "OCR reader")
OCR_READERS.register("rapidocr", RapidOcrReader)
OCR_READERS.register("tesseract", TesseractReader)


def make_ocr_reader(name: str, **kwargs: Any) -> OcrReader:
    """Build a registered reader by name; an unknown name fails listing the valid ones."""
    return OCR_READERS.create(name, **kwargs)


class DetectorPrefilter:
    """Runs only a text detector (e.g. ``RapidOcrReader.detect``) on the thumbnail: ~15 ms at 320 px."""

    def __init__(self, detector: Any, *, min_boxes: int = 1):
        self._detect = detector.detect
        self.min_boxes = min_boxes

    def __call__(self, thumb: np.ndarray) -> bool:
        return len(self._detect(thumb)) >= self.min_boxes


class EdgePrefilter:
    """Text-likeness from morphology: counts wide, short, dense gradient blobs (~1 ms at 320 px)."""

    def __init__(self, *, min_blobs: int = 1, grad_threshold: int = 60):
        self._cv2 = _import_cv2()
        self.min_blobs = min_blobs
        self.grad_threshold = grad_threshold

    def __call__(self, thumb: np.ndarray) -> bool:
        return self.score(thumb) >= self.min_blobs

    def score(self, thumb: np.ndarray) -> int:
        cv2 = self._cv2
        gray = cv2.cvtColor(thumb, cv2.COLOR_RGB2GRAY) if thumb.ndim == 3 else thumb
        grad = cv2.morphologyEx(gray, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
        mask = (grad >= self.grad_threshold).astype(np.uint8)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((1, 7), np.uint8))
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        w, h, area = stats[1:n, 2], stats[1:n, 3], stats[1:n, 4]
        max_h = max(8, gray.shape[0] // 4)
        ok = (h >= 4) & (h <= max_h) & (w >= 2 * h) & (area >= 0.45 * w * h)
        return int(ok.sum())


def text_similarity(a: str, b: str) -> float:
    """Similarity in [0, 1] of two lines after case, space and punctuation folding."""
    na, nb = _normalize(a), _normalize(b)
    if not na or not nb:
        return 1.0 if na == nb else 0.0
    return SequenceMatcher(None, na, nb, autojunk=False).ratio()


def _normalize(text: str) -> str:
    return "".join(ch for ch in text.casefold() if ch.isalnum())


@dataclass(frozen=True)
class ReadBudget:
    """How much OCR may read, in video time: a token bucket of read units that fills at ``per_minute`` units per
    minute of video, up to ``burst``. A read needs a positive balance and costs one unit plus ``line_cost`` per
    line it returns (recognition runs once per line, so dense credits cost several units and are read less
    often than sparse title cards). Nothing here looks at a clock: machine load cannot change what is read.
    """

    per_minute: float = 20.0
    burst: float = 20.0
    line_cost: float = 0.25

    def __post_init__(self) -> None:
        if self.per_minute < 0 or self.burst <= 0 or self.line_cost < 0:
            raise ConfigError(f"OCR read budget needs per_minute >= 0, burst > 0 and line_cost >= 0, got {self}")

    def describe(self) -> str:
        return f"budget={self.per_minute:g}/min burst={self.burst:g} line_cost={self.line_cost:g}"


class _Bucket:
    """The running balance of a ``ReadBudget``; it starts full and is refilled by the video time between frames."""

    def __init__(self, budget: ReadBudget) -> None:
        self.budget = budget
        self.balance = budget.burst
        self._t: float | None = None

    def may_read(self, t: float) -> bool:
        if self._t is not None:
            earned = max(0.0, t - self._t) * self.budget.per_minute / 60.0
            self.balance = min(self.budget.burst, self.balance + earned)
        self._t = t
        return self.balance > 0

    def full_at(self, t: float) -> bool:
        """Whether the balance is full by ``t`` (refilled lazily: at the next read it will be exactly full)."""
        since = 0.0 if self._t is None else max(0.0, t - self._t)
        return self.balance + since * self.budget.per_minute / 60.0 >= self.budget.burst

    def spend(self, lines: int) -> None:
        self.balance -= 1.0 + self.budget.line_cost * lines


@dataclass
class TrackerStats:
    """Counters for logs and benchmarks; ``read_seconds`` is time spent inside the reader."""

    fed: int = 0
    sampled: int = 0
    prefiltered: int = 0
    deduped: int = 0
    read: int = 0
    budget_skipped: int = 0
    lines: int = 0  # lines finished
    read_seconds: float = 0.0
    prefilter_seconds: float = 0.0


@dataclass
class _OpenLine:
    """A line on screen: ``text``/``confidence``/``box``/``frame_t`` are its best read so far, ``latest`` the
    text of its latest read (what a new read is matched against); ``carried`` is its place among the lines
    open when ``continue_lines`` was called (a time chunk's seam)."""

    start: float
    last_seen: float
    text: str
    confidence: float
    box: Box
    frame_t: float
    latest: str = ""
    carried: int | None = None


@dataclass
class _Reference:
    """The last frame the tracker decided on: its gray thumbnail and whether it held text."""

    gray: np.ndarray
    t: float
    had_text: bool


@dataclass
class ScreenTextTracker:
    """Push-style screen-text stage: ``feed`` frames in time order, get finished lines; ``flush`` at the end.

    ``prefilter="auto"`` runs the reader's own detector on the thumbnail when it has one (``detect``) and
    ``EdgePrefilter`` otherwise; None runs no prefilter. ``dedupe_threshold`` is the largest per-block mean absolute
    gray difference (0-255) at which a frame counts as unchanged; a read is reused only within one absolute
    window of ``max_reuse`` seconds of video, then the frame is read again. The read budget (``ReadBudget``)
    is counted in video time and in what was read, never in wall-clock time, so the same video and settings
    always give the same reads; None reads every due frame.
    """

    reader: OcrReader
    interval: float = 1.0
    prefilter: TextPrefilter | str | None = "auto"
    max_side: int = 960
    thumb_width: int = 320
    dedupe_threshold: float = 4.0
    similarity: float = 0.8
    max_reuse: float = 10.0
    budget: ReadBudget | None = ReadBudget()
    stats: TrackerStats = field(default_factory=TrackerStats)

    def __post_init__(self) -> None:
        if self.interval <= 0:
            raise ConfigError(f"OCR interval must be > 0, got {self.interval}")
        self._cv2 = _import_cv2()
        self._prefilter = _resolve_prefilter(self.prefilter, self.reader)
        self._next_slot: int | None = None
        self._ref: _Reference | None = None
        self._marks: list[int | None] = []
        self._open: list[_OpenLine] = []
        self._bucket = _Bucket(self.budget) if self.budget is not None else None

    @property
    def name(self) -> str:
        """The reader and every setting that decides what is read: the stage's model string in the store."""
        budget = self.budget.describe() if self.budget is not None else "budget=none"
        return (
            f"{self.reader.name} interval={self.interval:g} max_side={self.max_side} "
            f"dedupe={self.dedupe_threshold:g} {budget}"
        )

    def feed(self, frame: SampledFrame) -> list[OcrLineRec]:
        """Consider one frame; returns the lines that disappeared at or before it."""
        self.stats.fed += 1
        if not self._due(frame.t):
            return []
        self.stats.sampled += 1
        thumb = self._thumbnail(frame.image)
        gray = self._cv2.cvtColor(thumb, self._cv2.COLOR_RGB2GRAY)
        if self._unchanged(gray, frame.t):
            self.stats.deduped += 1
            assert self._ref is not None
            if self._ref.had_text:
                for line in self._open:
                    line.last_seen = frame.t
                return []
            return self._close_all()
        if not self._passes_prefilter(thumb):
            self.stats.prefiltered += 1
            self._ref = _Reference(gray, frame.t, had_text=False)
            return self._close_all()
        if self._bucket is not None and not self._bucket.may_read(frame.t):
            self.stats.budget_skipped += 1  # text-dense stretch (e.g. credits): read less often
            return []
        lines = self._read(frame)
        if self._bucket is not None:
            self._bucket.spend(len(lines))
        self._ref = _Reference(gray, frame.t, had_text=bool(lines))
        return self._merge(lines, frame.t)

    def flush(self, end_t: float) -> list[OcrLineRec]:
        """Close every open line at the end of the video (``end_t`` seconds)."""
        return self._close_all(end_t)

    def seam_state(self, t: float) -> tuple:
        """What decides the reads and merges to come, as of time ``t``: the next due slot, the reference frame
        (pixels, whether it held text, its reuse window), the read budget's balance (full when it has
        refilled by ``t``) and the open lines (latest text, last seen). Two trackers in equal states read
        and merge the same from the same frames on; where their open lines started and their best reads so
        far are what ``continue_lines`` lets a seam stitch."""
        ref = self._ref
        held = None if ref is None else (zlib.crc32(ref.gray.data), ref.gray.shape, ref.had_text, self._window(ref.t))
        bucket: tuple | None = None
        if self._bucket is not None:
            bucket = ("full",) if self._bucket.full_at(t) else (self._bucket.balance, self._bucket._t)
        return self._next_slot, held, bucket, tuple((ln.latest, ln.last_seen) for ln in self._open)

    def open_lines(self) -> list[tuple[int | None, OcrLineRec]]:
        """The lines on screen now, as (``carried`` mark, the line as it would close here)."""
        return [
            (ln.carried, OcrLineRec(ln.start, ln.last_seen, ln.text, ln.confidence, ln.box, ln.frame_t))
            for ln in self._open
        ]

    def continue_lines(self) -> None:
        """Mark the open lines as carried over a seam: each remembers its place, and its best read restarts
        (confidence -inf), so what it reads from here on can be merged with the other side's."""
        for i, line in enumerate(self._open):
            line.carried, line.confidence = i, -math.inf

    def take_marks(self) -> list[int | None]:
        """The ``carried`` marks of the lines finished since the last call, in the order they were returned."""
        marks, self._marks = self._marks, []
        return marks

    def _due(self, t: float) -> bool:
        """Frames are due on the absolute grid of ``interval`` seconds (the first frame at or after each slot),
        so what is due depends on the frame's time alone, not on where the pass started."""
        tolerance = 0.02 * self.interval  # absorbs timestamp jitter, e.g. 0.999 for 1.0
        if self._next_slot is not None and t < self._next_slot * self.interval - tolerance:
            return False
        self._next_slot = math.floor((t + tolerance) / self.interval) + 1
        return True

    def _window(self, t: float) -> int:
        return math.floor(t / self.max_reuse)

    def _thumbnail(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        if w <= self.thumb_width:
            return image
        size = (self.thumb_width, max(1, round(h * self.thumb_width / w)))
        return self._cv2.resize(image, size, interpolation=self._cv2.INTER_AREA)

    def _unchanged(self, gray: np.ndarray, t: float) -> bool:
        ref = self._ref
        if ref is None or ref.gray.shape != gray.shape or self._window(t) != self._window(ref.t):
            return False  # a read is reused within one absolute window of ``max_reuse`` seconds
        return _max_block_diff(ref.gray, gray) <= self.dedupe_threshold

    def _passes_prefilter(self, thumb: np.ndarray) -> bool:
        if self._prefilter is None:
            return True
        started = time.perf_counter()
        passed = self._prefilter(thumb)
        self.stats.prefilter_seconds += time.perf_counter() - started
        return passed

    def _read(self, frame: SampledFrame) -> list[tuple[str, float, Box]]:
        image, scale = _downscale(self._cv2, frame.image, self.max_side)
        started = time.perf_counter()
        try:
            lines = self.reader.read(image)
        except Exception as exc:  # a model failure becomes a StageError naming the time
            raise StageError(f"OCR reader {self.reader.name} failed: {exc}", t=frame.t) from exc
        self.stats.read_seconds += time.perf_counter() - started
        self.stats.read += 1
        return [(text, conf, _scale_box(box, 1.0 / scale)) for text, conf, box in lines]

    def _merge(self, lines: list[tuple[str, float, Box]], t: float) -> list[OcrLineRec]:
        unmatched = list(self._open)
        still_open = []
        for text, conf, box in lines:
            match = self._best_match(unmatched, text)
            if match is None:
                still_open.append(_OpenLine(t, t, text, conf, box, t, text))
                continue
            unmatched.remove(match)
            match.last_seen, match.latest = t, text
            if conf > match.confidence:
                match.text, match.confidence, match.box, match.frame_t = text, conf, box, t
            still_open.append(match)
        self._open = still_open
        return [self._finish(line) for line in unmatched]

    def _best_match(self, candidates: list[_OpenLine], text: str) -> _OpenLine | None:
        scored = [(text_similarity(text, line.latest), line) for line in candidates]
        best = max(scored, key=lambda pair: pair[0], default=(0.0, None))
        return best[1] if best[0] > self.similarity else None

    def _close_all(self, end_t: float | None = None) -> list[OcrLineRec]:
        closed = [self._finish(line, end_t) for line in self._open]
        self._open = []
        return closed

    def _finish(self, line: _OpenLine, end_t: float | None = None) -> OcrLineRec:
        end = line.last_seen + self.interval
        if end_t is not None:
            end = max(line.start, min(end, end_t))
        self.stats.lines += 1
        self._marks.append(line.carried)
        return OcrLineRec(line.start, end, line.text, line.confidence, line.box, line.frame_t)


def _resolve_prefilter(prefilter: TextPrefilter | str | None, reader: OcrReader) -> TextPrefilter | None:
    if prefilter is None or not isinstance(prefilter, str):
        return prefilter
    if prefilter == "auto":
        return DetectorPrefilter(reader) if hasattr(reader, "detect") else EdgePrefilter()
    if prefilter == "edge":
        return EdgePrefilter()
    raise ConfigError(f"unknown OCR prefilter {prefilter!r}; valid: 'auto', 'edge', None or a callable")


def _max_block_diff(a: np.ndarray, b: np.ndarray, grid: int = 8) -> float:
    """Largest mean absolute difference over a grid x grid tiling: local changes (new text) show up."""
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    h, w = diff.shape
    bh, bw = max(1, h // grid), max(1, w // grid)
    tiles = diff[: bh * (h // bh), : bw * (w // bw)].reshape(h // bh, bh, w // bw, bw)
    return float(tiles.mean(axis=(1, 3)).max())


def _downscale(cv2: Any, image: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale >= 1.0:
        return image, 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale


def _scale_box(box: Box, factor: float) -> Box:
    return tuple((x * factor, y * factor) for x, y in box)
