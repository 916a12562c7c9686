"""``memindex.open(url)`` gives a RemoteIndex with the MemoryIndex methods and return types; readers keep
answering consistently while the single writer ingests."""

from __future__ import annotations

import threading

import pytest

import memindex
from memindex.errors import NotFoundError, QueryError
from memindex.search import Hit
from tests.server.conftest import TOKEN


@pytest.fixture()
def remote(live_url):  # type: ignore[no-untyped-def]
    with memindex.open(live_url, token=TOKEN) as index:
        yield index


def _plain(hit: Hit) -> tuple:
    """A hit with its keyframe as (frame id, time): a URL over the wire, a path on the local disk."""
    data = hit.to_dict()
    kf = data.pop("keyframe") or {}
    return data, kf.get("frame_id"), kf.get("t")


def test_same_methods_as_local(remote, service, video_id, media_root) -> None:
    local = service.reader("default")
    hits = remote.search("alpha", k=3)
    assert hits and all(isinstance(h, Hit) for h in hits)
    assert [_plain(h) for h in hits] == [_plain(h) for h in local.search("alpha", k=3)]
    assert hits[0].keyframe["url"].startswith("/v1/frames/") and "path" not in hits[0].keyframe
    assert remote.videos() == local.videos()
    assert remote.video(video_id)["id"] == video_id
    assert remote.transcript(video_id) == [] and remote.screen_text(video_id)[0]["text"] == "ALPHA 1"
    frames = remote.frames(video_id, n=2)
    assert remote.frame_jpeg(frames[0]["frame_id"])[:3] == b"\xff\xd8\xff"
    tree = remote.browse(video_id, level="video")
    assert remote.get_segment(tree[0]["id"])["level"] == "video"
    assert remote.stats()["videos"] == 1
    answer = remote.ask("where is alpha?", max_steps=2)
    assert answer.to_dict()["answer"] and answer.answer
    steps = list(remote.ask_stream("where is alpha?"))
    assert steps[-1]["type"] == "answer"
    report = remote.ingest([media_root / "b.mp4", "/etc/passwd"])
    assert len(report.ingested) == 1 and report.failed[0]["code"] == "forbidden_path" and not report.ok
    remote.delete_video(report.ingested[0]["video_id"])
    assert len(remote.videos()) == 1
    with pytest.raises(NotFoundError):
        remote.video("ffffffffffffffff")
    with pytest.raises(QueryError):
        remote.search("alpha", k=10**6)


def test_collection_names_a_namespace(live_url, remote, media_root) -> None:
    with memindex.open(live_url, token=TOKEN, collection="other") as other:
        with pytest.raises(NotFoundError):
            other.videos()  # never created: not found, and nothing created by reading
        assert other.ingest([media_root / "b.mp4"]).ok
        bravo = other.videos()[0]["id"]
        assert other.search("bravo", k=3)[0].video_id == bravo
        assert all(h.video_id == bravo for h in other.search("alpha", k=50))
    assert all(h.video_id != bravo for h in remote.search("bravo", k=50))


def test_readers_see_before_or_after_never_half(service, media_root, video_id) -> None:
    """Searches and listings run in threads while the writer ingests and deletes; every answer must be a
    committed state: a video in search results is ready and has all its rows."""
    index = service.reader("default")
    stop = threading.Event()
    problems: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                for h in index.search("bravo alpha", k=10):
                    v = index.video(h.video_id)
                    if v["status"] != "ready":
                        problems.append(f"hit from a {v['status']} video")
                ready = [v for v in index.videos() if v["status"] == "ready"]
                for v in ready:
                    if not index.frames(v["id"]) and index.video(v["id"])["status"] == "ready":
                        problems.append("a ready video without frames")
            except NotFoundError:
                pass  # deleted between the listing and the read: fine
            except Exception as exc:  # noqa: BLE001  (collected and reported below)
                problems.append(repr(exc))

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for _ in range(2):
        job = service.submit_ingest("default", str(media_root / "b.mp4"))
        assert job.wait(60) and job.status == "done", job.error
        vid = job.result["ingested"][0]["video_id"]
        service.delete_video("default", vid)
    stop.set()
    for t in threads:
        t.join()
    assert problems == []
