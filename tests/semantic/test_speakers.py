"""Speaker ids: clustering, words labelled by overlap, global ids across videos, a missing diarizer."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from ingest.diarize import DiarizeConfig, SpeakerStage, Turn, absorb_small, assign_words, cluster
from ingest.records import UtteranceRec, WordRec
from memindex.catalog.models import StageRun, Video
from memindex.catalog.semantic import Entity
from memindex.store import Store
from tests.semantic.conftest import voice


class FakeDiarizer:
    """Alternating turns of two fixed voices."""

    name = "fake"

    def __init__(self, seeds: tuple[int, int]) -> None:
        self.seeds = seeds

    def diarize(self, chunk):  # type: ignore[no-untyped-def]
        return [Turn(chunk.start + k * 2.0, chunk.start + k * 2.0 + 1.8, k % 2, voice(self.seeds[k % 2]))
                for k in range(4)]


def _video(store: Store, vid: str) -> None:
    with store.write() as txn:
        txn.session.add(Video(id=vid, uri=vid, sha256=vid * 4, size_bytes=1, duration=8.0, fps=1, width=1,
                              height=1, has_audio=True, status="ready"))


def _chunk(start: float = 0.0):  # type: ignore[no-untyped-def]
    from ingest.records import AudioChunk

    return AudioChunk(start, np.zeros(16000 * 8, np.float32))


def test_cluster_and_absorb() -> None:
    rng = np.random.default_rng(0)
    a, b = voice(1), voice(2)
    vecs = np.stack([v + 0.01 * rng.normal(size=256) for v in [a] * 6 + [b] * 6 + [voice(9)]]).astype(np.float32)
    labels = cluster(vecs, 0.3)
    assert len(set(labels[:6])) == 1 and len(set(labels[6:12])) == 1 and labels[0] != labels[6]
    merged = absorb_small(vecs, labels, np.full(13, 0.5), 2.0)
    assert len(set(merged)) == 2


def test_words_get_the_overlapping_speaker() -> None:
    words = (WordRec(0.0, 0.5, "hi"), WordRec(0.6, 1.0, "there"), WordRec(2.1, 2.5, "yes"))
    out = assign_words([UtteranceRec(0.0, 2.5, "hi there yes", words)], [(0.0, 1.9, "spk1"), (2.0, 3.0, "spk2")])
    assert [w.speaker for w in out[0].words] == ["spk1", "spk1", "spk2"] and out[0].speaker == "spk1"


def test_speaker_ids_are_global_and_follow_merges(tmp_path, light_config) -> None:  # type: ignore[no-untyped-def]
    store = Store(tmp_path / "s", config=light_config)
    ids = []
    for vid, seeds in (("v1", (1, 2)), ("v2", (2, 1)), ("v3", (1, 5))):
        _video(store, vid)
        stage = SpeakerStage(FakeDiarizer(seeds), DiarizeConfig())
        stage.feed(_chunk())
        utts, _ = stage.label(store, vid, [UtteranceRec(0.0, 1.8, "a", (WordRec(0.1, 0.5, "a"),))])
        ids.append(utts[0].speaker)
    assert ids[0] == ids[2] != ids[1]  # voice 1 speaks first in v1 and v3, voice 2 first in v2
    with store.Session() as s:
        assert len(s.scalars(select(Entity).where(Entity.kind == "speaker")).all()) == 3
        assert s.scalar(select(StageRun.detail).where(StageRun.video_id == "v1", StageRun.stage == "speakers")) \
            == "2 speakers, 4 turns"


def test_missing_diarizer_is_recorded_and_speech_goes_on(tmp_path, light_config, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    import ingest.diarize
    from ingest.pipeline import Ingester
    from memindex.errors import MissingDependencyError

    def missing(cfg):  # type: ignore[no-untyped-def]
        raise MissingDependencyError("resemblyzer", "speakers", "speaker diarization")

    monkeypatch.setattr(ingest.diarize, "make_diarizer", missing)
    store = Store(tmp_path / "s", config=light_config)
    _video(store, "v1")
    assert Ingester(store).speaker_stage("v1") is None
    with store.Session() as s:
        run = s.scalar(select(StageRun).where(StageRun.stage == "speakers"))
    assert run.status == "failed" and "speakers" in run.detail
    assert "speakers stage FAILED" in caplog.text


@pytest.mark.slow
def test_phone_call_two_speakers_match_rttm(shared_media) -> None:  # type: ignore[no-untyped-def]
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("der_bench", Path(__file__).parents[2] / "benchmarks" /
                                                  "diarization.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)  # type: ignore[union-attr]
    sample = shared_media / "speech" / "pyannote_sample"
    hyp = bench.hypothesis(sample / "sample.wav", DiarizeConfig())
    res = bench.der(bench.read_rttm(sample / "sample.rttm"), hyp, span=(0.0, 30.0))
    assert res["speakers"] == 2
    assert res["der"] < 0.10, res
