"""The UI behind the server's perimeter: with a token every /ui path answers 401 without it (pages with the
login form), the token is kept in an HttpOnly cookie that opens /ui only, and Host/Origin checks cover /ui."""

from __future__ import annotations

import pytest

from tests.ui.conftest import TOKEN, client
from tests.ui.html import find

CALL = "ca11000000000001"
UI = {"x-memindex-ui": "1"}
PAGES = [
    "/ui",
    "/ui/",
    f"/ui/videos/{CALL}",
    "/ui/search?q=alpha",
    "/ui/search?q=alpha&mode=ask",
    "/ui/entities",
    "/ui/entities/1",
]
OTHER = [f"/ui/videos/{CALL}/file", "/ui/frames/1.jpg", "/ui/static/ui.js"]


@pytest.fixture(scope="module")
def locked(ui_service):  # type: ignore[no-untyped-def]
    svc, _ = ui_service
    with client(svc, token=TOKEN) as c:
        yield c


def test_every_ui_path_needs_the_token(locked) -> None:  # type: ignore[no-untyped-def]
    for path in PAGES:
        resp = locked.get(path)
        assert resp.status_code == 401, path
        assert resp.headers["content-type"].startswith("text/html") and find(resp.text, "form", id="login"), path
    for path in OTHER:
        resp = locked.get(path)
        assert resp.status_code == 401 and resp.json()["code"] == "unauthorized", path
    write = locked.post("/ui/api/entities/1/rename", json={"name": "X"}, headers=UI)
    assert write.status_code == 401
    for bad in ("wrong-token-0123456789", TOKEN + "x"):
        assert locked.get("/ui/", headers={"authorization": f"Bearer {bad}"}).status_code == 401
        assert locked.get("/ui/", cookies={"memindex_token": bad}).status_code == 401
    assert locked.get("/ui/", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_login_keeps_the_token_in_a_cookie_for_the_ui_only(ui_service) -> None:  # type: ignore[no-untyped-def]
    svc, _ = ui_service
    with client(svc, token=TOKEN) as c:
        assert c.post("/ui/login", headers={**UI, "authorization": "Bearer nope-nope-nope-nope"}).status_code == 401
        assert "memindex_token" not in c.cookies
        ok = c.post("/ui/login", headers={**UI, "authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200
        cookie = ok.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ui" in cookie
        for path in PAGES + OTHER[1:]:
            assert c.get(path).status_code in (200, 404), path  # 404: frame 1 may not exist
        assert c.get("/ui/").status_code == 200
        assert c.get("/v1/videos", cookies={"memindex_token": TOKEN}).status_code == 401  # the API takes bearers
        assert c.post("/ui/logout", headers=UI).status_code == 200
        c.cookies.clear()
        assert c.get("/ui/").status_code == 401


def test_ui_writes_need_the_ui_header_even_with_the_cookie(ui_service) -> None:  # type: ignore[no-untyped-def]
    svc, _ = ui_service
    with client(svc, token=TOKEN) as c:
        resp = c.post("/ui/api/entities/1/rename", json={"name": "X"}, cookies={"memindex_token": TOKEN})
        assert resp.status_code == 403 and resp.json()["code"] == "forbidden"
        assert c.post("/ui/login", cookies={"memindex_token": TOKEN}).status_code == 403


def test_host_and_origin_checks_cover_the_ui(ui_service) -> None:  # type: ignore[no-untyped-def]
    svc, _ = ui_service
    with client(svc) as c:
        assert c.get("/ui/", headers={"host": "evil.example"}).status_code == 421
        foreign = c.post(
            "/ui/api/entities/1/rename", json={"name": "X"}, headers={**UI, "origin": "http://evil.example"}
        )
        assert foreign.status_code == 403 and foreign.json()["code"] == "bad_origin"
