"""inline, local (2 worker processes) and Ray give the same index (every catalog row and tier vector, ids
aside) on generated videos and on a real shared video, and the same report for a broken file.

Marked ``ray``: it needs a Ray head at ``MEMINDEX_RAY_ADDRESS`` (default 127.0.0.1:6399), which CI starts
inside a loopback-only network namespace (``scripts/ray_ns.sh``, called by ``.ci/run``); without one the
tests skip and say so. Only a loopback address is ever used."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import memindex
from memindex.ingest.config import AsrConfig, IngestConfig, KeyframeConfig, OcrConfig
from memindex.ingest.executors import ray_reachable
from tests.media import Scene, make_video
from tests.snapshot import snapshot

pytestmark = pytest.mark.ray
ADDRESS = os.environ.get("MEMINDEX_RAY_ADDRESS", "127.0.0.1:6399")
EXECUTORS = {"inline": {}, "local": {"workers": 2}, "ray": {"address": ADDRESS}}


@pytest.fixture(scope="module")
def ray_head() -> str:
    pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'memindex[ray]')")
    if ADDRESS.rsplit(":", 1)[0] not in ("127.0.0.1", "localhost"):
        pytest.fail(f"MEMINDEX_RAY_ADDRESS={ADDRESS}: tests only use a Ray head on loopback")
    if not ray_reachable(ADDRESS):
        why = f"no Ray head answers at {ADDRESS}"
        if "MEMINDEX_RAY_ADDRESS" in os.environ:  # a head was promised (scripts/ray_ns.sh, CI): not a skip
            pytest.fail(why)
        pytest.skip(f"{why}; run these tests through scripts/ray_ns.sh, as .ci/run does")
    return ADDRESS


def _remux(src: Path, seconds: float, dst: Path) -> Path:
    """The first ``seconds`` of ``src``, packets copied (no re-encode): a short real video."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in (inp.streams.video[0], inp.streams.audio[0])}
        for packet in inp.demux(*[inp.streams[i] for i in streams]):
            if packet.dts is None or (packet.pts is not None and float(packet.pts * packet.time_base) > seconds):
                continue
            packet.stream = streams[packet.stream.index]
            out.mux(packet)
    return dst


def _runs(base: Path, folder: Path, config: IngestConfig, store_config: object = None) -> dict[str, tuple]:
    out = {}
    for name, options in EXECUTORS.items():
        with memindex.open(base / name, config=store_config) as index:  # type: ignore[arg-type]
            report = index.ingest([folder], config=config, **options)
            out[name] = (report.to_dict(), snapshot(index.store))
    return out


def test_every_executor_gives_the_same_index_on_generated_videos(tmp_path: Path, ray_head: str, light_config) -> None:
    folder = tmp_path / "videos"
    folder.mkdir()
    make_video(folder / "a.mp4", [Scene(2.0, 20), Scene(2.0, 100, "HELLO 2026"), Scene(2.0, 160)], size=(320, 180))
    make_video(folder / "b.mp4", [Scene(1.0, 60), Scene(1.5, 130, "SECOND")], size=(320, 180))
    (folder / "c_broken.mp4").write_bytes((folder / "a.mp4").read_bytes()[:3000])
    runs = _runs(tmp_path, folder, IngestConfig(asr=AsrConfig(enabled=False)), light_config)
    report, snap = runs["inline"]
    assert len(report["ingested"]) == 2 and [Path(f["path"]).name for f in report["failed"]] == ["c_broken.mp4"]
    assert snap["catalog"]["ocr_lines"], "the captions were read"
    for name in ("local", "ray"):
        assert runs[name][0] == report, name
        assert runs[name][1] == snap, f"{name} gives another index than inline"


def test_every_executor_gives_the_one_pass_index_in_time_chunks(tmp_path: Path, ray_head: str, light_config) -> None:
    """A 45-s video in 15-s chunks (parts on 2 local workers, on Ray, inline) and in one pass: one index."""
    folder = tmp_path / "long"
    folder.mkdir()
    scenes = [Scene(7, 20), Scene(8, 60, "FIRST SEAM"), Scene(9.5, 100), Scene(5.5, 140, "AT THE SEAM"), Scene(15, 10)]
    make_video(folder / "long.mp4", scenes, size=(320, 180))
    cfg = {"asr": AsrConfig(enabled=False), "keyframes": KeyframeConfig(max_gap=4.0), "ocr": OcrConfig(budget=None)}
    with memindex.open(tmp_path / "one_pass", config=light_config) as index:
        assert index.ingest([folder], config=IngestConfig(**cfg, chunk_seconds=0)).ok  # type: ignore[arg-type]
        one_pass = snapshot(index.store)
    runs = _runs(tmp_path, folder, IngestConfig(**cfg, chunk_seconds=15.0), light_config)  # type: ignore[arg-type]
    for name, (report, snap) in runs.items():
        assert report["ingested"] and not report["failed"], (name, report)
        assert snap == one_pass, f"{name} in time chunks gives another index than one pass"


@pytest.mark.slow
def test_every_executor_gives_the_same_index_on_a_real_video(tmp_path: Path, ray_head: str, shared_media: Path) -> None:
    """The first 75 s of bbb_narrated.mp4 (title cards, JFK's speech) with the default models."""
    folder = tmp_path / "real"
    folder.mkdir()
    _remux(shared_media / "video" / "bbb_narrated.mp4", 75.0, folder / "bbb_75s.mp4")
    runs = _runs(tmp_path, folder, IngestConfig())
    report, snap = runs["inline"]
    assert len(report["ingested"]) == 1, report
    assert any("ask not" in str(v).lower() for row in snap["catalog"]["utterances"] for v in row)
    for name in ("local", "ray"):
        assert runs[name][0] == report, name
        assert runs[name][1] == snap, f"{name} gives another index than inline"
