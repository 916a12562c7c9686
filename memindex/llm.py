"""A small client for OpenAI-compatible chat completions (vLLM, Ollama, llama.cpp server, OpenAI), used by
captioners, summarisers and the agent. Optional: nothing in memindex needs an LLM to work."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from memindex.config import secret_field
from memindex.errors import ConfigError, LLMError, MissingDependencyError

__all__ = ["LLMConfig", "ChatClient", "ChatResult", "ToolCall", "LLMError", "image_part"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LLMConfig:
    """An endpoint: ``base_url`` and ``model`` are part of every config that holds one (saved with the
    index); ``api_key`` is a secret (never shown, compared or saved)."""

    base_url: str
    model: str
    api_key: str | None = secret_field()
    timeout: float = 60.0
    max_retries: int = 2
    temperature: float = 0.0

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], prefix: str = "MEMINDEX_LLM") -> LLMConfig | None:
        """``<prefix>_BASE_URL``, ``_MODEL``, ``_API_KEY`` (or ``OPENAI_API_KEY``) of ``environ``; None when
        no base URL is set. For the app floor (CLI, server), which reads the environment once: the library
        takes an ``LLMConfig`` and reads none."""
        base = environ.get(f"{prefix}_BASE_URL", "").strip()
        if not base:
            return None
        model = environ.get(f"{prefix}_MODEL", "").strip()
        if not model:
            raise ConfigError(f"{prefix}_BASE_URL is set but {prefix}_MODEL is not: set both, or neither")
        key = environ.get(f"{prefix}_API_KEY", "").strip() or environ.get("OPENAI_API_KEY", "").strip()
        return cls(base_url=base, model=model, api_key=key or None)


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass
class ChatResult:
    content: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)

    @property
    def tokens(self) -> int:
        return int(
            self.usage.get("total_tokens", 0)
            or self.usage.get("prompt_tokens", 0) + self.usage.get("completion_tokens", 0)
        )


def image_part(jpeg: bytes) -> dict[str, Any]:
    """A chat message content part carrying a JPEG inline (the ``image_url`` data-URL form)."""
    return {
        "type": "image_url",
        "image_url": {"url": "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")},
    }


class ChatClient:
    """POST /chat/completions with timeouts and retries on 429, 5xx and network errors."""

    def __init__(self, cfg: LLMConfig) -> None:
        try:
            import httpx
        except ImportError as exc:
            raise MissingDependencyError("httpx", "llm", "an OpenAI-compatible LLM endpoint") from exc
        self.cfg = cfg
        self._httpx = httpx
        headers = {"Authorization": f"Bearer {cfg.api_key}"} if cfg.api_key else {}
        self._http = httpx.Client(base_url=cfg.base_url.rstrip("/"), headers=headers, timeout=cfg.timeout)

    def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        max_tokens: int | None = None,
        **extra: Any,
    ) -> ChatResult:
        body: dict[str, Any] = {
            "model": self.cfg.model,
            "messages": messages,
            "temperature": self.cfg.temperature,
            **extra,
        }
        if tools:
            body["tools"] = tools
        if max_tokens:
            body["max_tokens"] = max_tokens
        return _parse(self._post(body))

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        last: Exception | None = None
        for attempt in range(self.cfg.max_retries + 1):
            if attempt:
                time.sleep(min(8.0, 0.5 * 2 ** (attempt - 1)))
            try:
                resp = self._http.post("/chat/completions", json=body)
            except self._httpx.HTTPError as exc:  # timeouts, refused connections
                last = exc
                log.warning("LLM request failed (attempt %d): %s", attempt + 1, exc)
                continue
            if resp.status_code == 429 or resp.status_code >= 500:
                last = LLMError(f"LLM endpoint answered {resp.status_code}: {resp.text[:200]}")
                continue
            if resp.status_code >= 400:
                raise LLMError(f"LLM endpoint refused the request ({resp.status_code}): {resp.text[:300]}")
            try:
                return cast(dict[str, Any], resp.json())
            except ValueError as exc:
                raise LLMError(f"LLM endpoint answered non-JSON: {resp.text[:200]!r}") from exc
        raise LLMError(
            f"LLM endpoint {self.cfg.base_url} failed after {self.cfg.max_retries + 1} attempts: {last}"
        ) from last

    def close(self) -> None:
        self._http.close()


def _parse(data: dict[str, Any]) -> ChatResult:
    try:
        msg = data["choices"][0]["message"]
    except (KeyError, IndexError, TypeError) as exc:
        raise LLMError(f"not a chat completion: {json.dumps(data)[:200]}") from exc
    calls = []
    for call in msg.get("tool_calls") or []:
        fn = call.get("function", {})
        try:
            args = json.loads(fn.get("arguments") or "{}")
        except json.JSONDecodeError as exc:
            raise LLMError(f"tool call {fn.get('name')!r} has malformed JSON arguments") from exc
        if not isinstance(args, dict) or not fn.get("name"):
            raise LLMError(f"malformed tool call: {json.dumps(call)[:200]}")
        calls.append(ToolCall(id=str(call.get("id", "")), name=fn["name"], arguments=args))
    return ChatResult(content=msg.get("content") or "", tool_calls=calls, usage=data.get("usage") or {})
