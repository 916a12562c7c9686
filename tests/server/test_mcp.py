"""The MCP server through the ``mcp`` package's own client: in process, over streamable HTTP, over stdio."""

from __future__ import annotations

import base64
import json
import sys

import anyio
import pytest

import memindex
from memindex.operations import LEVELS, OPERATIONS, TIERS, operation
from memindex.server.mcp import TOOLS, build_mcp
from tests.server.conftest import TOKEN


def _run(service, fn):  # type: ignore[no-untyped-def]
    from mcp import Client

    async def main():  # type: ignore[no-untyped-def]
        async with Client(build_mcp(service)) as client:
            return await fn(client)

    return anyio.run(main)


def _data(result) -> dict:  # type: ignore[no-untyped-def]
    """The result, checked to be sent once as compact JSON: structuredContent and the same text block."""
    assert not result.is_error, result.content
    assert result.content[0].text == json.dumps(result.structured_content, separators=(",", ":"), ensure_ascii=False), (
        "not compact, or not the same result"
    )
    return result.structured_content


def _tools(service) -> dict:  # type: ignore[no-untyped-def]
    async def fn(c):  # type: ignore[no-untyped-def]
        return await c.list_tools()

    return {t.name: t for t in _run(service, fn).tools}


def test_tools_are_the_table_with_schemas_and_hints(service) -> None:
    tools = _tools(service)
    assert set(tools) == set(TOOLS) == {op.name for op in OPERATIONS if op.mcp}
    assert {"search", "ask", "browse", "videos", "entities", "rename_entity", "delete_video"} <= set(tools)
    for name, tool in tools.items():
        op = operation(name)
        assert tool.description == op.description and tool.title == op.title
        props = tool.input_schema["properties"]
        assert set(props) == {p.name for p in op.parameters}, name
        assert all(spec.get("description") and "title" not in spec for spec in props.values()), name
        assert tool.input_schema["additionalProperties"] is False
        assert tool.output_schema and tool.output_schema["type"] == "object", name
        hints = tool.annotations
        assert (hints.read_only_hint, hints.destructive_hint, hints.idempotent_hint, hints.open_world_hint) == (
            op.read_only,
            op.destructive,
            op.idempotent,
            False,
        ), name
    search = tools["search"].input_schema["properties"]
    assert search["tiers"]["items"]["enum"] == list(TIERS) and search["levels"]["items"]["enum"] == list(LEVELS)
    assert (search["k"]["minimum"], search["k"]["maximum"]) == (1, service.config.limits.max_k)
    assert tools["search"].input_schema["required"] == ["query"]
    assert tools["browse"].input_schema["properties"]["level"]["enum"] == list(LEVELS)
    assert tools["frames"].input_schema["properties"]["n"]["maximum"] == service.config.limits.max_frames
    assert tools["delete_video"].annotations.destructive_hint is True
    assert tools["delete_video"].annotations.read_only_hint is False
    assert tools["search"].annotations.read_only_hint is True
    assert set(tools["search"].output_schema["properties"]) == {"hits"}


def test_server_name_and_version(service) -> None:
    server = build_mcp(service)
    assert (server.name, server.version) == ("memindex", memindex.__version__)


def test_search_ask_frames_delete(service, video_id) -> None:
    async def fn(c):  # type: ignore[no-untyped-def]
        return {
            "search": _data(await c.call_tool("search", {"query": "alpha", "k": 3})),
            "ask": _data(await c.call_tool("ask", {"question": "where is alpha?"})),
            "traced": _data(await c.call_tool("ask", {"question": "where is alpha?", "include_trace": True})),
            "frames": await c.call_tool("frames", {"video": video_id, "n": 2}),
            "listed": _data(await c.call_tool("videos", {})),
            "transcript": _data(await c.call_tool("transcript", {"video": video_id})),
            "deleted": _data(await c.call_tool("delete_video", {"video": video_id})),
            "after": _data(await c.call_tool("search", {"query": "alpha", "k": 3})),
        }

    got = _run(service, fn)
    hit = got["search"]["hits"][0]
    assert hit["text"] == "ALPHA 1" and hit["video_id"] == video_id
    assert hit["uri"].endswith("a.mp4") and 0 <= hit["start"] <= hit["end"]
    assert hit["keyframe"]["url"] == f"/v1/frames/{hit['keyframe']['frame_id']}.jpg?collection=default"
    assert str(service.root) not in json.dumps(got["search"]), "a server path in the hits"
    assert got["ask"]["trace"] == [] and got["traced"]["trace"]
    assert all({"video_id", "uri", "start", "end"} <= set(ev) for ev in got["ask"]["evidence"])
    frames = got["frames"]
    meta = _data(frames)["frames"]
    images = [c for c in frames.content if c.type == "image"]
    assert len(images) == len(meta) >= 1 and images[0].mime_type == "image/jpeg"
    assert base64.b64decode(images[0].data)[:3] == b"\xff\xd8\xff"
    assert {"frame_id", "video_id", "t", "url"} <= set(meta[0]) and "path" not in meta[0]
    assert got["listed"]["videos"][0]["id"] == video_id
    assert got["transcript"]["video_id"] == video_id and got["transcript"]["uri"].endswith("a.mp4")
    assert got["deleted"]["id"] == video_id and got["after"]["hits"] == []


def test_browse_is_compact(service, video_id) -> None:
    async def fn(c):  # type: ignore[no-untyped-def]
        return (
            _data(await c.call_tool("browse", {"video": video_id, "level": "video"})),
            _data(await c.call_tool("browse", {"video": video_id, "level": "shot", "depth": 0, "limit": 1})),
            _data(await c.call_tool("browse", {"video": video_id, "level": "video", "depth": 3})),
        )

    default, one, deep = _run(service, fn)
    top = default["segments"][0]
    assert default["total"] == 1 and top["n_children"] == len(top["children"]) >= 1
    assert all(child["children"] == [] and child["n_children"] >= 1 for child in top["children"])  # depth 1
    assert len(one["segments"]) == 1 and one["total"] >= 2 and one["segments"][0]["children"] == []
    assert deep["segments"][0]["children"][0]["children"], "depth 3 reaches the shots"


def test_errors_are_code_and_message(service) -> None:
    async def fn(c):  # type: ignore[no-untyped-def]
        return (
            await c.call_tool("search", {"query": "x", "k": 10**6}),
            await c.call_tool("search", {"query": "x", "tiers": ["nope"]}),
            await c.call_tool("search", {"query": "x", "surprise": 1}),
            await c.call_tool("get_segment", {"segment_id": 424242}),
            await c.call_tool("add_video", {"path": "/etc/passwd"}),
            await c.call_tool("videos", {"collection": "../etc"}),
        )

    codes = ("bad_query", "bad_query", "bad_query", "not_found", "forbidden_path", "config")
    for result, code in zip(_run(service, fn), codes, strict=True):
        assert result.is_error
        text = result.content[0].text  # the SDK prefixes "Error executing tool <name>: "
        assert json.loads(text[text.index("{") :])["code"] == code, text


def test_lenient_arguments_agents_send(service) -> None:
    """Numbers as strings and lists as JSON text (as some clients send them) are taken; booleans are not."""

    async def fn(c):  # type: ignore[no-untyped-def]
        return (
            await c.call_tool("search", {"query": "alpha", "k": "2", "tiers": '["screen"]'}),
            await c.call_tool("search", {"query": "alpha", "k": True}),
        )

    ok, bad = _run(service, fn)
    assert _data(ok)["hits"][0]["tier"] == "screen" and len(_data(ok)["hits"]) <= 2
    assert bad.is_error and "bad_query" in bad.content[0].text


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

    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "memindex.cli", "serve", "--store", str(service.root), "--mcp-stdio"],
        env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )

    async def main():  # type: ignore[no-untyped-def]
        async with Client(params) as client:
            return (await client.list_tools(), await client.call_tool("search", {"query": "alpha", "k": 1}))

    tools, result = anyio.run(main)
    assert {t.name for t in tools.tools} == set(TOOLS)
    assert _data(result)["hits"][0]["text"] == "ALPHA 1"
