"""The default OCR stage on real media: Big Buck Bunny's "THE PEACH OPEN MOVIE PROJECT" card at 20-22 s."""

from __future__ import annotations

from pathlib import Path

import pytest

from memindex.ingest.ocr import ScreenTextTracker, make_ocr_reader, text_similarity
from memindex.ingest.records import OcrLineRec, SampledFrame


def sampled_frames(path: Path, start: float, end: float, fps: float = 2.0):
    """Frames at ``fps`` between ``start`` and ``end`` seconds, after a PyAV seek."""
    av = pytest.importorskip("av")
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        container.seek(int(start / stream.time_base), stream=stream)
        next_t = start
        for frame in container.decode(video=0):
            t = float(frame.pts * frame.time_base)
            if t > end:
                return
            if t + 1e-6 >= next_t:
                next_t = max(next_t + 1.0 / fps, t)
                yield SampledFrame(t, frame.to_ndarray(format="rgb24"))


def fuzzy_contains(text: str, needle: str) -> bool:
    text, needle = text.upper().replace(" ", ""), needle.upper()
    windows = range(max(1, len(text) - len(needle) + 1))
    return any(text_similarity(text[i : i + len(needle)], needle) > 0.8 for i in windows)


@pytest.mark.slow
def test_peach_card_found_between_20_and_22_s(shared_media):
    BBB = shared_media / "video" / "bbb.mp4"  # noqa: N806
    pytest.importorskip("rapidocr_onnxruntime")
    tracker = ScreenTextTracker(make_ocr_reader("rapidocr"))
    lines: list[OcrLineRec] = []
    for frame in sampled_frames(BBB, 15.0, 35.0):
        lines += tracker.feed(frame)
    lines += tracker.flush(35.0)
    peach = [ln for ln in lines if fuzzy_contains(ln.text, "PEACH") and ln.start <= 22.0 and ln.end >= 20.0]
    assert peach, [(ln.start, ln.end, ln.text) for ln in lines]
    assert tracker.stats.read < tracker.stats.sampled  # the prefilter / dedupe skipped something
