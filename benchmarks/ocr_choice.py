"""Which OCR reader, prefilter and thresholds ``memindex.ingest.ocr`` uses by default: measured, not guessed.

Decodes each video once with PyAV at 2 fps and feeds the same frames to several ``ScreenTextTracker``
configurations side by side, then prints per configuration: seconds per read, total OCR seconds (prefilter
+ dedupe + reads, i.e. all tracker time), frames read / prefiltered out / deduped, the lines with times, and
whether the Peach line (20-22 s) and the title are found.

Run: ``PYTHONPATH=. python benchmarks/ocr_choice.py [--configs rapid-det,rapid-edge,...] [--end 600]``

Last measured (2 CPU cores, no GPU; interval 1.0 s, max_side 960, thumb 320 px, dedupe 4.0):

| video | config | sampled | read | pre-out | dedup | s/read | reads s | pre s | OCR s | Peach | title |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
| bbb.mp4 (596 s) | rapidocr+det@320 (default) | 597 | 33 | 562 | 2 | 2.00 | 66.0 | 16.0 | 83.8 | yes 21-24 | no |
| trailer (55 s) | rapidocr+det@320 (default) | 56 | 19 | 35 | 2 | 0.33 | 6.2 | 1.3 | 7.8 | n/a | n/a |

Single reads on bbb frames (1280x720 downscaled): RapidOCR 0.2-0.5 s per text frame, 0.06-0.3 s textless; RapidOCR
detector alone 10 ms at 240 px, 15-20 ms at 320, 35 ms at 480 (finds the Peach card from 320 up); Tesseract 5.3
0.4-0.9 s per frame, reads nothing on the Peach card and garbage on the title. EdgePrefilter (~0.8 ms) scores
textured BBB frames like text frames (no discrimination), so it is only the fallback for readers without a detector.
The bbb total is over the 30 s target: 90 s of dense scrolling credits cost ~2 s per read (dozens of lines each).
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from memindex.ingest.ocr import OcrReader, ScreenTextTracker, TextPrefilter, make_ocr_reader, text_similarity
from memindex.ingest.records import OcrLineRec, SampledFrame

log = logging.getLogger("benchmarks.ocr_choice")

VIDEOS = {
    "bbb": "/work/shared/media/video/bbb.mp4",
    "trailer": "/work/shared/media/video/trailer_bbb.mp4",
}
PEACH = "PEACH OPEN MOVIE PROJECT"


def decode(path: str, fps: float = 2.0, start: float = 0.0, end: float | None = None) -> Iterator[SampledFrame]:
    """Frames at about ``fps`` per second; only kept frames are converted to RGB."""
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if start > 0:
            container.seek(int(start / stream.time_base), stream=stream)
        next_t = start
        for frame in container.decode(video=0):
            t = float(frame.pts * frame.time_base)
            if end is not None and t > end:
                return
            if t + 1e-6 >= next_t:
                next_t += 1.0 / fps
                yield SampledFrame(t, frame.to_ndarray(format="rgb24"))


@dataclass
class Run:
    label: str
    tracker: ScreenTextTracker
    lines: list[OcrLineRec] = field(default_factory=list)
    seconds: float = 0.0

    def feed(self, frame: SampledFrame) -> None:
        started = time.perf_counter()
        self.lines += self.tracker.feed(frame)
        self.seconds += time.perf_counter() - started


def make_runs(names: list[str], readers: dict[str, OcrReader]) -> list[Run]:
    prefilters: dict[str, TextPrefilter | str | None] = {"det": "auto", "edge": "edge", "none": None}
    runs = []
    for name in names:
        reader_key, prefilter_key, *rest = name.split("-")
        max_side = int(rest[0]) if rest else 960
        if reader_key not in readers:
            readers[reader_key] = make_ocr_reader(_READER_NAMES[reader_key])
        tracker = ScreenTextTracker(readers[reader_key], prefilter=prefilters[prefilter_key], max_side=max_side)
        runs.append(Run(name, tracker))
    return runs


_READER_NAMES = {"rapid": "rapidocr", "tess": "tesseract"}


def found(lines: list[OcrLineRec], needle: str, lo: float, hi: float) -> bool:
    """A line fuzzily containing ``needle`` whose interval overlaps [lo, hi]."""
    return any(_contains(line.text, needle) and line.start <= hi and line.end >= lo for line in lines)


def _contains(text: str, needle: str) -> bool:
    text, needle = text.upper().replace(" ", ""), needle.upper().replace(" ", "")
    if needle in text:
        return True
    width = len(needle)
    return any(text_similarity(text[i : i + width], needle) > 0.8 for i in range(max(1, len(text) - width + 1)))


def report(video: str, run: Run, duration: float) -> None:
    s = run.tracker.stats
    per_read = s.read_seconds / s.read if s.read else float("nan")
    peach = found(run.lines, PEACH, 20, 22) if video == "bbb" else None
    title = found(run.lines, "BUNNY", 24, 30) if video == "bbb" else None
    log.info(
        "%s %s: fed %d sampled %d read %d prefiltered %d deduped %d | %.3f s/read, reads %.1f s, "
        "prefilter %.1f s, OCR total %.1f s for %.0f s of video | peach %s title %s",
        video,
        run.label,
        s.fed,
        s.sampled,
        s.read,
        s.prefiltered,
        s.deduped,
        per_read,
        s.read_seconds,
        s.prefilter_seconds,
        run.seconds,
        duration,
        peach,
        title,
    )
    for line in run.lines:
        log.info("   %7.1f-%7.1f  %.2f  %s", line.start, line.end, line.confidence, line.text)


def bench_video(video: str, names: list[str], readers: dict[str, OcrReader], end: float | None) -> None:
    runs = make_runs(names, readers)
    started, last_t = time.perf_counter(), 0.0
    for frame in decode(VIDEOS[video], end=end):
        last_t = frame.t
        for run in runs:
            run.feed(frame)
    log.info("%s: decoded + OCR in %.1f s wall", video, time.perf_counter() - started)
    for run in runs:
        run.lines += run.tracker.flush(last_t + 0.5)
        report(video, run, last_t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", default="bbb,trailer")
    parser.add_argument("--configs", default="rapid-det,rapid-edge,tess-edge")
    parser.add_argument("--end", type=float, default=None, help="stop each video at this time (s)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    readers: dict[str, OcrReader] = {}
    for video in args.videos.split(","):
        bench_video(video, args.configs.split(","), readers, args.end)


if __name__ == "__main__":
    main()
