"""Shared fixtures: offline model settings, real media paths, generated media, and stores."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from tests.helpers import SHARED, run_cli  # noqa: E402
from tests.media import Scene, make_video  # noqa: E402


@pytest.fixture(scope="session")
def shared_media() -> Path:
    if not (SHARED / "video" / "bbb.mp4").exists():
        pytest.fail(f"the shared media folder is missing at {SHARED} (set MEMINDEX_SHARED_MEDIA)")
    return SHARED


@pytest.fixture(scope="session")
def real_archive(tmp_path_factory: pytest.TempPathFactory, shared_media: Path) -> tuple[Path, dict[str, str]]:
    """bbb.mp4 and bbb_narrated.mp4 ingested once with the real default models, through the CLI, from a
    folder (as a user would): (store path, {file name: video id}). Shared by every real-media test."""
    folder = tmp_path_factory.mktemp("archive")
    for name in ("bbb.mp4", "bbb_narrated.mp4"):
        (folder / name).symlink_to(shared_media / "video" / name)
    store = tmp_path_factory.mktemp("real") / "store"
    run = run_cli("ingest", str(folder), "--store", str(store), "--quiet", "--json")
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout)
    assert len(report["ingested"]) == 2 and not report["failed"], report
    return store, {Path(r["path"]).name: r["video_id"] for r in report["ingested"]}


@pytest.fixture(scope="session")
def cut_video(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[float]]:
    """Five scenes with hard cuts at known times, one with a caption."""
    path = tmp_path_factory.mktemp("media") / "cuts.mp4"
    scenes = [Scene(2.0, 0), Scene(1.5, 60), Scene(3.0, 120, "HELLO 2026"), Scene(1.0, 30), Scene(2.5, 90)]
    cuts = make_video(path, scenes)
    return path, cuts


@pytest.fixture()
def light_config():  # type: ignore[no-untyped-def]
    """A store config with no model downloads: hashing text vectors, frame embeddings off."""
    from memindex.config import FrameEncoderConfig, StoreConfig, TextEncoderConfig

    return StoreConfig(text=TextEncoderConfig(name="hashing"), frame=FrameEncoderConfig(enabled=False))
