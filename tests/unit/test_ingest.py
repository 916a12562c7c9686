"""Ingest on generated media with ground truth by construction (shots, keyframes, bad input, resume)."""

from __future__ import annotations

import shutil
from dataclasses import replace

import pytest

import memindex
from memindex.errors import ConfigError, MediaError
from memindex.ingest.config import AsrConfig, IngestConfig, OcrConfig
from memindex.ingest.decode import decode_frames, probe
from memindex.ingest.shots import SHOT_DETECTORS, make_shot_detector
from tests.media import Scene, make_video

NO_MODELS = IngestConfig(asr=AsrConfig(enabled=False), ocr=OcrConfig(enabled=False))


def _detect(path, name: str, skip_nonref: bool) -> list[float]:
    det = make_shot_detector(name)
    cuts = []
    for f in decode_frames(str(path), skip_nonref=skip_nonref):
        cuts += det.feed(f.t, f.small)
    return cuts + det.flush()


@pytest.mark.parametrize("name", SHOT_DETECTORS)
@pytest.mark.parametrize("skip_nonref", [True, False])
def test_every_detector_finds_the_cuts(cut_video, name: str, skip_nonref: bool) -> None:
    path, truth = cut_video
    found = _detect(path, name, skip_nonref)
    assert len(found) == len(truth), (found, truth)
    for got, want in zip(found, truth, strict=True):
        assert abs(got - want) <= 0.25, (found, truth)


def test_unknown_detector_lists_valid_names() -> None:
    with pytest.raises(ConfigError, match="adaptive"):
        make_shot_detector("nope")


def test_ingest_generated_video(tmp_path, cut_video, light_config) -> None:
    path, truth = cut_video
    index = memindex.open(tmp_path / "store", config=light_config)
    report = index.ingest([path], config=NO_MODELS)
    assert report.ok and len(report.ingested) == 1
    stats = index.stats()
    assert stats["segments"]["shot"] == len(truth) + 1
    assert stats["segments"]["video"] == 1
    vid = report.ingested[0]["video_id"]
    shots = [
        sh for ch in index.browse(vid, level="video")[0]["children"] for ev in ch["children"] for sh in ev["children"]
    ]  # video > chapters > events > shots
    starts = [s["start"] for s in shots]
    assert starts[0] == 0 and all(abs(a - b) <= 0.25 for a, b in zip(starts[1:], truth, strict=True))
    assert shots[-1]["end"] == pytest.approx(probe(str(path)).duration, abs=0.05)
    frames = index.frames(vid)
    assert len(frames) >= len(truth) + 1  # at least one keyframe per shot of >= 0.5 s
    assert all((index.store.media.root / f["path"]).exists() for f in frames)
    assert stats["tiers"]["visual"]["pending"] == len(frames)  # no CLIP here: pending, not dropped
    # same content again: skipped, nothing duplicated
    again = index.ingest([path], config=NO_MODELS)
    assert len(again.skipped) == 1 and index.stats()["segments"] == stats["segments"]


def test_folder_ingest_reports_bad_files_and_goes_on(tmp_path, cut_video, light_config) -> None:
    path, _ = cut_video
    folder = tmp_path / "archive dir ünï"
    folder.mkdir()
    shutil.copy(path, folder / "good clip é.mp4")
    (folder / "notes.mp4").write_text("this is not a video")
    (folder / "empty.mp4").write_bytes(b"")
    truncated = folder / "truncated.mp4"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    index = memindex.open(tmp_path / "store", config=light_config)
    report = index.ingest([folder], config=NO_MODELS)
    failed = {r["path"].rsplit("/", 1)[-1]: r["error"] for r in report.failed}
    assert set(failed) == {"notes.mp4", "empty.mp4", "truncated.mp4"}
    assert "empty" in failed["empty.mp4"] and "notes.mp4" in failed["notes.mp4"]
    assert len(report.ingested) == 1
    assert [v["status"] for v in index.videos()] == ["ready"]  # nothing half-stored for the bad files


def test_short_clip_and_no_audio(tmp_path, light_config) -> None:
    clip = tmp_path / "half second.mp4"
    make_video(clip, [Scene(0.5, 10)])
    index = memindex.open(tmp_path / "store", config=light_config)
    report = index.ingest([clip], config=replace(NO_MODELS, asr=AsrConfig(enabled=True)))
    assert report.ok, report.failed
    v = index.video(report.ingested[0]["video_id"])
    assert v["has_audio"] is False and v["stages"]["asr"]["status"] == "skipped"
    assert index.stats()["segments"]["shot"] == 1


def test_missing_path_is_reported(tmp_path, light_config) -> None:
    index = memindex.open(tmp_path / "store", config=light_config)
    report = index.ingest([tmp_path / "nope.mp4"], config=NO_MODELS)
    assert not report.ok and "no such file" in report.failed[0]["error"]


def test_probe_names_the_file(tmp_path) -> None:
    bad = tmp_path / "x.mp4"
    bad.write_text("hello")
    with pytest.raises(MediaError, match="x.mp4"):
        probe(bad)


def test_control_characters_in_names_stay_on_one_line(tmp_path, cut_video, light_config, capsys) -> None:
    import json

    from memindex.cli import main

    odd = tmp_path / "two\nlines\x1b.mp4"
    shutil.copy(cut_video[0], odd)
    bad = tmp_path / "bad\rname.mp4"
    bad.write_text("not a video")
    store = str(tmp_path / "store")
    memindex.open(store, config=light_config).close()
    assert main(["ingest", str(odd), str(bad), "--store", store, "--quiet", "--no-ocr", "--no-asr"]) == 1
    err = capsys.readouterr().err.splitlines()
    [failed] = [line for line in err if "bad" in line]  # one line, its \r escaped
    assert failed.startswith(f"FAILED {tmp_path}/bad\\rname.mp4: ") and "not a readable video" in failed
    assert main(["videos", "--store", store]) == 0
    [line] = capsys.readouterr().out.splitlines()  # one video, one line
    assert line.endswith("two\\nlines\\x1b.mp4") and line.split()[1] == "ready"
    assert main(["videos", "--store", store, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["videos"][0]["uri"] == str(odd)  # exact in JSON
