"""Captioners against a local server speaking the chat-completions protocol: images, errors, timeouts,
retries; the registry; the per-keyframe cache."""

from __future__ import annotations

import pytest

from memindex.errors import ConfigError
from memindex.ingest.captioners import (
    CAPTIONERS,
    CaptionerConfig,
    NoneCaptioner,
    OpenAICaptioner,
    TransformersCaptioner,
    make_captioner,
)
from memindex.llm import LLMConfig, LLMError
from tests.fake_openai import FakeOpenAI

JPEG = b"\xff\xd8\xff\xe0fakejpeg\xff\xd9"


def _captioner(server: FakeOpenAI, **kw: float) -> OpenAICaptioner:
    return OpenAICaptioner(llm=LLMConfig(base_url=server.url, model="vlm-test", api_key="k", **kw))


def test_registry_lists_valid_names() -> None:
    assert {"none", "openai", "transformers"} <= set(CAPTIONERS.names())
    with pytest.raises(ConfigError, match="none.*openai.*transformers"):
        make_captioner(CaptionerConfig(name="nope"))
    assert isinstance(make_captioner(), NoneCaptioner)
    assert make_captioner().caption(JPEG, "ctx") == ""


def test_openai_captioner_sends_the_image_and_context() -> None:
    with FakeOpenAI() as server:
        server.reply("  A rabbit   stands in a meadow.\n")
        cap = _captioner(server)
        assert cap.caption(JPEG, "Said: hello") == "A rabbit stands in a meadow."
        assert cap.name == "openai:vlm-test"
    req = server.requests[0]
    assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer k"
    content = req["body"]["messages"][0]["content"]
    assert content[1]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert "Said: hello" in content[0]["text"] and req["body"]["model"] == "vlm-test"


def test_openai_captioner_retries_then_succeeds() -> None:
    with FakeOpenAI() as server:
        server.fail(503, times=2)
        server.reply("a caption")
        assert _captioner(server).caption(JPEG, "") == "a caption"
        assert len(server.requests) == 3


def test_openai_captioner_errors() -> None:
    with FakeOpenAI() as server:
        server.fail(400)
        with pytest.raises(LLMError, match="refused"):
            _captioner(server).caption(JPEG, "")  # a client error is not retried
        assert len(server.requests) == 1
        server.reply("")
        with pytest.raises(LLMError, match="empty caption"):
            _captioner(server).caption(JPEG, "")
        server.raw(b"not json")
        with pytest.raises(LLMError, match="non-JSON"):
            _captioner(server).caption(JPEG, "")
        server.fail(500, times=3)
        with pytest.raises(LLMError, match="after 3 attempts"):
            _captioner(server).caption(JPEG, "")


def test_openai_captioner_times_out() -> None:
    with FakeOpenAI() as server:
        server.stall(1.5)
        server.stall(1.5)
        with pytest.raises(LLMError, match="failed after 2 attempts"):
            _captioner(server, timeout=0.3, max_retries=1).caption(JPEG, "")


def test_openai_captioner_takes_its_endpoint_from_the_config_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The library reads no environment (the CLI fills the config from it: tests/unit/test_environment.py)."""
    monkeypatch.setenv("MEMINDEX_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("MEMINDEX_LLM_MODEL", "m")
    monkeypatch.setenv("MEMINDEX_CAPTION_MODEL", "vision-m")
    with pytest.raises(ConfigError, match="base URL"):
        make_captioner(CaptionerConfig(name="openai"))
    cfg = CaptionerConfig(name="openai", base_url="http://127.0.0.1:9/v1", model="vision-m", api_key="sk-caption")
    captioner = make_captioner(cfg)
    assert isinstance(captioner, OpenAICaptioner) and captioner.name == "openai:vision-m"
    assert captioner.llm.api_key == "sk-caption" and "sk-caption" not in repr(cfg) + repr(captioner.llm)


def test_transformers_captioner_needs_weights_on_disk(tmp_path) -> None:
    with pytest.raises(ConfigError, match="checkpoint on disk"):
        TransformersCaptioner(CaptionerConfig(name="transformers", model=str(tmp_path / "missing")))
