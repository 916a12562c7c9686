"""The OpenAI-compatible client against a local server speaking the real protocol."""

from __future__ import annotations

import pytest

from memindex.llm import ChatClient, LLMConfig, LLMError, image_part
from tests.fake_openai import FakeOpenAI


def _client(server: FakeOpenAI, **kw) -> ChatClient:  # type: ignore[no-untyped-def]
    return ChatClient(LLMConfig(base_url=server.url, model="m", api_key="sk-test", **kw))


def test_plain_reply_and_usage() -> None:
    with FakeOpenAI() as server:
        server.reply("hello there", usage=(7, 3))
        out = _client(server).chat(
            [{"role": "user", "content": [{"type": "text", "text": "hi"}, image_part(b"\xff\xd8jpeg")]}]
        )
        assert out.content == "hello there" and out.tokens == 10
        req = server.requests[0]
        assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer sk-test"
        assert req["body"]["messages"][0]["content"][1]["image_url"]["url"].startswith("data:image/jpeg;base64,")


def test_tool_calls_are_parsed() -> None:
    with FakeOpenAI() as server:
        server.reply_tool("search", {"query": "cats", "k": 3})
        out = _client(server).chat([{"role": "user", "content": "x"}], tools=[{"type": "function"}])
        assert out.tool_calls[0].name == "search" and out.tool_calls[0].arguments == {"query": "cats", "k": 3}


def test_retries_server_errors_then_succeeds() -> None:
    with FakeOpenAI() as server:
        server.fail(503, times=2)
        server.reply("ok")
        assert _client(server, max_retries=2).chat([{"role": "user", "content": "x"}]).content == "ok"
        assert len(server.requests) == 3


def test_gives_up_after_retries() -> None:
    with FakeOpenAI() as server:
        server.fail(500, times=5)
        with pytest.raises(LLMError, match="failed after 2 attempts"):
            _client(server, max_retries=1).chat([{"role": "user", "content": "x"}])


def test_client_error_is_not_retried() -> None:
    with FakeOpenAI() as server:
        server.fail(401)
        with pytest.raises(LLMError, match="401"):
            _client(server).chat([{"role": "user", "content": "x"}])
        assert len(server.requests) == 1


def test_timeout() -> None:
    with FakeOpenAI() as server:
        server.stall(1.5)
        server.stall(1.5)
        with pytest.raises(LLMError, match="failed after"):
            _client(server, timeout=0.3, max_retries=1).chat([{"role": "user", "content": "x"}])


@pytest.mark.parametrize("payload", [b"not json", {"choices": []}, {"nothing": 1}])
def test_malformed_replies(payload) -> None:  # type: ignore[no-untyped-def]
    with FakeOpenAI() as server:
        server.raw(payload)
        with pytest.raises(LLMError):
            _client(server).chat([{"role": "user", "content": "x"}])


def test_malformed_tool_arguments() -> None:
    with FakeOpenAI() as server:
        server.reply_tool("search", "{not json")
        with pytest.raises(LLMError, match="malformed JSON"):
            _client(server).chat([{"role": "user", "content": "x"}])
