"""Hostile and broken input: each gets a clear {code, message} and the store is unchanged."""

from __future__ import annotations

import os

import pytest

from tests.media import Scene, make_video
from tests.server.conftest import TOKEN


def _snapshot(service) -> dict:  # type: ignore[no-untyped-def]
    stats = service.reader("default").stats()
    return {k: stats[k] for k in ("videos", "segments", "rows", "tiers")}


@pytest.fixture()
def hostile(media_root, tmp_path):  # type: ignore[no-untyped-def]
    """Broken files inside the allowed root, and a secret outside it."""
    bad = media_root / "bad"
    bad.mkdir(exist_ok=True)
    (bad / "empty.mp4").write_bytes(b"")
    good = (media_root / "a.mp4").read_bytes()
    (bad / "truncated.mp4").write_bytes(good[: len(good) // 3])
    (bad / "text.mp4").write_text("this is not a video\n" * 100)
    (bad / "video.txt").write_bytes(good)
    outside = tmp_path / "outside.mp4"
    outside.write_bytes(good)
    link = bad / "escape.mp4"
    if not link.exists():
        os.symlink(outside, link)
    return bad, outside


def test_hostile_paths_are_refused(client, service, media_root, hostile) -> None:
    bad, outside = hostile
    before = _snapshot(service)
    cases = {
        str(bad / "empty.mp4"): "media",
        str(bad / "text.mp4"): "media",
        str(bad / "video.txt"): "config",
        str(bad / "escape.mp4"): "forbidden_path",
        str(outside): "forbidden_path",
        str(media_root / ".." / outside.name): "forbidden_path",
        "/etc/passwd": "forbidden_path",
        str(media_root / "missing.mp4"): "not_found",
        "": "config",
    }
    for path, code in cases.items():
        resp = client.post("/v1/videos", json={"path": path})
        body = resp.json()
        assert body.get("code") == code, (path, body)
        assert 400 <= resp.status_code < 500 and "Traceback" not in body["message"]
    resp = client.post("/v1/videos", json={"path": str(bad / "truncated.mp4")})
    if resp.status_code == 202:  # the container opens; decoding finds the damage on the writer
        job = service.job(resp.json()["id"])
        assert job.wait(60) and job.status == "failed" and job.error["code"] in ("media", "stage")
    else:
        assert resp.json()["code"] == "media"
    assert _snapshot(service) == before


def test_enormous_dimensions_are_refused(client, service, media_root) -> None:
    from memindex.ingest.decode import MAX_PIXELS

    path = media_root / "huge.mp4"
    if not path.exists():  # a real header claiming more pixels than the limit: write a small one and patch
        make_video(path, [Scene(0.2, 10)], size=(64, 64))
    before = _snapshot(service)
    import memindex.ingest.decode as dec

    old, dec.MAX_PIXELS = dec.MAX_PIXELS, 32 * 32  # a 64x64 video is now "enormous"
    try:
        body = client.post("/v1/videos", json={"path": str(path)}).json()
    finally:
        dec.MAX_PIXELS = old
    assert body["code"] == "media" and MAX_PIXELS > 64 * 64
    assert _snapshot(service) == before


def test_malformed_requests(client, service) -> None:
    before = _snapshot(service)
    bad = [
        ("POST", "/v1/search", {"content": b"{not json", "headers": {"content-type": "application/json"}}),
        ("POST", "/v1/search", {"json": {"k": 3}}),
        ("POST", "/v1/search", {"json": {"query": "x", "k": "many"}}),
        ("POST", "/v1/search", {"json": {"query": "x", "unknown": 1}}),
        ("POST", "/v1/search", {"json": ["query"]}),
        ("POST", "/v1/videos", {"json": {"path": 7}}),
        ("GET", "/v1/segments/abc", {}),
        ("GET", "/v1/videos", {"params": {"collection": "../../etc"}}),
        ("GET", "/v1/nothing-here", {}),
        ("PUT", "/v1/videos", {}),
    ]
    for method, path, kw in bad:
        resp = client.request(method, path, **kw)
        body = resp.json()
        assert 400 <= resp.status_code < 500, (path, resp.status_code, body)
        assert set(body) >= {"code", "message"} and "Traceback" not in str(body)
    assert _snapshot(service) == before


@pytest.mark.parametrize("k", [0, -1, 101, 10**12, True])
def test_k_is_bounded(client, k) -> None:
    resp = client.post("/v1/search", json={"query": "alpha", "k": k})
    assert resp.status_code in (400, 422) and resp.json()["code"] in ("bad_query", "bad_request")


def test_request_size_is_bounded(client) -> None:
    resp = client.post("/v1/search", json={"query": "x" * (2 << 20)})
    assert resp.status_code == 413 and resp.json()["code"] == "too_large"
    assert client.post("/v1/search", json={"query": "x" * 5000}).json()["code"] == "bad_query"


@pytest.mark.parametrize(
    "query",
    [
        "'; DROP TABLE videos; --",
        '" OR 1=1 --',
        "alpha) OR (1=1",
        "NEAR(alpha beta)",
        "alpha*",
        "^alpha",
        "名前は何ですか",
        "émoji 🎬 ALPHA",
        "\u202e\u0000",
        "{{7*7}}",
        "<script>alert(1)</script>",
        "../../etc/passwd",
    ],
)
def test_unicode_and_injection_looking_queries(client, service, query) -> None:
    before = _snapshot(service)
    resp = client.post("/v1/search", json={"query": query, "k": 5})
    assert resp.status_code in (200, 400), resp.text
    if resp.status_code == 400:
        assert resp.json()["code"] == "bad_query"
    assert _snapshot(service) == before


def test_internal_errors_hide_the_traceback(client, service, monkeypatch) -> None:
    def boom(*_a, **_k):  # type: ignore[no-untyped-def]
        raise RuntimeError("secret internals /srv/x.py line 3")

    monkeypatch.setattr(service, "search", boom)
    resp = client.post("/v1/search", json={"query": "alpha"})
    assert resp.status_code == 500
    assert resp.json() == {"code": "internal", "message": "internal server error"}


def test_token_is_required_off_loopback(live_url) -> None:
    import httpx

    assert httpx.get(f"{live_url}/v1/health").status_code == 200  # liveness stays open
    resp = httpx.get(f"{live_url}/v1/videos")
    assert resp.status_code == 401 and resp.json()["code"] == "unauthorized"
    assert httpx.get(f"{live_url}/v1/videos", headers={"authorization": "Bearer wrong"}).status_code == 401
    ok = httpx.get(f"{live_url}/v1/videos", headers={"authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200


def test_refuses_to_bind_publicly_without_token(monkeypatch) -> None:
    from memindex.errors import ConfigError
    from memindex.server.security import is_loopback, require_token_for

    monkeypatch.delenv("MEMINDEX_TOKEN", raising=False)
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("")
    require_token_for("127.0.0.1", None)
    for host in ("0.0.0.0", "192.168.1.5", "::"):
        with pytest.raises(ConfigError, match="token"):
            require_token_for(host, None)
    with pytest.raises(ConfigError, match="16 characters"):
        require_token_for("0.0.0.0", "short")
    require_token_for("0.0.0.0", TOKEN)


def test_a_folder_with_loops_and_fifos_ingests_its_good_videos(tmp_path, media_root, light_config) -> None:
    """The guard lets a looping symlink through (it leads nowhere), the walk reports it and a fifo for
    themselves, and the folder's valid video is still ingested; a loop given as the path is refused."""
    from memindex.errors import ConfigError
    from tests.server.conftest import make_service

    root = tmp_path / "allowed"
    folder = root / "mixed"
    folder.mkdir(parents=True)
    (folder / "a_loop.mp4").symlink_to("a_loop.mp4")
    (folder / "sub").symlink_to(".")
    os.mkfifo(folder / "b_pipe.mp4")
    (folder / "c_good.mp4").write_bytes((media_root / "b.mp4").read_bytes())
    svc = make_service(tmp_path / "store", [root], light_config)
    try:
        with pytest.raises(ConfigError, match="symlink loop"):
            svc.submit_ingest("default", str(folder / "a_loop.mp4"))
        job = svc.submit_ingest("default", str(folder))
        assert job.wait(120) and job.status == "done", job.error
    finally:
        svc.close()
    failed = {os.path.basename(f["path"]): f["error"] for f in job.result["failed"]}
    assert set(failed) == {"a_loop.mp4", "b_pipe.mp4"}
    assert "symlink loop" in failed["a_loop.mp4"] and "fifo" in failed["b_pipe.mp4"]
    assert [os.path.basename(v["path"]) for v in job.result["ingested"]] == ["c_good.mp4"]
