"""A store filled by inserting rows directly: shots, speech runs with words, and a title card, known by
construction (no media decoded, no models)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from memindex.catalog.models import OcrLine, Segment, Utterance, Video, Word
from memindex.store import DocRow, Store

# Speech clips like bbb_narrated's: each is a run of utterances separated by breaths (0.3 s).
CLIPS = [(20.0, 31.0), (50.0, 57.1), (60.0, 65.3), (80.0, 133.0), (170.0, 200.0)]
DURATION = 240.0
TITLE = (140.0, 144.0, "PART TWO: THE FOREST")


@dataclass
class Narrated:
    store: Store
    video_id: str
    shots: list[tuple[float, float]]


def shot_spans(duration: float = DURATION) -> list[tuple[float, float]]:
    """Shots of 2.5-6.5 s, cut independently of the speech (some cuts fall inside clips)."""
    spans, t, k = [], 0.0, 0
    while t < duration:
        length = 2.5 + (k * 7 % 5)
        spans.append((t, min(duration, t + length)))
        t += length
        k += 1
    return spans


def _utterances(clip: tuple[float, float], topic: str) -> list[tuple[float, float, str]]:
    out, t, n = [], clip[0], 0
    while t < clip[1] - 0.5:
        end = min(clip[1], t + 3.2)
        out.append((t, end, f"{topic} sentence {n} about the {topic} here."))
        t, n = end + 0.3, n + 1
    return out


def fill(store: Store, vid: str = "narrated0000001", shots: list[tuple[float, float]] | None = None) -> Narrated:
    shots = shots or shot_spans()
    topics = ["rabbit", "butterfly", "butterfly", "sonnet", "squirrel"]
    with store.write() as txn:
        s = txn.session
        s.add(
            Video(
                id=vid,
                uri=f"/videos/{vid}.mp4",
                sha256=vid * 4,
                size_bytes=1,
                duration=DURATION,
                fps=24,
                width=10,
                height=10,
                has_audio=True,
                status="ready",
            )
        )
        s.flush()
        s.add_all([Segment(video_id=vid, level="shot", idx=i, start=a, end=b) for i, (a, b) in enumerate(shots)])
        rows = []
        for clip, topic in zip(CLIPS, topics, strict=True):
            for a, b, text in _utterances(clip, topic):
                u = Utterance(video_id=vid, start=a, end=b, text=text)
                s.add(u)
                s.flush()
                words = text.split()
                step = (b - a) / len(words)
                s.add_all(
                    [
                        Word(
                            video_id=vid,
                            utterance_id=u.id,
                            start=a + i * step,
                            end=a + (i + 1) * step,
                            text=w,
                            prob=0.9,
                        )
                        for i, w in enumerate(words)
                    ]
                )
                rows.append(DocRow(vid, u.id, a, b, text))
        txn.add_docs("speech", rows, store.text_embedder.embed([r.text for r in rows]))
        s.add(OcrLine(video_id=vid, start=TITLE[0], end=TITLE[1], text=TITLE[2], confidence=0.9))
    return Narrated(store, vid, shots)


@pytest.fixture()
def narrated(tmp_path, light_config) -> Narrated:
    return fill(Store(tmp_path / "store", config=light_config))
