"""A small store with known speech and screen text, built in a second with the hashing embedder."""

from __future__ import annotations

import pytest

import memindex
from memindex.catalog.models import OcrLine, Utterance, Video, Word
from memindex.store import DocRow, Store

VID = "a" * 16
SPEECH = [
    (10.0, 14.0, "welcome to the lecture on graph theory"),
    (20.0, 24.0, "the answer is forty two exactly"),
    (30.0, 34.0, "next we discuss the bridges of konigsberg"),
    (40.0, 44.0, "euler proved the bridges problem has no solution"),
    (60.0, 64.0, "the bridges appear again in the homework"),
    (80.0, 84.0, "thank you all for coming"),
]
SCREEN = [(5.0, 8.0, "GRAPH THEORY 101"), (31.0, 35.0, "KONIGSBERG 1736"), (90.0, 95.0, "THE END")]


def build(store: Store, vid: str = VID, speech=SPEECH, screen=SCREEN) -> None:
    with store.write() as txn:
        txn.session.add(
            Video(
                id=vid,
                uri=f"/videos/{vid}.mp4",
                sha256=vid * 4,
                size_bytes=1,
                duration=100.0,
                fps=24,
                width=10,
                height=10,
                has_audio=True,
                status="ready",
            )
        )
        txn.session.flush()
        rows = []
        for start, end, text in speech:
            u = Utterance(video_id=vid, start=start, end=end, text=text)
            txn.session.add(u)
            txn.session.flush()
            words = text.split()
            step = (end - start) / len(words)
            txn.session.add_all(
                Word(
                    video_id=vid,
                    utterance_id=u.id,
                    start=start + i * step,
                    end=start + (i + 1) * step,
                    text=w,
                    prob=0.9,
                )
                for i, w in enumerate(words)
            )
            rows.append(DocRow(vid, u.id, start, end, text))
        txn.add_docs("speech", rows, store.text_embedder.embed([r.text for r in rows]))
        lines = []
        for start, end, text in screen:
            line = OcrLine(video_id=vid, start=start, end=end, text=text, confidence=0.9)
            txn.session.add(line)
            txn.session.flush()
            lines.append(DocRow(vid, line.id, start, end, text))
        txn.add_docs("screen", lines, store.text_embedder.embed([r.text for r in lines]))


@pytest.fixture()
def index(tmp_path, light_config):  # type: ignore[no-untyped-def]
    store = Store(tmp_path / "s", config=light_config)
    build(store)
    with memindex.MemoryIndex(store) as idx:
        yield idx


@pytest.fixture()
def empty_index(tmp_path, light_config):  # type: ignore[no-untyped-def]
    with memindex.MemoryIndex(Store(tmp_path / "e", config=light_config)) as idx:
        yield idx
