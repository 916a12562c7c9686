"""Time chunks: a long video analyzed as parts and stitched gives exactly the index of one pass (every catalog
row and tier vector, ids aside), with hard cuts at and near the seams and screen text across one."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

import memindex
from memindex.ingest import chunks
from memindex.ingest.config import AsrConfig, IngestConfig, KeyframeConfig, OcrConfig
from memindex.ingest.keyframes import KeyframeSelector
from memindex.ingest.records import OcrLineRec, SampledFrame
from tests.media import Scene, make_video
from tests.snapshot import snapshot

SEAMS = 20.0
# Cuts at 6, 14, 17, 19.58 (just before the first seam), 30, 40.0 (at the second seam), 47 and 60.42 (just after
# the third); "ACROSS THE SEAM" is on screen from 17 s to 30 s, over the first seam and the cut before it.
SCENES = [
    Scene(6, 20),
    Scene(8, 50, "TITLE ONE"),
    Scene(3, 80),
    Scene(2.6, 95, "ACROSS THE SEAM"),
    Scene(10.4, 110, "ACROSS THE SEAM"),
    Scene(10, 140),
    Scene(7, 170, "SECOND CARD"),
    Scene(13.4, 10),
    Scene(9.6, 100, "THE END"),
]


@pytest.fixture(scope="module")
def seam_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("chunks") / "seams.mp4"
    cuts = make_video(path, SCENES, size=(320, 180))
    assert any(abs(c - 40.0) < 1e-3 for c in cuts) and any(0 < SEAMS - c < 0.5 for c in cuts)
    return path


def _ingest(store: Path, video: Path, cfg: IngestConfig, light_config: object) -> dict:
    """One pass inline when ``cfg`` does not split; in time chunks on 2 local workers when it does (an
    executor that runs one task at a time never splits: ``test_inline_never_splits``)."""
    workers = {"executor": "local", "workers": 2} if cfg.chunk_seconds else {}
    with memindex.open(store, config=light_config) as index:  # type: ignore[arg-type]
        report = index.ingest([video], config=cfg, **workers)  # type: ignore[arg-type]
        assert report.ok and len(report.ingested) == 1, report.to_dict()
        return snapshot(index.store)


def _config(chunk_seconds: float, **ocr: object) -> IngestConfig:
    return IngestConfig(
        asr=AsrConfig(enabled=False),
        keyframes=KeyframeConfig(max_gap=4.0),  # a shorter pre-roll (``chunks.margins``): the seams are inside
        ocr=OcrConfig(**ocr),  # type: ignore[arg-type]
        chunk_seconds=chunk_seconds,
    )


def _assert_same(whole: dict, split: dict) -> None:
    for part in whole:
        assert set(whole[part]) == set(split[part]), part
        for table in whole[part]:
            assert whole[part][table] == split[part][table], (
                part,
                table,
                list((whole[part][table] - split[part][table]).items())[:3],
                list((split[part][table] - whole[part][table]).items())[:3],
            )


def test_chunked_ingest_is_the_one_pass_index(tmp_path: Path, seam_video: Path, light_config, caplog) -> None:
    cfg = _config(SEAMS, budget=None)
    assert chunks.margins(cfg)[0] < SEAMS  # every part but the first really starts decoding mid-video
    assert len(chunks.visual_parts(70.0, SEAMS)) == 4
    whole = _ingest(tmp_path / "whole", seam_video, _config(0.0, budget=None), light_config)
    with caplog.at_level(logging.WARNING, logger="memindex.ingest.runner"):
        split = _ingest(tmp_path / "split", seam_video, cfg, light_config)
    assert not [r for r in caplog.records if "not exact" in r.getMessage()], "a seam fell back to one pass"
    _assert_same(whole, split)
    shots = sorted(r[3] for r in whole["catalog"]["segments"] if r[1] == "shot")
    assert 40.0 in shots and any(0 < SEAMS - s < 0.5 for s in shots)  # the cuts at and near the seams
    lines = {r[3]: r for r in whole["catalog"]["ocr_lines"]}
    across = next(r for text, r in lines.items() if "SEAM" in text.replace(" ", "").upper())
    assert across[1] < SEAMS < across[2], across  # one line over the seam, not two


@pytest.mark.slow
def test_a_seam_that_is_not_exact_is_analyzed_in_one_pass(tmp_path: Path, seam_video: Path, light_config, caplog):
    """With the OCR read budget on, this video's text drains the budget across the seams: the parts' states
    differ there, so the frames go to one pass, and the index is still the one-pass index."""
    whole = _ingest(tmp_path / "whole", seam_video, _config(0.0), light_config)
    with caplog.at_level(logging.WARNING, logger="memindex.ingest.runner"):
        split = _ingest(tmp_path / "split", seam_video, _config(SEAMS), light_config)
    assert [r for r in caplog.records if "not exact" in r.getMessage()]
    _assert_same(whole, split)


def _samples(start: float, stop: float) -> list[SampledFrame]:
    rng = np.random.default_rng(7)
    images = rng.integers(0, 255, (int(stop * 2), 4, 4, 3), np.uint8)
    return [SampledFrame(i / 2, images[i]) for i in range(int(start * 2), int(stop * 2))]


def test_keyframes_of_a_long_shot_do_not_depend_on_where_the_pass_started() -> None:
    """A 60-s shot with no cut: a pass from 0 s and one from 37 s choose the same keyframes after 50 s."""
    one, late = KeyframeSelector(8.0), KeyframeSelector(8.0)
    chosen: dict[str, list[float]] = {"one": [], "late": []}
    for sample in _samples(0, 60):
        chosen["one"] += [k.t for k in one.feed(sample)]
        if sample.t >= 37:
            chosen["late"] += [k.t for k in late.feed(sample)]
        if sample.t == 50:
            assert one.seam_state() == late.seam_state()
    chosen["one"] += [k.t for k in one.flush()]
    chosen["late"] += [k.t for k in late.flush()]
    assert [t for t in chosen["one"] if t >= 50] == [t for t in chosen["late"] if t >= 50]
    assert len(chosen["one"]) >= 7  # one every grid step, not only the shot's middle


def test_inline_never_splits(tmp_path: Path, seam_video: Path, light_config, monkeypatch) -> None:
    """Inline runs one task at a time: parts would run one after another and lose the lanes, so a long video
    is one task there whatever ``chunk_seconds`` says; local workers get the parts."""
    from memindex.ingest import runner

    seen: list[tuple[str, int]] = []
    split = runner.Runner._split

    def spy(self, task):  # type: ignore[no-untyped-def]
        out = split(self, task)
        seen.append((self.executor.name, len(out)))
        return out

    monkeypatch.setattr(runner.Runner, "_split", spy)
    _ingest(tmp_path / "inline", seam_video, _config(0.0), light_config)
    with memindex.open(tmp_path / "inline2", config=light_config) as index:
        assert index.ingest([seam_video], config=_config(SEAMS)).ok
    _ingest(tmp_path / "local", seam_video, _config(SEAMS), light_config)
    assert seen[:2] == [("inline", 1), ("inline", 1)] and seen[2][0] == "local" and seen[2][1] > 4, seen


def test_plans() -> None:
    assert [(p.start, p.end) for p in chunks.visual_parts(25.0, 10.0)] == [(0, 10), (10, 20), (20, None)]
    assert len(chunks.visual_parts(600.0, 600.0)) == 1 and len(chunks.visual_parts(5000.0, 0)) == 1
    assert [p.end for p in chunks.visual_parts(720.02, 240.0)] == [240.0, 480.0, None]  # no part past the stream
    fixed = IngestConfig(asr=AsrConfig(language="en"))
    parts = chunks.speech_parts(1300.0, 600.0, fixed)  # audio chunks of 300 s, two to a part
    assert [(p.first_chunk, p.last_chunk) for p in parts] == [(0, 2), (2, 4), (4, None)]
    assert len(chunks.speech_parts(1300.0, 600.0, IngestConfig())) == 1  # language evidence carries: one task


def test_a_line_over_a_seam_keeps_its_start_and_its_best_read() -> None:
    before = OcrLineRec(10.0, 20.0, "HELLO", 0.9, (), 12.0)
    worse = OcrLineRec(-1.0, 31.0, "HELL0", 0.8, (), 25.0)
    better = OcrLineRec(-1.0, 31.0, "HELLO!", 0.95, (), 26.0)
    unread = OcrLineRec(-1.0, 31.0, "x", float("-inf"), (), 0.0)
    assert chunks._join(before, worse) == OcrLineRec(10.0, 31.0, "HELLO", 0.9, (), 12.0)
    assert chunks._join(before, better) == OcrLineRec(10.0, 31.0, "HELLO!", 0.95, (), 26.0)
    assert chunks._join(before, unread).text == "HELLO"
    with pytest.raises(Exception, match="chunk_seconds"):
        IngestConfig(chunk_seconds=-1)


@pytest.mark.slow
def test_chunked_ingest_of_a_real_video_is_the_one_pass_index(tmp_path: Path, shared_media: Path, caplog) -> None:
    """bbb_narrated.mp4 (10 min) in 120-s chunks, default models, the language set so speech splits too
    (parts of one 300-s audio chunk): the same catalog rows and tier contents as one pass."""
    video = shared_media / "video" / "bbb_narrated.mp4"
    runs = {}
    for name, seconds in (("whole", 0.0), ("split", 120.0)):
        cfg = IngestConfig(asr=AsrConfig(language="en"), chunk_seconds=seconds)
        workers = {"executor": "local", "workers": 2} if seconds else {}
        with caplog.at_level(logging.WARNING, logger="memindex.ingest.runner"), memindex.open(tmp_path / name) as index:
            report = index.ingest([video], config=cfg, **workers)  # type: ignore[arg-type]
            assert report.ok, report.to_dict()
            runs[name] = snapshot(index.store)
    assert not [r for r in caplog.records if "not exact" in r.getMessage()], "a seam fell back to one pass"
    assert len(runs["whole"]["catalog"]["utterances"]) > 20 and runs["whole"]["catalog"]["ocr_lines"]
    # Every value exactly, the voice embeddings included (their mel filterbank no longer goes through BLAS,
    # whose thread count differs between this process and a worker's).
    _assert_same(runs["whole"], runs["split"])
