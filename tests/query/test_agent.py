"""The deterministic agent: one loop for ask and stream, the budget, temporal questions, the answer shape."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from memindex.errors import QueryError
from memindex.query.agent import Agent
from memindex.query.tools import EVIDENCE_KEYS
from tests.query.conftest import VID


def test_answer_shape_and_entry_point(index) -> None:
    ans = index.ask("the answer is forty two").to_dict()
    assert set(ans) == {"answer", "confidence", "abstained", "citations", "support", "evidence", "trace", "cost"}
    assert ans["evidence"] and set(ans["evidence"][0]) == set(EVIDENCE_KEYS)
    top = ans["evidence"][0]
    assert (top["start"], top["end"], top["video_id"]) == (20.0, 24.0, VID)
    assert "forty two" in ans["answer"] and "0:20" in ans["answer"]
    step = ans["trace"][0]
    assert {"tool", "arguments", "count", "seconds", "tokens"} <= set(step) and step["tool"] == "search"
    assert ans["cost"]["steps"] == len([s for s in ans["trace"] if s["tool"] != "llm"])
    assert 0 <= ans["confidence"] <= 1


def test_stream_yields_the_same_loop(index) -> None:
    events = list(index.ask_stream("euler proved the bridges problem"))
    assert events[0]["type"] == "plan" and events[-1]["type"] == "answer"
    steps = [e for e in events if e["type"] == "step"]
    assert steps == events[-1]["trace"]
    blocking = index.ask("euler proved the bridges problem").to_dict()
    assert [e["start"] for e in blocking["evidence"]] == [e["start"] for e in events[-1]["evidence"]]


@pytest.mark.parametrize("steps", [1, 2])
def test_budget_of_steps_is_respected(index, steps) -> None:
    for q in (
        "what is said right after the answer is forty two",
        "how many times are bridges mentioned",
        "something nobody said at all",
        "what is said between 0:00 and 1:40",
    ):
        ans = index.ask(q, max_steps=steps).to_dict()
        assert ans["cost"]["steps"] <= steps, q
        assert ans["answer"]


def test_bad_budget_and_question(index) -> None:
    with pytest.raises(QueryError):
        index.ask("x", max_steps=0)
    with pytest.raises(QueryError):
        index.ask("   ")


def test_wall_time_budget_stops_early(index) -> None:
    ans = index.ask("bridges of konigsberg", max_steps=4, max_seconds=0.0).to_dict()
    assert ans["cost"]["steps"] == 0 and ans["cost"]["stopped"] == "budget (seconds)"


def test_after_and_before_use_catalog_times(index) -> None:
    after = index.ask("What is said right after 'the answer is forty two exactly'?").to_dict()
    assert after["evidence"][0]["start"] == pytest.approx(30.0)
    assert "konigsberg" in after["answer"]
    before = index.ask("What is said just before 'euler proved the bridges problem'?").to_dict()
    assert before["evidence"][0]["start"] == pytest.approx(30.0, abs=0.1)


def test_first_last_count_range(index) -> None:
    first = index.ask("When are the bridges mentioned for the first time?").to_dict()
    assert first["evidence"][0]["start"] == 30.0
    last = index.ask("When are the bridges mentioned the last time?").to_dict()
    assert last["evidence"][0]["start"] == 60.0
    count = index.ask("How many times are the bridges mentioned?").to_dict()
    assert count["answer"].startswith("3 times")
    rng = index.ask("What is said between 0:35 and 0:50?").to_dict()
    assert rng["evidence"][0]["start"] == 40.0 and "euler" in rng["answer"]
    ranged = index.ask("bridges between 0:50 and 1:10").to_dict()
    assert ranged["evidence"][0]["start"] == 60.0


def test_span_between_two_moments(index) -> None:
    ans = index.ask("How much time passes between 'welcome to the lecture' and 'thank you all for coming'?")
    d = ans.to_dict()
    assert "70 seconds" in d["answer"]
    assert {d["evidence"][0]["start"], d["evidence"][1]["start"]} == {10.0, 80.0}


def test_screen_question_uses_screen_tier(index) -> None:
    ans = index.ask("When is KONIGSBERG 1736 shown on screen?").to_dict()
    assert ans["evidence"][0]["tier"] == "screen" and ans["evidence"][0]["start"] == 31.0


def test_empty_store_degrades(empty_index) -> None:
    ans = empty_index.ask("anything at all").to_dict()
    assert ans["evidence"] == [] and ans["confidence"] == 0 and ans["abstained"] and ans["citations"] == []
    assert ans["answer"].startswith("Not found in this store") and "no evidence" in ans["answer"]


def test_videos_filter(index) -> None:
    agent = Agent(index)
    ans = agent.ask("bridges", videos=[VID[:6]]).to_dict()
    assert {e["video_id"] for e in ans["evidence"]} == {VID}


def test_query_package_does_not_import_ingest() -> None:
    code = "import memindex.query.eval, memindex.query.llm_agent, sys; print('memindex.ingest' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_cli_ask_json(index, capsys) -> None:
    from memindex.cli import main

    root = str(index.store.root)
    assert main(["ask", "forty two", "--store", root, "--json", "--max-steps", "1"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["cost"]["steps"] == 1 and data["evidence"][0]["start"] == 20.0
