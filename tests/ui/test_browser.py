"""The UI in a real headless Chromium over a live server (generated store): the timeline seeks and zooms,
search cards open the moment, entity edits from the page reach the CLI, the token is asked once."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import run_cli
from tests.ui.browser import accept_confirm, css, live, now, ready, shot, wait
from tests.ui.conftest import TOKEN

CALL = "ca11000000000001"


def _names(svc) -> set[str]:  # type: ignore[no-untyped-def]
    run = run_cli("entities", "list", "--store", str(svc.root), "--json", timeout=120)
    assert run.returncode == 0, run.stderr
    return {e["name"] for e in json.loads(run.stdout)["entities"]}


def test_library_and_timeline(browser, ui_service, shots_dir: Path) -> None:  # type: ignore[no-untyped-def]
    svc, ids = ui_service
    with live(svc) as url:
        ready(browser, url + "/ui/")
        assert {e.text for e in css(browser, ".video .name")} == {"a.mp4", f"{CALL}.mp4"}
        shot(browser, shots_dir, "generated-library")
        ready(browser, f"{url}/ui/videos/{CALL}")
        wait(browser, lambda: css(browser, "#axis span"), what="the time axis")
        line = css(browser, "#transcript li")[2]
        line.click()
        assert now(browser) == 6.5 and "on" in line.get_attribute("class")
        assert "t=6.5" in browser.current_url
        width = browser.execute_script("return document.getElementById('tl-inner').offsetWidth")
        css(browser, "[data-zoom=in]")[0].click()
        assert browser.execute_script("return document.getElementById('tl-inner').offsetWidth") >= 1.9 * width
        css(browser, "[data-zoom=fit]")[0].click()
        css(browser, ".lane[data-lane=shots] .item")[3].click()
        assert now(browser) == 15.0
        ready(browser, f"{url}/ui/videos/{ids['a.mp4']}?t=2")
        wait(
            browser,
            lambda: browser.execute_script("return document.getElementById('player').readyState >= 1"),
            what="the video's metadata (range requests)",
        )
        assert abs(browser.execute_script("return document.getElementById('player').currentTime") - 2.0) < 0.2


def test_search_card_opens_the_moment(browser, ui_service) -> None:  # type: ignore[no-untyped-def]
    svc, ids = ui_service
    with live(svc) as url:
        ready(browser, url + "/ui/search")
        box = css(browser, "#search input[name=q]")[0]
        box.send_keys("alpha")
        css(browser, "#search button[value=search]")[0].click()
        card = wait(browser, lambda: css(browser, "a.hit"), what="the hit cards")[0]
        assert card.get_attribute("data-video") == ids["a.mp4"] and "ALPHA" in card.text
        start = round(float(card.get_attribute("data-start")), 2)
        card.click()
        wait(browser, lambda: "/ui/videos/" in browser.current_url and css(browser, "#now"), what="the video page")
        assert abs(now(browser) - start) < 0.01


def test_entities_rename_merge_split_from_the_page(browser, fresh_service, shots_dir: Path) -> None:  # type: ignore[no-untyped-def]
    svc, _ = fresh_service
    with live(svc) as url:
        ready(browser, url + "/ui/entities")
        form = css(browser, "tr[data-name='Speaker A'] form.rename")[0]
        field = form.find_element("name", "name")
        field.clear()
        field.send_keys("Diane")
        form.find_element("tag name", "button").click()
        wait(browser, lambda: css(browser, "tr[data-name='Diane']"), what="the renamed row")
        assert "Diane" in _names(svc)
        shot(browser, shots_dir, "generated-entities")
        for name in ("Diane", "Speaker B"):
            css(browser, f"tr[data-name='{name}'] .pick")[0].click()
        diane = css(browser, "tr[data-name='Diane']")[0].get_attribute("data-entity")
        css(browser, f"#merge-target option[value='{diane}']")[0].click()
        css(browser, "#merge")[0].click()
        assert "Merge 1 entities into Diane" in accept_confirm(browser)
        wait(browser, lambda: not css(browser, "tr[data-name='Speaker B']"), what="the merge")
        assert "Speaker B" not in _names(svc)
        css(browser, "tr[data-name='Diane'] a.ename")[0].click()
        wait(browser, lambda: css(browser, "tr[data-mention] .pick"), what="the mentions")[0].click()
        css(browser, "form.split input[name=name]")[0].send_keys("Sheila")
        css(browser, "form.split button")[0].click()
        assert "Move 1 mentions" in accept_confirm(browser)
        wait(browser, lambda: "Sheila" in _names(svc), timeout=30, what="the split")


def test_the_token_is_asked_once(browser, ui_service, shots_dir: Path) -> None:  # type: ignore[no-untyped-def]
    svc, _ = ui_service
    with live(svc, token=TOKEN) as url:
        browser.delete_all_cookies()
        ready(browser, url + "/ui/")
        box = wait(browser, lambda: css(browser, "#login #token"), what="the login form")[0]
        shot(browser, shots_dir, "login")
        box.send_keys("not-the-token-at-all")
        css(browser, "#login button")[0].click()
        wait(browser, lambda: "not valid" in css(browser, "#err")[0].text, what="the refusal")
        box = css(browser, "#login #token")[0]
        box.clear()
        box.send_keys(TOKEN)
        css(browser, "#login button")[0].click()
        wait(browser, lambda: css(browser, ".video .name"), what="the library after login")
        assert browser.execute_script("return document.cookie") == ""  # HttpOnly: scripts cannot read it
        ready(browser, f"{url}/ui/videos/{CALL}")
        assert css(browser, "#timeline") and not css(browser, "#login")
        browser.delete_all_cookies()


def test_the_export_works_from_a_file(browser, ui_service, tmp_path: Path, shots_dir: Path) -> None:  # type: ignore[no-untyped-def]
    svc, _ = ui_service
    out = tmp_path / "a.html"
    assert run_cli("show", "a.mp4", "--store", str(svc.root), "--html", str(out)).returncode == 0
    ready(browser, out.as_uri())
    wait(browser, lambda: css(browser, "#axis span"), what="the time axis")
    kf = css(browser, "img.kf")[-1]
    kf.click()
    assert now(browser) == float(kf.get_attribute("data-t"))
    assert css(browser, "#still")[0].get_attribute("src") == kf.get_attribute("src")
    shot(browser, shots_dir, "generated-export")
