"""Stores filled by inserting rows directly: a phone call with two speaker entities, names and a title card."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from memindex.catalog.models import OcrLine, Segment, Utterance, Video, Word
from memindex.catalog.semantic import Entity, EntityMention, speaker_label
from memindex.store import Store

LINES = [
    (0.0, 3.0, "A", "Hello? This is Diane in New Jersey."),
    (3.5, 6.0, "B", "And I'm Sheila in Texas."),
    (6.5, 9.0, "A", "Do you know Chicago well, Sheila?"),
    (9.5, 12.0, "B", "Chicago is a windy city. I grew up there."),
    (12.5, 15.0, "A", "Diane likes Chicago too."),
]


def voice(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=256).astype(np.float32)
    return v / np.linalg.norm(v)


@dataclass
class Call:
    store: Store
    video_id: str
    speakers: dict[str, int]


def fill(store: Store, vid: str = "ca11000000000001", seeds: tuple[int, int] = (1, 2)) -> Call:
    with store.write() as txn:
        s = txn.session
        s.add(
            Video(
                id=vid,
                uri=f"/videos/{vid}.mp4",
                sha256=vid * 4,
                size_bytes=1,
                duration=20.0,
                fps=25,
                width=10,
                height=10,
                has_audio=True,
                status="ready",
            )
        )
        s.flush()
        s.add_all(
            [
                Segment(video_id=vid, level="shot", idx=i, start=a, end=a + 5.0)
                for i, a in enumerate((0.0, 5.0, 10.0, 15.0))
            ]
        )
        ents = {}
        for who, seed in zip("AB", seeds, strict=True):
            e = Entity(
                kind="speaker",
                name=f"Speaker {who}",
                key=f"speaker {who.lower()}",
                user_named=False,
                centroid=voice(seed).tobytes(),
                weight=6.0,
            )
            s.add(e)
            s.flush()
            ents[who] = e.id
        for a, b, who, text in LINES:
            label = speaker_label(ents[who])
            u = Utterance(video_id=vid, start=a, end=b, text=text, speaker=label)
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
                        speaker=label,
                    )
                    for i, w in enumerate(words)
                ]
            )
            s.add(
                EntityMention(
                    entity_id=ents[who],
                    video_id=vid,
                    start=a,
                    end=b,
                    source="diarization",
                    confidence=1.0,
                    embedding=voice(seeds["AB".index(who)]).tobytes(),
                )
            )
        for a in (1.0, 16.0):
            s.add(OcrLine(video_id=vid, start=a, end=a + 2.0, text="PART TWO: THE FOREST", confidence=0.9))
    return Call(store, vid, ents)


@pytest.fixture()
def call(tmp_path, light_config) -> Call:  # type: ignore[no-untyped-def]
    return fill(Store(tmp_path / "store", config=light_config))
