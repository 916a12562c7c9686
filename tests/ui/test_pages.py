"""The UI's pages as HTML over a real store (a generated video with on-screen text, a synthetic phone call
with two speakers), through the app and its middlewares, without a browser."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from memindex.catalog.models import StageRun, Video
from memindex.server.ui_data import original_file
from memindex.server.ui_pages import highlight
from tests.ui.conftest import client
from tests.ui.html import find

CALL = "ca11000000000001"


@pytest.fixture(scope="module")
def ui(ui_service):  # type: ignore[no-untyped-def]
    svc, ids = ui_service
    with client(svc) as c:
        yield c, ids


def test_library_lists_every_video_with_totals_and_stages(ui) -> None:  # type: ignore[no-untyped-def]
    c, ids = ui
    page = c.get("/ui/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    cards = find(page.text, "article", cls="video")
    assert {e.attrs["data-video"] for e in cards} == set(ids.values())
    assert find(page.text, id="totals")[0].attrs["data-videos"] == "2"
    names = {e.content() for e in find(page.text, "a", cls="name")}
    assert names == {"a.mp4", f"{CALL}.mp4"}
    a_card = next(e for e in cards if e.attrs["data-video"] == ids["a.mp4"]).content()
    assert "ocr" in a_card and "no speech" in a_card
    call_card = next(e for e in cards if e.attrs["data-video"] == CALL).content()
    assert "speech" in call_card and "no keyframes" in call_card
    thumbs = [e.attrs["src"] for e in find(page.text, "img") if "/ui/frames/" in e.attrs.get("src", "")]
    assert len(thumbs) == 1 and c.get(thumbs[0]).headers["content-type"] == "image/jpeg"
    assert c.get("/ui").status_code == 200


def test_library_filters(ui) -> None:  # type: ignore[no-untyped-def]
    c, ids = ui
    one = c.get("/ui/", params={"q": "a.mp4"}).text
    assert [e.attrs["data-video"] for e in find(one, "article", cls="video")] == [ids["a.mp4"]]
    assert find(one, id="totals")[0].attrs["data-videos"] == "1"
    for params in ({"state": "failed"}, {"language": "xx"}, {"q": "%"}, {"q": "_"}):
        none = c.get("/ui/", params=params).text
        assert not find(none, "article", cls="video") and "No videos match" in none, params
    assert len(find(c.get("/ui/", params={"state": "ready"}).text, "article", cls="video")) == 2
    pending = find(c.get("/ui/", params={"state": "pending"}).text, "article", cls="video")
    assert [e.attrs["data-video"] for e in pending] == [ids["a.mp4"]]  # no frame encoder: visual pending
    bad = c.get("/ui/", params={"state": "bogus"})
    assert bad.status_code == 400 and find(bad.text, cls="error")[0].attrs["data-code"] == "bad_query"
    assert c.get("/ui/", params={"page": 0}).status_code == 422


def test_video_page_has_every_lane_and_the_transcript(ui) -> None:  # type: ignore[no-untyped-def]
    c, _ = ui
    page = c.get(f"/ui/videos/{CALL}", params={"t": 7}).text
    tl = find(page, "section", id="timeline")[0]
    assert tl.attrs["data-duration"] == "20.000" and tl.attrs["data-t"] == "7.000"
    counts = {e.attrs["data-lane"]: int(e.attrs["data-count"]) for e in find(page, "div", cls="lane")}
    assert counts == {"chapters": 0, "events": 0, "shots": 4, "keyframes": 0, "speech": 5, "screen": 2, "entities": 0}
    utts = find(page, "div", cls="utt")
    assert len({e.attrs["style"].split("--c:")[1] for e in utts}) == 2  # one colour per speaker
    lines = find(page, "li")
    assert len(lines) == 5 and lines[1].attrs["data-start"] == "3.500"
    assert {e.content() for e in find(page, "b", cls="spk")} == {"Speaker A", "Speaker B"}
    assert find(page, "img", id="still") and not find(page, "video")  # the file is not reachable
    assert find(page, id="now")[0].attrs["data-t"] == "7.000"


def test_video_page_plays_a_reachable_file_with_range_requests(ui) -> None:  # type: ignore[no-untyped-def]
    c, ids = ui
    vid = ids["a.mp4"]
    page = c.get(f"/ui/videos/{vid}").text
    src = find(page, "video", id="player")[0].attrs["src"]
    assert src == f"/ui/videos/{vid}/file"
    kfs = find(page, "img", cls="kf")
    assert kfs and all(e.attrs["src"].endswith("?w=160") for e in kfs)
    part = c.get(src, headers={"range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100 and part.headers["content-type"] == "video/mp4"
    assert part.headers["content-range"].startswith("bytes 0-99/")
    gone = c.get(f"/ui/videos/{CALL}/file")
    assert gone.status_code == 404 and gone.json()["code"] == "not_found"


def test_video_page_bounds(ui) -> None:  # type: ignore[no-untyped-def]
    c, _ = ui
    assert find(c.get(f"/ui/videos/{CALL}", params={"t": 999}).text, id="now")[0].attrs["data-t"] == "20.000"
    assert find(c.get(f"/ui/videos/{CALL}", params={"t": -5}).text, id="now")[0].attrs["data-t"] == "0.000"
    assert c.get(f"/ui/videos/{CALL}", params={"t": "nan"}).status_code == 400
    missing = c.get("/ui/videos/ffffffffffffffff")
    assert missing.status_code == 404 and "no video" in missing.text
    assert c.get("/ui/videos/ca11").status_code == 200  # an id prefix, as the CLI takes


def test_original_file_needs_the_same_size(tmp_path: Path) -> None:
    f = tmp_path / "v.mp4"
    f.write_bytes(b"x" * 10)
    assert original_file({"uri": str(f), "size_bytes": 10}) == f
    assert original_file({"uri": str(f), "size_bytes": 11}) is None
    assert original_file({"uri": str(tmp_path / "gone.mp4"), "size_bytes": 10}) is None
    assert original_file({"uri": "https://example.org/v.mp4", "size_bytes": 10}) is None


def test_frames_are_scaled_on_request(ui) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    c, ids = ui
    frame = find(c.get(f"/ui/videos/{ids['a.mp4']}").text, "img", cls="kf")[0].attrs["data-frame"]
    small = c.get(f"/ui/frames/{frame}.jpg", params={"w": 80})
    assert small.status_code == 200 and Image.open(io.BytesIO(small.content)).width == 80
    full = c.get(f"/ui/frames/{frame}.jpg")
    assert Image.open(io.BytesIO(full.content)).width == 320
    assert c.get(f"/ui/frames/{frame}.jpg", params={"w": 5}).json()["code"] == "bad_query"
    assert c.get("/ui/frames/999999.jpg").status_code == 404
    assert c.get(f"/ui/frames/{2**63}.jpg").status_code == 404


def test_search_shows_cards_that_open_the_moment(ui) -> None:  # type: ignore[no-untyped-def]
    c, ids = ui
    page = c.get("/ui/search", params={"q": "alpha"}).text
    cards = find(page, "a", cls="hit")
    assert cards and cards[0].attrs["data-video"] == ids["a.mp4"]
    start = float(cards[0].attrs["data-start"])
    assert cards[0].attrs["href"] == f"/ui/videos/{ids['a.mp4']}?t={start:.2f}"
    assert "<mark>ALPHA</mark>" in page and "screen" in cards[0].content()
    assert not find(c.get("/ui/search").text, id="hits")
    assert c.get("/ui/search", params={"q": "x" * 3000}).status_code == 400


def test_ask_shows_answer_evidence_and_steps(ui) -> None:  # type: ignore[no-untyped-def]
    c, ids = ui
    page = c.get("/ui/search", params={"q": "alpha", "mode": "ask"}).text
    answer = find(page, "section", id="answer")[0].content()
    assert "fake answer to 'alpha'" in answer and "1 steps" in answer
    assert find(page, "a", cls="hit")[0].attrs["data-video"] == ids["a.mp4"]


def test_highlight_escapes_and_marks_the_phrase_or_its_words() -> None:
    assert highlight("<b>Ask</b> not what", "ask country") == "&lt;b&gt;<mark>Ask</mark>&lt;/b&gt; not what"
    assert highlight("so ask not, what you can", "Ask not what") == "so <mark>ask not, what</mark> you can"
    assert highlight("what you can do for them", "ask not what you can do") == "what you can do for them"
    assert highlight("what is it", "what is") == "<mark>what is</mark> it"
    assert highlight("asking", "ask") == "asking"
    assert highlight("a <x>", "") == "a &lt;x&gt;"


def test_names_from_the_catalog_are_escaped(fresh_service) -> None:  # type: ignore[no-untyped-def]
    svc, _ = fresh_service
    evil = '<img src=x onerror="alert(1)">.mp4'
    with svc.reader("default").store.write() as txn:
        txn.session.add(
            Video(
                id="e711000000000001",
                uri=f"/x/{evil}",
                sha256="e7" * 32,
                size_bytes=1,
                duration=3.0,
                status="failed",
                error="<script>alert(2)</script>",
            )
        )
        txn.session.add(StageRun(video_id=CALL, stage="ocr", status="failed", detail="reader crashed"))
    with client(svc) as c:
        lib = c.get("/ui/").text
        assert "<img src=x" not in lib and "<script>alert" not in lib
        card = next(e for e in find(lib, "article") if e.attrs["data-video"] == "e711000000000001")
        assert evil in card.content() and "<script>alert(2)</script>" in card.content()  # shown plainly, as text
        failed = [e for e in find(lib, "span", cls="failed")]
        assert failed and failed[0].attrs["title"] == "reader crashed" and "FAILED" in failed[0].content()
        assert "<img src=x" not in c.get("/ui/videos/e711000000000001").text
