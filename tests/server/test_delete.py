"""Deletion leaves no trace (catalog, FAISS tier files, media cache); collections are isolated."""

from __future__ import annotations

import pytest

from memindex.errors import NotFoundError
from tests.server.conftest import ingest_wait
from tests.server.invariants import assert_no_trace, check_consistent, doc_ids


def test_delete_scans_catalog_tiers_and_media(service, media_root, video_id) -> None:
    ingest_wait(service, media_root / "b.mp4")
    index = service.reader("default")
    other = [v["id"] for v in index.videos() if v["id"] != video_id][0]
    ids = doc_ids(index.store, video_id)
    assert ids and index.search("alpha", k=5)
    service.delete_video("default", video_id)
    assert_no_trace(index.store, video_id, ids)
    assert all(h.video_id != video_id for h in index.search("alpha", k=50))
    assert index.search("bravo", k=5)[0].video_id == other  # the other video is untouched
    check_consistent(index.store)
    with pytest.raises(NotFoundError):  # deleting twice fails
        service.delete_video("default", video_id)


def test_second_collection_is_isolated(service, media_root, video_id, tmp_path, light_config) -> None:
    ingest_wait(service, media_root / "b.mp4", collection="team-b")
    a, b = service.reader("default"), service.reader("team-b")
    assert {v["id"] for v in a.videos()} == {video_id}
    assert video_id not in {v["id"] for v in b.videos()}
    assert all(h.video_id != video_id for h in b.search("alpha", k=50))
    bravo = b.videos()[0]["id"]
    assert b.search("bravo", k=3)[0].video_id == bravo
    assert all(h.video_id != bravo for h in a.search("bravo", k=50))
    frame = b.frames(b.videos()[0]["id"])[0]["frame_id"]
    # another collection's frame id does not reach across: it is either unknown here or one of our own
    # frames (each collection numbers its frames, so ids can coincide)
    if any(f["frame_id"] == frame for f in a.frames(video_id)):
        assert service.frame_jpeg("default", frame)
    else:
        with pytest.raises(NotFoundError):
            service.frame_jpeg("default", frame)
    for call in (lambda: service.reader("team-b").video(video_id), lambda: service.reader("nope").videos()):
        with pytest.raises(NotFoundError):
            call()
    service.delete_video("team-b", b.videos()[0]["id"])
    assert [v["id"] for v in a.videos()] == [video_id]  # deleting in one collection leaves the other
    assert sorted(service.collections()) == ["default", "team-b"]
