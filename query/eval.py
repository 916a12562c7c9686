"""``memindex eval DATASET --store DIR``: the agent against single-shot search on a JSONL of
``{question, video, start, end, answer?, type?, also?, tolerance?}``.

hit@k: the evidence overlaps the question's interval within the top k (same video). A question that needs
n moments (``also`` lists the others) counts as a hit at k when the top k+n-1 items cover all n moments.
IoU is the top item's intersection over union with the moment it overlaps most. An answer is correct when
its normalised text contains the expected one (numbers: within ``tolerance``)."""

from __future__ import annotations

import json
import re
import statistics
import time
from pathlib import Path
from typing import Any

from memindex.errors import MemIndexError, QueryError

__all__ = ["load", "evaluate", "render", "run_cli", "answer_ok", "interval_hit"]

_NUM = re.compile(r"-?\d+(?:\.\d+)?")


def load(path: str | Path) -> list[dict]:
    items = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QueryError(f"{path}:{n}: not JSON ({exc})") from exc
        missing = {"question", "video", "start", "end"} - set(item)
        if missing:
            raise QueryError(f"{path}:{n}: missing {sorted(missing)}")
        items.append(item)
    return items


def _moments(item: dict) -> list[tuple[float, float]]:
    return [(float(item["start"]), float(item["end"])), *[(float(a), float(b)) for a, b in item.get("also", [])]]


def _iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else float(inter > 0 or a == b)


def _overlaps(ev: dict, m: tuple[float, float]) -> bool:
    return ev["start"] <= m[1] and m[0] <= ev["end"]


def interval_hit(evidence: list[dict], item: dict, video_id: str, k: int) -> bool:
    moments = _moments(item)
    top = [e for e in evidence[: k + len(moments) - 1] if e["video_id"] == video_id]
    return all(any(_overlaps(e, m) for e in top) for m in moments)


def _top_iou(evidence: list[dict], item: dict, video_id: str) -> float:
    if not evidence or evidence[0]["video_id"] != video_id:
        return 0.0
    e = evidence[0]
    return max(_iou((e["start"], e["end"]), m) for m in _moments(item))


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[\w']+", text.lower()))


def answer_ok(expected: str, answer: str, tolerance: float | None = None) -> bool:
    if tolerance is not None and _NUM.fullmatch(expected.strip()):
        return any(abs(float(x) - float(expected)) <= tolerance for x in _NUM.findall(answer))
    words = {"one": "1", "two": "2", "three": "3"}
    got = " ".join(words.get(w, w) for w in _norm(answer).split())
    return _norm(expected) in got or _norm(expected) in _norm(answer)


def _run_agent(index: Any, item: dict, vid: str, max_steps: int, llm: Any = None) -> dict:
    t0 = time.perf_counter()
    ans = index.ask(item["question"], max_steps=max_steps, videos=[vid], llm=llm).to_dict()
    return {
        "evidence": ans["evidence"],
        "answer": ans["answer"],
        "steps": ans["cost"]["steps"],
        "tokens": ans["cost"]["tokens"],
        "seconds": time.perf_counter() - t0,
        "confidence": ans["confidence"],
    }


def _run_search(index: Any, item: dict, vid: str, max_steps: int, llm: Any = None) -> dict:
    t0 = time.perf_counter()
    hits = [h.to_dict() for h in index.search(item["question"], k=10, videos=[vid])]
    return {
        "evidence": hits,
        "answer": hits[0]["text"] if hits else "",
        "steps": 1,
        "tokens": 0,
        "seconds": time.perf_counter() - t0,
    }


METHODS = {"agent": _run_agent, "search": _run_search}


def evaluate(
    index: Any,
    items: list[dict],
    *,
    max_steps: int = 4,
    methods: tuple[str, ...] = ("agent", "search"),
    llm: Any = None,
) -> dict:
    """Each question by each method; ``llm`` (an ``LLMConfig``): the agent plans with it (None: the
    deterministic planner)."""
    rows, skipped = [], []
    for item in items:
        try:
            vid = index.reader.resolve_video(item["video"])
        except MemIndexError as exc:
            skipped.append({"question": item["question"], "video": item["video"], "reason": str(exc)})
            continue
        row = {"question": item["question"], "type": item.get("type", "all"), "video": item["video"]}
        for name in methods:
            out = METHODS[name](index, item, vid, max_steps, llm)
            row[name] = {
                "hit1": interval_hit(out["evidence"], item, vid, 1),
                "hit5": interval_hit(out["evidence"], item, vid, 5),
                "iou": round(_top_iou(out["evidence"], item, vid), 3),
                "answer_ok": answer_ok(item["answer"], out["answer"], item.get("tolerance"))
                if "answer" in item
                else None,
                "steps": out["steps"],
                "tokens": out["tokens"],
                "seconds": round(out["seconds"], 4),
                "answer": out["answer"][:200],
            }
        rows.append(row)
    return {"summary": _summary(rows, methods), "questions": rows, "skipped": skipped, "max_steps": max_steps}


def _summary(rows: list[dict], methods: tuple[str, ...]) -> dict:
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["type"], []).append(r)
    groups["all"] = rows
    out: dict[str, Any] = {}
    for kind, rs in groups.items():
        out[kind] = {"n": len(rs)}
        for m in methods:
            ms = [r[m] for r in rs]
            answered = [x["answer_ok"] for x in ms if x["answer_ok"] is not None]
            out[kind][m] = {
                "hit@1": round(statistics.fmean(x["hit1"] for x in ms), 3) if ms else 0.0,
                "hit@5": round(statistics.fmean(x["hit5"] for x in ms), 3) if ms else 0.0,
                "mIoU": round(statistics.fmean(x["iou"] for x in ms), 3) if ms else 0.0,
                "answer_acc": round(statistics.fmean(answered), 3) if answered else None,
                "answered": len(answered),
                "steps": round(statistics.fmean(x["steps"] for x in ms), 2) if ms else 0.0,
                "seconds": round(statistics.fmean(x["seconds"] for x in ms), 4) if ms else 0.0,
                "tokens": round(statistics.fmean(x["tokens"] for x in ms), 1) if ms else 0.0,
            }
    return out


def render(report: dict) -> str:
    """A markdown table: one row per question type and method."""
    lines = [
        "| type | n | method | hit@1 | hit@5 | mIoU | answer acc | steps | s/question | tokens |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kind, s in report["summary"].items():
        for m in (k for k in s if k != "n"):
            x = s[m]
            acc = "-" if x["answer_acc"] is None else f"{x['answer_acc']:.2f} ({x['answered']})"
            lines.append(
                f"| {kind} | {s['n']} | {m} | {x['hit@1']:.2f} | {x['hit@5']:.2f} | {x['mIoU']:.2f} | "
                f"{acc} | {x['steps']:.2f} | {x['seconds']:.3f} | {x['tokens']:.0f} |"
            )
    if report["skipped"]:
        lines.append(f"\n{len(report['skipped'])} questions skipped (video not in the store).")
    return "\n".join(lines)


def run_cli(
    index: Any, dataset: str, *, max_steps: int = 4, as_json: bool = False, llm: Any = None
) -> tuple[str, dict]:
    report = evaluate(index, load(dataset), max_steps=max_steps, llm=llm)
    return (json.dumps(report, indent=2, ensure_ascii=False) if as_json else render(report)), report
