"""The LLM policy: an OpenAI-compatible chat model chooses the tools and judges sufficiency (it calls
``answer`` when the evidence is enough). The loop, budget and evidence stay in ``memindex.query.agent``; when the
endpoint fails, times out or replies with something malformed, the deterministic policy takes over."""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Iterator
from importlib import resources
from typing import TYPE_CHECKING, Any

from memindex.llm import ChatClient, ChatResult, LLMConfig, LLMError, ToolCall
from memindex.query.agent import Action, Step
from memindex.query.tools import TOOL_SCHEMAS

if TYPE_CHECKING:
    from memindex.query.agent import State

__all__ = ["LLMPolicy", "prompt", "ANSWER_SCHEMA"]

log = logging.getLogger(__name__)

ANSWER_SCHEMA = {
    "type": "function",
    "function": {
        "name": "answer",
        "description": "Give the final answer once the evidence is sufficient.",
        "parameters": {
            "type": "object",
            "required": ["answer"],
            "properties": {"answer": {"type": "string"}, "confidence": {"type": "number", "minimum": 0, "maximum": 1}},
        },
    },
}


def prompt(name: str) -> str:
    """A prompt file shipped in ``query/prompts``."""
    return resources.files("memindex.query").joinpath("prompts", f"{name}.txt").read_text(encoding="utf-8")


def make_client(llm: Any) -> Any:
    """An ``LLMConfig``, or any object with ``chat(messages, tools=...)``."""
    if isinstance(llm, LLMConfig):
        return ChatClient(llm)
    if hasattr(llm, "chat"):
        return llm
    raise LLMError(f"llm must be an LLMConfig or a chat client, not {type(llm).__name__}")


class LLMPolicy:
    def __init__(self, state: State, llm: Any, fallback: Any) -> None:
        self._fallback_cls, self.fallback = fallback, None
        self.final: str | None = None
        self.confidence: float | None = None
        self.calls = 0
        self._queue: deque[ToolCall] = deque()
        self._open: ToolCall | None = None
        try:
            self.client = make_client(llm)
        except LLMError as exc:
            log.warning("no LLM (%s); the deterministic planner answers", exc)
            self.fallback = fallback(state)
        p = state.plan
        self.messages: list[dict[str, Any]] = [
            {"role": "system", "content": prompt("system").format(max_steps=state.budget.max_steps)},
            {
                "role": "user",
                "content": prompt("user").format(
                    question=p.question,
                    videos=", ".join(state.catalog.videos) or "none",
                    tiers=", ".join(t for t in state.catalog.tiers if state.catalog.has(t)) or "none",
                    plan=json.dumps(p.to_dict()),
                ),
            },
        ]

    def next(self, state: State) -> Action | None:
        if self.fallback is not None:
            return self.fallback.next(state)
        if self.final is not None:
            return None
        self._reply_open(state)
        if not self._queue:
            result = self._chat(state, tools=[*TOOL_SCHEMAS, ANSWER_SCHEMA])
            if result is None:
                return self.fallback.next(state) if self.fallback is not None else None
            if not self._take(result):
                return None
        call = self._queue.popleft()
        self._open = call
        return Action(call.name, call.arguments, tokens=getattr(self, "_pending_tokens", 0))

    def _take(self, result: ChatResult) -> bool:
        """Queue the tool calls of a reply; False when the reply is the answer."""
        self._pending_tokens = result.tokens
        if not result.tool_calls:
            self.final = result.content.strip() or None
            return False
        self.messages.append(
            {
                "role": "assistant",
                "content": result.content or None,
                "tool_calls": [
                    {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
                    for c in result.tool_calls
                ],
            }
        )
        for call in result.tool_calls:
            if call.name == "answer":
                self.final = str(call.arguments.get("answer", "")).strip() or None
                conf = call.arguments.get("confidence")
                self.confidence = float(conf) if isinstance(conf, (int, float)) else None
                self._queue.clear()
                return False
            self._queue.append(call)
        return True

    def _reply_open(self, state: State, note: str | None = None) -> None:
        for call in [*([self._open] if self._open else []), *(self._queue if note else [])]:
            body = (
                {"error": note}
                if note
                else (state.last.for_llm(terms=state.plan.terms) if state.last else {"count": 0})
            )
            self.messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(body)})
        self._open = None
        if note:
            self._queue.clear()

    def _chat(self, state: State, tools: list[dict] | None) -> ChatResult | None:
        t0 = time.perf_counter()
        self.calls += 1
        try:
            result = self.client.chat(self.messages, tools=tools)
        except LLMError as exc:
            log.warning("LLM failed (%s); the deterministic planner takes over", exc)
            state.trace.append(
                Step(
                    index=len(state.trace) + 1,
                    tool="llm",
                    arguments={},
                    count=0,
                    seconds=time.perf_counter() - t0,
                    error=str(exc),
                )
            )
            self.fallback = self._fallback_cls(state)
            return None
        state.tokens += result.tokens
        if tools is None:
            state.trace.append(
                Step(
                    index=len(state.trace) + 1,
                    tool="llm",
                    arguments={"final": True},
                    count=1,
                    seconds=time.perf_counter() - t0,
                    tokens=result.tokens,
                )
            )
        return result

    def finish(self, state: State) -> Iterator[Step]:
        """Budget spent without an answer: one last call without tools forces one."""
        if self.fallback is not None or self.final is not None:
            return
        self._reply_open(state, note="not run: the budget is spent")
        b = state.budget
        if b.max_tokens is not None and state.tokens >= b.max_tokens:
            return
        self.messages.append({"role": "user", "content": prompt("force")})
        result = self._chat(state, tools=None)
        if result is not None:
            self.final = result.content.strip() or None
            yield state.trace[-1]

    def answer_text(self, state: State) -> str | None:
        """The model's final text; the agent scrubs it, cites it and abstains under the same rules as the
        deterministic answer (``memindex.query.compose.from_model``, ``memindex.query.abstain``)."""
        if self.fallback is not None:
            return self.fallback.answer_text(state)
        return self.final
