"""The LLM policy against the local chat-completions server: tool calls, malformed replies, timeouts."""

from __future__ import annotations

from memindex.llm import LLMConfig
from memindex.query.llm_agent import prompt
from tests.fake_openai import FakeOpenAI


def _cfg(server: FakeOpenAI, timeout: float = 5.0) -> LLMConfig:
    return LLMConfig(base_url=server.url, model="test", timeout=timeout, max_retries=0)


def test_llm_chooses_tools_then_answers(index) -> None:
    with FakeOpenAI() as server:
        server.reply_tool("search", {"query": "forty two", "tiers": ["speech"], "k": 5})
        server.reply_tool("transcript", {"video": "a" * 16, "start": 18, "end": 26}, call_id="call_2")
        server.reply_tool("answer", {"answer": "42, at 0:20", "confidence": 0.9}, call_id="call_3")
        ans = index.ask("what is the answer?", llm=_cfg(server)).to_dict()
    assert ans["answer"] == f"42, at 0:20 [{'a' * 16}.mp4 0:20-0:24]" and ans["confidence"] <= 0.9
    assert [(c["start"], c["end"]) for c in ans["citations"]] == [(20.0, 24.0)] and not ans["abstained"]
    assert [s["tool"] for s in ans["trace"]] == ["search", "transcript"]
    assert ans["cost"]["tokens"] == 45 and ans["trace"][0]["tokens"] == 15
    assert ans["evidence"][0]["start"] == 20.0
    bodies = [r["body"] for r in server.requests]
    assert bodies[0]["messages"][0]["content"].startswith(prompt("system")[:40])
    assert {t["function"]["name"] for t in bodies[0]["tools"]} >= {"search", "browse", "frames", "answer"}
    tool_msgs = [m for m in bodies[2]["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_msgs] == ["call_1", "call_2"]


def test_plain_content_without_evidence_abstains(index) -> None:
    with FakeOpenAI() as server:
        server.reply("It is at 0:20.")
        ans = index.ask("anything?", llm=_cfg(server)).to_dict()
    assert ans["cost"]["steps"] == 0 and ans["abstained"] and ans["citations"] == []
    assert ans["answer"].startswith("Not found in this store")


def test_budget_forces_an_answer(index) -> None:
    with FakeOpenAI() as server:
        server.reply_tool("search", {"query": "bridges"})
        server.reply("The bridges, at 0:30. confidence: 0.7")
        ans = index.ask("bridges?", llm=_cfg(server), max_steps=1).to_dict()
        last = server.requests[-1]["body"]
    assert ans["cost"]["steps"] == 1 and ans["answer"].startswith("The bridges")
    assert "tools" not in last and last["messages"][-1]["content"] == prompt("force")
    assert last["messages"][-2]["role"] == "tool"  # every tool call was answered before forcing
    assert ans["trace"][-1]["tool"] == "llm"


def test_malformed_reply_falls_back_to_rules(index) -> None:
    with FakeOpenAI() as server:
        server.reply_tool("search", "{not json")
        ans = index.ask("the answer is forty two", llm=_cfg(server)).to_dict()
    assert ans["trace"][0]["tool"] == "llm" and "malformed" in ans["trace"][0]["error"]
    assert ans["evidence"][0]["start"] == 20.0 and "forty two" in ans["answer"]


def test_garbage_and_errors_fall_back(index) -> None:
    with FakeOpenAI() as server:
        server.raw({"unexpected": True})
        ans = index.ask("the answer is forty two", llm=_cfg(server)).to_dict()
    assert ans["evidence"][0]["start"] == 20.0
    with FakeOpenAI() as server:
        server.fail(503)
        ans = index.ask("the answer is forty two", llm=_cfg(server)).to_dict()
    assert "503" in ans["trace"][0]["error"] and ans["evidence"]


def test_timeout_falls_back(index) -> None:
    with FakeOpenAI() as server:
        server.stall(2.0)
        ans = index.ask("the answer is forty two", llm=_cfg(server, timeout=0.3)).to_dict()
    assert ans["trace"][0]["tool"] == "llm" and ans["trace"][0]["error"]
    assert ans["evidence"][0]["start"] == 20.0


def test_unknown_tool_is_reported_to_the_model(index) -> None:
    with FakeOpenAI() as server:
        server.reply_tool("rm_rf", {"path": "/"})
        server.reply_tool("answer", {"answer": "done"}, call_id="call_2")
        ans = index.ask("x?", llm=_cfg(server)).to_dict()
        tool_msg = [m for m in server.requests[1]["body"]["messages"] if m["role"] == "tool"][0]
    assert ans["trace"][0]["error"].startswith("bad_query") and "unknown tool" in tool_msg["content"]


def test_token_budget(index) -> None:
    with FakeOpenAI() as server:
        for i in range(4):
            server.reply_tool("search", {"query": "bridges"}, call_id=f"c{i}")
        ans = index.ask("bridges?", llm=_cfg(server), max_tokens=20).to_dict()
    assert ans["cost"]["steps"] == 2 and ans["cost"]["stopped"] == "budget (tokens)"
    assert ans["answer"]  # extractive: no forced call past the token budget
