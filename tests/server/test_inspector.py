"""The official MCP inspector's CLI (``npx @modelcontextprotocol/inspector --cli``) lists the tools of a live
server and calls ``search``: the server as a third-party client sees it, not only the Python SDK."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from memindex.server.mcp import TOOLS
from tests.server.live import serving

INSPECTOR = "@modelcontextprotocol/inspector"
_OFFLINE = ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ETIMEDOUT", "ECONNRESET", "network request")


def _inspect(url: str, *args: str) -> dict:
    npx = shutil.which("npx")
    if npx is None:
        pytest.skip("npx is not installed (apt-get install -y nodejs npm; scripts/setup.sh does it)")
    run = subprocess.run(
        [npx, "-y", INSPECTOR, "--cli", f"{url}/mcp", *args], capture_output=True, text=True, timeout=300
    )
    if run.returncode != 0 and any(word in run.stderr for word in _OFFLINE):
        pytest.skip(f"npm cannot fetch {INSPECTOR}: {run.stderr.strip().splitlines()[-1]}")
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout)


def test_inspector_lists_and_calls_the_tools(service) -> None:
    from memindex.server.http import create_app

    with serving(create_app(service)) as url:  # the inspector's CLI sends no token: a loopback server
        listed = _inspect(url, "--method", "tools/list")
        called = _inspect(
            url, "--method", "tools/call", "--tool-name", "search", "--tool-arg", "query=alpha", "--tool-arg", "k=2"
        )
    tools = {t["name"]: t for t in listed["tools"]}
    assert set(tools) == set(TOOLS)
    assert tools["delete_video"]["annotations"]["destructiveHint"] is True
    assert tools["search"]["inputSchema"]["properties"]["k"]["maximum"] == service.config.limits.max_k
    assert tools["search"]["outputSchema"]["type"] == "object"
    assert not called.get("isError"), called
    hits = called["structuredContent"]["hits"]
    assert 1 <= len(hits) <= 2 and hits[0]["text"] == "ALPHA 1"  # k came as the text "2": taken as a number
    assert json.loads(called["content"][0]["text"]) == called["structuredContent"]
