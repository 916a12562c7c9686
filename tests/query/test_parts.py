"""Planner, temporal parser, sufficiency, tools and the evaluation metrics on their own."""

from __future__ import annotations

import json

import pytest

from memindex.query.eval import answer_ok, evaluate, interval_hit, load, render
from memindex.query.plan import Catalog, make_plan
from memindex.query.sufficiency import judge
from memindex.query.temporal import parse_temporal, parse_time, quoted
from memindex.query.tools import TOOL_SCHEMAS, Evidence, Toolbox


def test_parse_time() -> None:
    assert parse_time("2:05") == 125 and parse_time("1:02:03") == 3723
    assert parse_time("90 s") == 90 and parse_time("2 min") == 120


@pytest.mark.parametrize(
    ("q", "relation", "anchor"),
    [
        ("What happens after the bridges are mentioned?", "after", "the bridges are mentioned"),
        ("What is said just before the end?", "before", "the end"),
        ("When is the first time Euler appears?", "first", "When is Euler appears"),
        ("How many times does she say hello?", "count", "does she say hello"),
        ("How long between 'a b c' and 'd e f'?", "span", "'a b c'"),
    ],
)
def test_parse_temporal(q, relation, anchor) -> None:
    t = parse_temporal(q)
    assert t is not None and t.relation == relation and t.anchor == anchor


def test_parse_range() -> None:
    t = parse_temporal("What is on screen between 2:00 and 5:00?")
    assert t is not None and t.relation == "range" and t.range == (120, 300)
    assert parse_temporal("what is said after 1:30").range == (90, float("inf"))
    assert parse_temporal("who is the director") is None
    assert quoted("after 'beauty's rose' and \"x y z\"") == ["beauty's rose", "x y z"]


def test_plan_uses_tiers_with_data() -> None:
    cat = Catalog(
        tiers={
            "speech": {"rows": 3, "embedded": 3},
            "screen": {"rows": 1, "embedded": 1},
            "visual": {"rows": 5, "embedded": 0},
            "episodic.chapter": {"rows": 2, "embedded": 2},
        }
    )
    p = make_plan("What does the speaker say about graphs?", cat)
    assert p.tiers == ("speech",) and p.coarse == ("chapter",) and "graphs" in p.terms and "say" not in p.terms
    p = make_plan("When is the title shown on screen?", cat)
    assert p.tiers == ("screen",)
    assert make_plan("graphs", cat).tiers == ("speech", "screen")  # visual is pending: not searched


def _ev(start, end, score, text="x", tier="speech", source="search") -> Evidence:
    return Evidence("v", "/v.mp4", start, end, "utterance", tier, "speech", score, text, source=source)


def test_sufficiency_signals() -> None:
    strong = judge(["bridges"], [_ev(1, 4, 0.9, "the bridges"), _ev(50, 54, 0.2)])
    assert strong.sufficient and strong.signals["margin"] == 1.0
    close = judge(["bridges"], [_ev(1, 4, 0.5, "the bridges"), _ev(50, 54, 0.49, "bridges")])
    assert not close.sufficient and any("rival" in r for r in close.reasons)
    missing = judge(["bridges", "euler"], [_ev(1, 4, 0.9, "the bridges")])
    assert not missing.sufficient and missing.signals["coverage"] == 0.5
    long = judge(["bridges"], [_ev(0, 900, 0.9, "bridges")])
    assert not long.sufficient
    agree = judge(["bridges"], [_ev(1, 4, 0.9, "bridges"), _ev(2, 5, 0.3, "bridges", tier="screen")])
    assert agree.signals["agreement"] == 0.5
    assert judge(["x"], []).confidence == 0


def test_tool_schemas_are_valid() -> None:
    names = [s["function"]["name"] for s in TOOL_SCHEMAS]
    assert names == ["search", "browse", "transcript", "screen_text", "frames", "entity"]
    for s in TOOL_SCHEMAS:
        params = s["function"]["parameters"]
        assert params["type"] == "object" and set(params["required"]) <= set(params["properties"])
        json.dumps(s)


def test_tools_return_evidence(index) -> None:
    tools = Toolbox(index)
    res = tools.call("transcript", {"video": "a" * 6, "start": 15, "end": 35})
    assert [e.start for e in res.items] == [20.0, 30.0] and res.items[0].uri.endswith(".mp4")
    assert [e.text for e in tools.call("screen_text", {"video": "a" * 16}).items][0] == "GRAPH THEORY 101"
    assert tools.call("browse", {"video": "a" * 16, "level": "chapter"}).items == []
    assert tools.call("frames", {"video": "a" * 16, "n": 2}).items == []
    ent = tools.call("entity", {"name_or_id": "Euler"})
    assert ent.items == [] and ent.note == "no entity named 'Euler'"
    from memindex.errors import QueryError

    with pytest.raises(QueryError, match="unknown tool"):
        tools.call("delete_everything", {})
    with pytest.raises(QueryError, match="bad arguments"):
        tools.call("search", {"nope": 1})


def test_entity_uses_facade_when_present(index) -> None:
    index.entity = lambda name: {
        "id": 1,
        "name": name,
        "mentions": [{"video_id": "a" * 16, "start": 40.0, "end": 44.0, "text": "euler proved"}],
    }
    res = Toolbox(index).entity("Euler")
    assert [(e.start, e.tier) for e in res.items] == [(40.0, "semantic")]


def test_eval_metrics(index, tmp_path) -> None:
    ev = [{"video_id": "v", "start": 10, "end": 12}, {"video_id": "v", "start": 50, "end": 52}]
    assert interval_hit(ev, {"start": 11, "end": 20}, "v", 1)
    assert not interval_hit(ev, {"start": 49, "end": 60}, "v", 1)
    assert interval_hit(ev, {"start": 0, "end": 11, "also": [[51, 53]]}, "v", 1)
    assert answer_ok("2", "2 times") and answer_ok("182", "about 183 seconds", 5) and not answer_ok("x", "y")
    data = tmp_path / "q.jsonl"
    data.write_text(
        json.dumps(
            {
                "question": "How many times are the bridges mentioned?",
                "video": "a" * 16,
                "start": 30,
                "end": 64,
                "answer": "3",
                "type": "temporal",
            }
        )
        + "\n"
        + json.dumps({"question": "q", "video": "zzz", "start": 0, "end": 1})
        + "\n"
    )
    report = evaluate(index, load(data))
    assert report["summary"]["temporal"]["agent"]["answer_acc"] == 1.0
    assert len(report["skipped"]) == 1 and "| temporal | 1 | agent |" in render(report)


def test_retrieval_sets_are_well_formed() -> None:
    """benchmarks/eval/retrieval.jsonl and retrieval_none.jsonl: typed, split, and big enough to report on."""
    from collections import Counter
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "benchmarks" / "eval"
    items = load(folder / "retrieval.jsonl")
    assert all(i["split"] in ("tune", "test") and i["start"] < i["end"] for i in items)
    kinds = Counter((i["type"], i["split"]) for i in items)
    assert set(kinds) == {(t, s) for t in ("paraphrase", "near_dup", "exact") for s in ("tune", "test")}
    assert kinds["paraphrase", "tune"] + kinds["paraphrase", "test"] >= 40
    none = [json.loads(x) for x in (folder / "retrieval_none.jsonl").read_text().splitlines() if x.strip()]
    assert len(none) >= 15 and {i["split"] for i in none} == {"tune", "test"}
    assert len({i["question"] for i in items + none}) == len(items) + len(none)  # no question twice
