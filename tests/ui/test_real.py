"""The UI on the shared archive (bbb.mp4 + bbb_narrated.mp4 ingested with the real models), in headless
Chromium: the library, a spoken phrase found and opened at its second, bbb.mp4's chapters and keyframes, a
rename from the entities page seen by the CLI, and 401 without the token. Screenshots of every page."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from memindex.server.service import Service, ServiceConfig
from tests.helpers import run_cli
from tests.ui.browser import css, live, now, ready, shot, wait
from tests.ui.conftest import TOKEN

pytestmark = pytest.mark.slow
PHRASE = "ask not what your country can do for you"


@pytest.fixture(scope="module")
def archive(real_archive, tmp_path_factory) -> Iterator[tuple[Service, dict[str, str]]]:  # type: ignore[no-untyped-def]
    """A copy of the shared archive (the rename below must not leak into other tests), served."""
    store, ids = real_archive
    copy = tmp_path_factory.mktemp("ui-archive") / "store"
    shutil.copytree(store, copy)
    svc = Service(ServiceConfig(store=copy, resume=False))
    yield svc, ids
    svc.close()


def test_library_lists_the_shared_videos(browser, archive, shots_dir: Path) -> None:  # type: ignore[no-untyped-def]
    svc, ids = archive
    with live(svc) as url:
        ready(browser, url + "/ui/")
        cards = {e.get_attribute("data-video"): e for e in css(browser, "article.video")}
        assert set(cards) == set(ids.values())
        assert {e.text for e in css(browser, ".video .name")} == {"bbb.mp4", "bbb_narrated.mp4"}
        narrated = cards[ids["bbb_narrated.mp4"]].text
        assert "9:56" in narrated and "en" in narrated and "visual pending" in narrated
        wait(
            browser,
            lambda: all(
                browser.execute_script("return arguments[0].naturalWidth", img) > 0
                for img in css(browser, ".video .thumb img")
            ),
            what="the thumbnails",
        )
        shot(browser, shots_dir, "library")


def test_a_spoken_phrase_opens_at_its_second(browser, archive, shots_dir: Path) -> None:  # type: ignore[no-untyped-def]
    svc, ids = archive
    with live(svc) as url:
        ready(browser, url + "/ui/search")
        css(browser, "#search input[name=q]")[0].send_keys(PHRASE)
        css(browser, "#search button[value=search]")[0].click()
        cards = wait(browser, lambda: css(browser, "a.hit"), what="the hit cards")
        card = next(c for c in cards[:3] if c.get_attribute("data-video") == ids["bbb_narrated.mp4"])
        marked = " ".join(m.text.lower() for m in card.find_elements("tag name", "mark"))
        assert "ask" in marked and "country" in marked
        shot(browser, shots_dir, "search")
        card.click()
        wait(browser, lambda: "/ui/videos/" in browser.current_url and css(browser, "#now"), what="the video page")
        assert abs(now(browser) - 62.0) < 3.0, now(browser)
        assert "ask not what your country" in css(browser, "#transcript li.on")[0].text
        wait(
            browser,
            lambda: browser.execute_script("return document.getElementById('player').readyState >= 1"),
            what="the original file's metadata",
        )
        assert abs(browser.execute_script("return document.getElementById('player').currentTime") - now(browser)) < 1
        wait(
            browser,
            lambda: browser.execute_script(
                "const p = document.getElementById('player'); return !p.seeking && p.readyState >= 3"
            ),
            what="the frame",
        )
        shot(browser, shots_dir, "video", height=1000)


def test_the_timeline_of_bbb_shows_chapters_and_keyframes(browser, archive, shots_dir: Path) -> None:  # type: ignore[no-untyped-def]
    svc, ids = archive
    with live(svc) as url:
        ready(browser, f"{url}/ui/videos/{ids['bbb.mp4']}")
        chapters = css(browser, ".lane[data-lane=chapters] .item")
        assert len(chapters) >= 2 and all(c.size["width"] > 10 for c in chapters)
        assert len(css(browser, ".lane[data-lane=events] .item")) > len(chapters)
        kfs = css(browser, "img.kf")
        assert len(kfs) > 100
        loaded = wait(
            browser,
            lambda: (
                browser.execute_script(
                    "return Array.from(document.querySelectorAll('img.kf')).filter(i => i.complete && i.naturalWidth)"
                    ".length"
                )
                > 100
            ),
            timeout=60,
            what="the keyframe thumbnails",
        )
        assert loaded
        screen = " ".join(e.get_attribute("title") for e in css(browser, ".lane[data-lane=screen] .item"))
        assert "PEACH" in screen.upper()
        chapters[1].click()
        assert now(browser) == pytest.approx(float(chapters[1].get_attribute("data-start")), abs=0.01)
        shot(browser, shots_dir, "timeline-bbb", height=1200)


def test_a_rename_on_the_entities_page_shows_in_the_cli(browser, archive, shots_dir: Path) -> None:  # type: ignore[no-untyped-def]
    svc, ids = archive
    spoken = [u for u in svc.reader().transcript(ids["bbb_narrated.mp4"], 60, 66) if "country" in u["text"]]
    label = spoken[0]["speaker"]
    entity = label.removeprefix("spk")
    with live(svc) as url:
        ready(browser, url + "/ui/entities?kind=speaker")
        form = css(browser, f"tr[data-entity='{entity}'] form.rename")[0]
        box = form.find_element("name", "name")
        box.clear()
        box.send_keys("John F. Kennedy")
        form.find_element("tag name", "button").click()
        wait(browser, lambda: css(browser, "tr[data-name='John F. Kennedy']"), what="the renamed row")
        shot(browser, shots_dir, "entities")
        listed = run_cli("entities", "list", "--store", str(svc.root), "--kind", "speaker", timeout=120)
        assert listed.returncode == 0 and "John F. Kennedy *" in listed.stdout, listed.stdout + listed.stderr
        ready(browser, f"{url}/ui/videos/{ids['bbb_narrated.mp4']}?t=62")
        assert "John F. Kennedy" in css(browser, "#transcript li.on")[0].text


def test_pages_answer_401_without_the_token(archive) -> None:  # type: ignore[no-untyped-def]
    svc, ids = archive
    paths = [
        "/ui/",
        f"/ui/videos/{ids['bbb.mp4']}",
        f"/ui/search?q={PHRASE}",
        "/ui/entities",
        f"/ui/videos/{ids['bbb.mp4']}/file",
        "/ui/frames/1.jpg",
    ]
    with live(svc, token=TOKEN) as url:
        for path in paths:
            assert httpx.get(url + path).status_code == 401, path
            opened = httpx.get(url + path, headers={"authorization": f"Bearer {TOKEN}", "range": "bytes=0-99"})
            assert opened.status_code in (200, 206), path
