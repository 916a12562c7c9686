"""The shared evaluation set on the real archive: the agent's evidence is at least as good as single-shot
search on every question type, better where one search cannot answer, in at most 4 steps on average."""

from __future__ import annotations

from pathlib import Path

import pytest

import memindex
from query.eval import evaluate, load

pytestmark = pytest.mark.slow
DATASET = Path(__file__).resolve().parents[2] / "benchmarks" / "eval" / "shared.jsonl"


def test_agent_beats_single_shot_search(real_archive) -> None:  # type: ignore[no-untyped-def]
    with memindex.open(real_archive[0]) as index:
        report = evaluate(index, load(DATASET))
    assert not report["skipped"], report["skipped"]
    summary = report["summary"]
    for kind, row in summary.items():
        assert row["agent"]["hit@1"] >= row["search"]["hit@1"], (kind, row)
    for kind in ("temporal", "multihop"):
        assert summary[kind]["agent"]["hit@1"] > summary[kind]["search"]["hit@1"], (kind, summary[kind])
    assert summary["all"]["agent"]["steps"] <= 4.0


def test_one_step_budget_is_respected(real_archive) -> None:  # type: ignore[no-untyped-def]
    with memindex.open(real_archive[0]) as index:
        report = evaluate(index, load(DATASET)[:8], max_steps=1, methods=("agent",))
    assert all(q["agent"]["steps"] <= 1 for q in report["questions"])
