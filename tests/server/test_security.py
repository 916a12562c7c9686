"""The server's perimeter: Host/Origin on every route (DNS rebinding), streamed body limits, token files."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import anyio
import pytest

from memindex.errors import ConfigError
from memindex.server.http import create_app
from memindex.server.security import load_token
from tests.server.conftest import TOKEN
from tests.server.live import serving

PORT = 8765
MCP_INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
MCP_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def _client(service, **kw):  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    return TestClient(create_app(service, port=PORT, **kw), base_url=f"http://127.0.0.1:{PORT}")


def _requests(video_id: str) -> list[tuple[str, str, dict]]:
    """One of each kind of route: reads, a delete, MCP, the spec, a route that does not exist (yet)."""
    return [
        ("DELETE", f"/v1/videos/{video_id}", {}),
        ("GET", "/v1/videos", {}),
        ("GET", "/v1/health", {}),
        ("GET", "/openapi.json", {}),
        ("GET", "/ui", {}),
        ("POST", "/v1/search", {"json": {"query": "alpha"}}),
        ("POST", "/mcp", {"json": MCP_INIT, "headers": MCP_HEADERS}),
    ]


def test_foreign_host_is_refused_on_every_route(service, video_id) -> None:
    with _client(service) as c:
        for method, path, kw in _requests(video_id):
            for host in ("evil.example", f"evil.example:{PORT}", "127.0.0.1:9999", "localhost", "127.0.0.1.nip.io"):
                headers = {**kw.get("headers", {}), "host": host}
                resp = c.request(method, path, **{**kw, "headers": headers})
                assert resp.status_code == 421, (method, path, host, resp.status_code)
                assert resp.json()["code"] == "bad_host" and host in resp.json()["message"]
        assert [v["id"] for v in c.get("/v1/videos").json()["videos"]] == [video_id]  # the DELETE did nothing
        for host in (f"127.0.0.1:{PORT}", f"localhost:{PORT}", f"LOCALHOST:{PORT}", f"[::1]:{PORT}"):
            assert c.get("/v1/videos", headers={"host": host}).status_code == 200, host


def test_foreign_origin_is_refused_on_every_route(service, video_id) -> None:
    with _client(service) as c:
        for method, path, kw in _requests(video_id):
            for origin in ("http://evil.example", f"http://evil.example:{PORT}", "null", "http://127.0.0.1:9999"):
                headers = {**kw.get("headers", {}), "origin": origin}
                resp = c.request(method, path, **{**kw, "headers": headers})
                assert resp.status_code == 403, (method, path, origin, resp.status_code)
                assert resp.json()["code"] == "bad_origin"
        assert len(c.get("/v1/videos").json()["videos"]) == 1
        for origin in (f"http://127.0.0.1:{PORT}", f"http://localhost:{PORT}/", f"https://[::1]:{PORT}"):
            assert c.get("/v1/videos", headers={"origin": origin}).status_code == 200, origin


def test_configured_hosts_and_origins(service) -> None:
    with _client(service, allowed_hosts=["mem.lan:8765", "Mem.Example"], allowed_origins=["https://app.example/"]) as c:
        for host in ("mem.lan:8765", "mem.example", f"127.0.0.1:{PORT}"):
            assert c.get("/v1/videos", headers={"host": host}).status_code == 200, host
        assert c.get("/v1/videos", headers={"host": "mem.lan:9000"}).status_code == 421
        for origin in ("https://app.example", "http://mem.lan:8765"):
            assert c.get("/v1/videos", headers={"origin": origin}).status_code == 200, origin
        assert c.get("/v1/videos", headers={"origin": "https://other.example"}).status_code == 403


def test_public_bind_checks_hosts_only_when_configured(service) -> None:
    from fastapi.testclient import TestClient

    auth = {"authorization": f"Bearer {TOKEN}", "host": "mem.example.org"}
    with TestClient(create_app(service, token=TOKEN, host="0.0.0.0", port=PORT)) as c:
        assert c.get("/v1/videos", headers=auth).status_code == 200
    with TestClient(create_app(service, token=TOKEN, host="0.0.0.0", port=PORT, allowed_hosts=["mem.lan"])) as c:
        assert c.get("/v1/videos", headers=auth).status_code == 421
        assert c.get("/v1/videos", headers={**auth, "host": "mem.lan"}).status_code == 200


def test_live_loopback_server_without_token(service, video_id) -> None:
    """The reported attack: a browser page on evil.example, rebound to 127.0.0.1, deleting a video."""
    import httpx

    with serving(create_app(service)) as url, httpx.Client(base_url=url) as http:
        resp = http.delete(f"/v1/videos/{video_id}", headers={"host": "evil.example"})
        assert resp.status_code == 421 and resp.json()["code"] == "bad_host"
        resp = http.post("/mcp", json=MCP_INIT, headers={**MCP_HEADERS, "host": "evil.example"})
        assert resp.status_code == 421
        assert http.delete(f"/v1/videos/{video_id}", headers={"origin": "http://evil.example"}).status_code == 403
        assert [v["id"] for v in http.get("/v1/videos").json()["videos"]] == [video_id]
        assert http.post("/mcp", json=MCP_INIT, headers=MCP_HEADERS).status_code == 200  # real Host: answered


def _chunks(total: int, size: int = 64 << 10):  # type: ignore[no-untyped-def]
    body = json.dumps({"query": "x" * total}).encode()
    for i in range(0, len(body), size):
        yield body[i : i + size]


def test_chunked_body_over_the_limit_is_413(service) -> None:
    import httpx

    with serving(create_app(service, mcp=False)) as url, httpx.Client(base_url=url) as http:
        resp = http.post("/v1/search", content=_chunks(2 << 20), headers={"content-type": "application/json"})
        assert resp.status_code == 413 and resp.json()["code"] == "too_large"
        small = http.post("/v1/search", content=_chunks(5), headers={"content-type": "application/json"})
        assert small.status_code == 200 and "hits" in small.json()
        declared = http.post("/v1/search", json={"query": "x" * (2 << 20)})
        assert declared.status_code == 413 and declared.json()["code"] == "too_large"


@pytest.mark.parametrize("case", ["missing", "directory", "empty", "not_utf8", "unreadable"])
def test_token_file_problems_are_config_errors(tmp_path, case) -> None:
    path = tmp_path / "token"
    if case == "directory":
        path.mkdir()
    elif case == "empty":
        path.write_text("  \n")
    elif case == "not_utf8":
        path.write_bytes(b"\xff\xfe\x00secret")
    elif case == "unreadable":
        if os.geteuid() == 0:
            pytest.skip("root reads files whatever their mode")
        path.write_text(TOKEN)
        path.chmod(0)
    words = {
        "missing": "does not exist",
        "directory": "directory",
        "empty": "empty",
        "not_utf8": "UTF-8",
        "unreadable": "not readable",
    }
    with pytest.raises(ConfigError, match=words[case]) as info:
        load_token(token_file=path)
    assert info.value.path == str(path) and str(path) in str(info.value)


def test_token_file_is_read(tmp_path) -> None:
    (tmp_path / "token").write_text(f"  {TOKEN}\n")
    assert load_token(token_file=tmp_path / "token") == TOKEN


def test_serve_with_a_missing_token_file_is_a_clear_error(tmp_path) -> None:
    missing = tmp_path / "no-such-token"
    run = subprocess.run(
        [sys.executable, "-m", "memindex.cli", "serve", "--store", str(tmp_path / "s"), "--token-file", str(missing)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
    )
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr and "error [config]" in run.stderr
    assert str(missing) in run.stderr and "does not exist" in run.stderr


def _mcp_call(service, name: str, args: dict):  # type: ignore[no-untyped-def]
    from mcp import Client

    from memindex.server.mcp import build_mcp

    async def main():  # type: ignore[no-untyped-def]
        async with Client(build_mcp(service)) as client:
            return await client.call_tool(name, args)

    result = anyio.run(main)
    assert result.is_error
    text = result.content[0].text
    return json.loads(text[text.index("{") :])


def test_mcp_tools_hide_internal_errors(service, monkeypatch, caplog) -> None:
    def boom(*_a, **_k):  # type: ignore[no-untyped-def]
        raise RuntimeError("secret internals /srv/x.py line 3")

    monkeypatch.setattr(service, "search", boom)
    assert _mcp_call(service, "search", {"query": "alpha"}) == {"code": "internal", "message": "internal server error"}
    assert "secret internals" in caplog.text  # logged server-side, with its traceback
    assert _mcp_call(service, "browse", {"video": "x", "collection": "../etc"})["code"] == "config"


def test_mcp_tools_refuse_huge_ids_and_bad_times(service, video_id) -> None:
    from mcp.server.mcpserver.exceptions import ToolError

    from memindex.server.mcp import build_mcp

    assert _mcp_call(service, "get_segment", {"segment_id": 1 << 63})["code"] == "not_found"
    assert _mcp_call(service, "get_segment", {"segment_id": -1})["code"] == "not_found"
    assert _mcp_call(service, "frames", {"video": video_id, "n": 0})["code"] == "bad_query"
    server = build_mcp(service)  # a JSON client turns inf into null; Python's json reads 1e400 as inf
    for name, args in [
        ("transcript", {"start": float("nan")}),
        ("screen_text", {"end": float("inf")}),
        ("browse", {"start": float("-inf")}),
        ("frames", {"end": float("nan")}),
        ("search", {"query": "alpha", "start": float("inf")}),
    ]:
        with pytest.raises(ToolError, match="bad_query"):
            anyio.run(server.call_tool, name, {"video": video_id, **args} if name != "search" else args)
