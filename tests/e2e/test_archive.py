"""End to end with the real default models on the real shared media, through the CLI as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import run_cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def archive(real_archive: tuple[Path, dict[str, str]]) -> Path:
    return real_archive[0]


def _query(store: Path, text: str, k: int = 5) -> list[dict]:
    run = run_cli("query", text, "--store", str(store), "--k", str(k), "--json")
    assert run.returncode == 0, run.stderr[-2000:]
    data = json.loads(run.stdout)  # stdout holds the JSON and nothing else
    assert set(data) == {"hits"}
    return data["hits"]


def _overlaps(hit: dict, start: float, end: float) -> bool:
    return hit["start"] < end and hit["end"] > start


def test_speech_is_found_at_the_right_second(archive: Path) -> None:
    hits = _query(archive, "ask not what your country can do for you")
    top = hits[0]
    assert top["uri"].endswith("bbb_narrated.mp4") and top["tier"] == "speech"
    assert _overlaps(top, 60.0, 71.0) and 58.0 <= top["start"] and top["end"] <= 73.0
    for key in ("video_id", "uri", "start", "end", "level", "tier", "modality", "score", "text", "keyframe"):
        assert key in top


def test_ingest_again_skips_and_stats_report(archive: Path, shared_media: Path) -> None:
    run = run_cli("ingest", str(shared_media / "video" / "bbb.mp4"), "--store", str(archive), "--json", "--quiet")
    assert run.returncode == 0 and len(json.loads(run.stdout)["skipped"]) == 1
    stats = json.loads(run_cli("stats", "--store", str(archive), "--json").stdout)
    assert stats["videos"] == 2 and stats["duration_seconds"] > 1180
    assert stats["segments"]["shot"] > 150
    assert stats["tiers"]["speech"]["rows"] > 10 and stats["tiers"]["screen"]["rows"] > 20


@pytest.mark.parametrize("line", [0, 5, 8, 13])
def test_a_sonnet_line_finds_its_line_interval(archive: Path, shared_media: Path, line: int) -> None:
    truth = json.loads((shared_media / "video" / "bbb_narrated.groundtruth.json").read_text())
    sonnet = next(c for c in truth["speech"] if "lines" in c)
    start, end, text = sonnet["lines"][line]
    top = _query(archive, text)[0]
    assert top["uri"].endswith("bbb_narrated.mp4")
    mid = (top["start"] + top["end"]) / 2
    assert start - 1.0 <= mid <= end + 1.0, (top, start, end)
    assert top["end"] - top["start"] <= (end - start) + 6.0  # line-level, not the whole 53-s reading


def test_on_screen_title_is_found_by_ocr(archive: Path) -> None:
    hits = _query(archive, "Peach open movie project")
    assert _overlaps(hits[0], 20.0, 22.0) and hits[0]["tier"] == "screen"
    from_bbb = [h for h in hits[:2] if h["uri"].endswith("/bbb.mp4")]
    assert from_bbb and _overlaps(from_bbb[0], 20.0, 22.0)
    assert Path(hits[0]["keyframe"]["path"]).exists()  # the citation's frame is in the media cache
