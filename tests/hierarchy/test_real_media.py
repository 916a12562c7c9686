"""Done-criteria on the shared media with the default (offline) models: every level non-empty and nested
exactly, and no event edge cuts one of bbb_narrated's seven speech clips."""

from __future__ import annotations

import json

import pytest

import memindex

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_index(real_archive):  # type: ignore[no-untyped-def]
    store, ids = real_archive
    index = memindex.open(store)
    yield index, ids
    index.close()


def _flatten(node: dict, out: dict[str, list[dict]]) -> None:
    out.setdefault(node["level"], []).append(node)
    for child in node["children"]:
        assert child["start"] >= node["start"] - 1e-6 and child["end"] <= node["end"] + 1e-6
        _flatten(child, out)


@pytest.mark.parametrize("name", ["bbb_narrated.mp4", "bbb.mp4"])
def test_every_level_nonempty_and_nested(real_index, name: str) -> None:  # type: ignore[no-untyped-def]
    index, ids = real_index
    tree = index.browse(ids[name], "video")
    levels: dict[str, list[dict]] = {}
    _flatten(tree[0], levels)
    for lvl in ("shot", "event", "chapter", "video"):
        assert levels.get(lvl), lvl
        spans = sorted((n["start"], n["end"]) for n in levels[lvl])
        assert all(a[1] == pytest.approx(b[0]) for a, b in zip(spans, spans[1:], strict=False)), lvl
    assert (
        all(n["summary"] or n["transcript"] or n["ocr"] for n in levels["chapter"] + levels["video"])
        or name == "bbb.mp4"
    )
    stats = index.stats()
    assert all(stats["segments"][lvl] > 0 for lvl in ("shot", "event", "chapter", "video"))


def test_speech_clips_are_never_cut(real_index, shared_media) -> None:  # type: ignore[no-untyped-def]
    index, ids = real_index
    truth = json.loads((shared_media / "video" / "bbb_narrated.groundtruth.json").read_text())["speech"]
    assert len(truth) == 7
    events = index.browse(ids["bbb_narrated.mp4"], "event")
    edges = [e["start"] for e in events[1:]]
    for clip in truth:
        inside = [t for t in edges if clip["start"] + 0.5 < t < clip["end"] - 0.5]
        assert not inside, (clip["start"], clip["end"], inside)
    sonnet = next(e for e in events if e["start"] <= 250 <= e["end"])
    assert "fairest" in (sonnet["transcript"] or "").lower() or "creatures" in (sonnet["transcript"] or "").lower()
