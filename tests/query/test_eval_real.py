"""The shared evaluation set on the real archive: the agent's evidence is at least as good as single-shot
search on every question type, better where one search cannot answer, in at most 4 steps on average."""

from __future__ import annotations

from pathlib import Path

import pytest

import memindex
from memindex.query.eval import evaluate, load

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


def _retrieval_bench():  # type: ignore[no-untyped-def]
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "retrieval.py"
    spec = importlib.util.spec_from_file_location("memindex_retrieval_bench", path)
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def test_search_beats_the_plain_baseline(real_archive) -> None:  # type: ignore[no-untyped-def]
    """memindex search >= one MiniLM vector per utterance (benchmarks/baseline.py) on every category of the
    retrieval set's untouched split, paraphrase hit@5 >= 0.8, and confidence lower where nothing answers."""
    bench = _retrieval_bench()
    items = [i for i in bench.load_sets() if i.get("split") == "test"]
    with memindex.open(real_archive[0]) as index:
        rows = bench.run(index, items, "none")
    _, summary = bench.table(rows)
    for cat in ("paraphrase/test", "near_dup/test", "exact/test"):
        base, ours = summary[cat]["baseline"], summary[cat]["search"]
        assert ours["hit@1"] >= base["hit@1"] and ours["hit@5"] >= base["hit@5"], (cat, summary[cat])
    assert summary["paraphrase/test"]["search"]["hit@5"] >= 0.8, summary["paraphrase/test"]
    conf = bench.confidence_report(rows, "test")
    assert conf["right"] > conf["wrong"] and conf["right"] > conf["unanswerable"] and conf["auroc"] >= 0.7, conf
