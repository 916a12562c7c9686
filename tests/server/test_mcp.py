"""The MCP server through the ``mcp`` package's own client: in process, over streamable HTTP, over stdio."""

from __future__ import annotations

import base64
import json
import sys

import anyio
import pytest

from memindex.server.mcp import TOOLS, build_mcp
from tests.server.conftest import TOKEN


def _run(service, fn):  # type: ignore[no-untyped-def]
    from mcp import Client

    async def main():  # type: ignore[no-untyped-def]
        async with Client(build_mcp(service)) as client:
            return await fn(client)

    return anyio.run(main)


def _data(result) -> dict:  # type: ignore[no-untyped-def]
    assert not result.is_error, result.content
    return result.structured_content or json.loads(result.content[0].text)


def test_lists_every_tool(service) -> None:
    async def fn(c):  # type: ignore[no-untyped-def]
        return await c.list_tools()

    names = {t.name for t in _run(service, fn).tools}
    assert names == set(TOOLS)


def test_search_ask_frames_delete(service, video_id) -> None:
    async def fn(c):  # type: ignore[no-untyped-def]
        search = _data(await c.call_tool("search", {"query": "alpha", "k": 3}))
        ask = _data(await c.call_tool("ask", {"question": "where is alpha?"}))
        frames = await c.call_tool("frames", {"video": video_id, "n": 2})
        listed = _data(await c.call_tool("list_videos", {}))
        transcript = _data(await c.call_tool("transcript", {"video": video_id}))
        deleted = _data(await c.call_tool("delete_video", {"video": video_id}))
        after = _data(await c.call_tool("search", {"query": "alpha", "k": 3}))
        return search, ask, frames, listed, transcript, deleted, after

    search, ask, frames, listed, transcript, deleted, after = _run(service, fn)
    hit = search["hits"][0]
    assert hit["text"] == "ALPHA 1" and hit["video_id"] == video_id
    assert hit["uri"].endswith("a.mp4") and 0 <= hit["start"] <= hit["end"]
    assert set(ask) >= {"answer", "evidence", "trace"}
    assert all({"video_id", "uri", "start", "end"} <= set(ev) for ev in ask["evidence"])
    assert not frames.is_error
    meta = json.loads(frames.content[0].text)["frames"]
    images = [c for c in frames.content if c.type == "image"]
    assert len(images) == len(meta) >= 1 and images[0].mime_type == "image/jpeg"
    assert base64.b64decode(images[0].data)[:3] == b"\xff\xd8\xff"
    assert {"video_id", "uri", "start", "end"} <= set(meta[0])
    assert listed["videos"][0]["id"] == video_id
    assert transcript["video_id"] == video_id and transcript["uri"].endswith("a.mp4")
    assert deleted["status"] == "done" and after["hits"] == []


def test_errors_are_code_and_message(service) -> None:
    async def fn(c):  # type: ignore[no-untyped-def]
        return (await c.call_tool("search", {"query": "x", "k": 10**6}),
                await c.call_tool("get_segment", {"segment_id": 424242}),
                await c.call_tool("add_video", {"path": "/etc/passwd"}),
                await c.call_tool("list_videos", {"collection": "../etc"}))

    for result, code in zip(_run(service, fn), ("bad_query", "not_found", "forbidden_path", "config"),
                            strict=True):
        assert result.is_error
        text = result.content[0].text  # the SDK prefixes "Error executing tool <name>: "
        assert json.loads(text[text.index("{"):])["code"] == code


def test_add_video_and_status(service, media_root) -> None:
    async def fn(c):  # type: ignore[no-untyped-def]
        job = _data(await c.call_tool("add_video", {"path": str(media_root / "b.mp4")}))
        await anyio.to_thread.run_sync(lambda: service.job(job["id"]).wait(60))
        return _data(await c.call_tool("ingest_status", {"job_id": job["id"]}))

    status = _run(service, fn)
    assert status["status"] == "done" and status["result"]["ingested"]


def test_over_streamable_http_with_token(live_url) -> None:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async def main(token: str | None):  # type: ignore[no-untyped-def]
        headers = {"authorization": f"Bearer {token}"} if token else {}
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
            async with Client(streamable_http_client(f"{live_url}/mcp", http_client=http)) as client:
                tools = await client.list_tools()
                result = await client.call_tool("search", {"query": "alpha", "k": 2})
                return {t.name for t in tools.tools}, result

    names, result = anyio.run(main, TOKEN)
    assert names == set(TOOLS) and _data(result)["hits"][0]["text"] == "ALPHA 1"
    with pytest.raises(BaseException):  # noqa: B017  (no token: the transport is refused with 401)
        anyio.run(main, None)


def test_stdio(service) -> None:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    params = StdioServerParameters(command=sys.executable, args=[
        "-m", "memindex.cli", "serve", "--store", str(service.root), "--mcp-stdio"],
        env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": "/usr/bin:/bin"})

    async def main():  # type: ignore[no-untyped-def]
        async with Client(params) as client:
            return (await client.list_tools(), await client.call_tool("search", {"query": "alpha", "k": 1}))

    tools, result = anyio.run(main)
    assert {t.name for t in tools.tools} == set(TOOLS)
    assert _data(result)["hits"][0]["text"] == "ALPHA 1"
