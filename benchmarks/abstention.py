"""Abstention: does `ask` answer when the store holds the answer and say "not found" when it does not?

Questions: the answerable ones of ``eval/shared.jsonl`` (right = the top evidence overlaps the ground truth,
hit@1; even lines tune, odd lines test) and the unanswerable ones of ``eval/abstention.jsonl`` (topics that
never occur in the shared media, near misses that share a name or a word with what is said, and every
relation: locate, count, after, span, first; right = abstain; its ``split`` field). Every question is asked
once with ``min_confidence=0`` (the agent records its calibrated confidence); thresholds are then swept.

    python benchmarks/abstention.py --store DIR [--fit] [--json OUT]

``--fit`` refits the Platt scaling (``memindex.query.abstain.PLATT``) on the tuning split's raw support and prints the
constants; the default threshold is the one that makes the most right decisions on the tuning split, and the
report gives the untouched test split at that threshold plus the trade-off curve on both."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]  # benchmarks/query.py is not `query`

import memindex  # noqa: E402
from memindex.query.abstain import THRESHOLD, calibrate  # noqa: E402
from memindex.query.eval import interval_hit, load  # noqa: E402
from memindex.query.hygiene import INTERNAL  # noqa: E402

THRESHOLDS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def questions() -> list[dict]:
    answerable = [dict(q, answerable=True) for q in load(HERE / "eval" / "shared.jsonl")]
    lines = (HERE / "eval" / "abstention.jsonl").read_text(encoding="utf-8").splitlines()
    unanswerable = [dict(json.loads(ln), answerable=False) for ln in lines if ln.strip()]
    for i, q in enumerate(answerable):
        q["split"] = "tune" if i % 2 == 0 else "test"
    return answerable + unanswerable


def ask_all(index, items: list[dict]) -> list[dict]:  # type: ignore[no-untyped-def]
    rows = []
    for q in items:
        vid = index.reader.resolve_video(q["video"])
        ans = index.ask(q["question"], videos=[vid], min_confidence=0.0).to_dict()
        ev = ans["evidence"]
        rows.append(
            {
                "question": q["question"],
                "split": q["split"],
                "answerable": q["answerable"],
                "right_if_answered": bool(q["answerable"] and interval_hit(ev, q, vid, 1)),
                "raw": ans["support"]["raw"],
                "support": ans["support"],
                "answer": ans["answer"][:160],
                "leak": bool(INTERNAL.search(ans["answer"])),
                "cited": bool(ans["citations"]),
                "found": not ans["abstained"],
            }
        )
    return rows


def fit_platt(rows: list[dict]) -> tuple[float, float]:
    """Logistic regression of right-if-answered on the raw support, with Platt's smoothed targets
    ((n+ + 1) / (n+ + 2) and 1 / (n- + 2)) so a separable tuning split still gives finite constants."""
    a, b = 1.0, 0.0
    xs = [r["raw"] for r in rows]
    pos = sum(1 for r in rows if r["right_if_answered"])
    hi, lo = (pos + 1) / (pos + 2), 1 / (len(rows) - pos + 2)
    ys = [hi if r["right_if_answered"] else lo for r in rows]
    for _ in range(50):
        ga = gb = haa = hab = hbb = 0.0
        for x, y in zip(xs, ys, strict=True):
            p = 1 / (1 + math.exp(-(a * x + b)))
            ga, gb = ga + (p - y) * x, gb + (p - y)
            w = p * (1 - p)
            haa, hab, hbb = haa + w * x * x, hab + w * x, hbb + w
        haa, hbb = haa + 1e-3, hbb + 1e-3
        det = haa * hbb - hab * hab
        a, b = a - (hbb * ga - hab * gb) / det, b - (haa * gb - hab * ga) / det
    return round(a, 3), round(b, 3)


def pick_threshold(rows: list[dict]) -> float:
    """The middle of the widest run of thresholds (steps of 0.05) that make the most right decisions."""
    grid = [round(0.05 * i, 2) for i in range(1, 20)]
    scores = [_right(rows, t) for t in grid]
    best = [t for t, s in zip(grid, scores, strict=True) if s == max(scores)]
    return best[len(best) // 2]


def _right(rows: list[dict], t: float) -> int:
    return sum(1 for r in rows if (r["confidence"] >= t) == r["right_if_answered"])


def curve(rows: list[dict], chosen: float) -> list[dict]:
    """At each threshold: the share of answerable questions answered, of unanswerable ones answered (false
    answers), of given answers that are wrong, and of right decisions (a right answer, or an abstention where
    the answer would have been wrong or there is none)."""
    out = []
    for t in sorted({*THRESHOLDS, chosen}):
        given = [r for r in rows if r["confidence"] >= t]
        wrong = [r for r in given if not r["right_if_answered"]]
        right = _right(rows, t)
        answerable = [r for r in rows if r["answerable"]]
        unanswerable = [r for r in rows if not r["answerable"]]
        out.append(
            {
                "threshold": t,
                "answer_rate": _rate(sum(1 for r in answerable if r["confidence"] >= t), len(answerable)),
                "false_answer_rate": _rate(sum(1 for r in unanswerable if r["confidence"] >= t), len(unanswerable)),
                "wrong_among_answered": _rate(len(wrong), len(given)),
                "right_decisions": _rate(right, len(rows)),
            }
        )
    return out


def _rate(a: int, b: int) -> float:
    return round(a / b, 3) if b else 0.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", required=True)
    ap.add_argument("--fit", action="store_true", help="refit the Platt constants on the tuning split")
    ap.add_argument("--json", help="write every question's row here")
    args = ap.parse_args(argv)
    with memindex.open(args.store) as index:
        rows = ask_all(index, questions())
    platt = fit_platt([r for r in rows if r["split"] == "tune"]) if args.fit else None
    for r in rows:
        raw = r["raw"]
        r["confidence"] = round(1 / (1 + math.exp(-(platt[0] * raw + platt[1]))) if platt else calibrate(raw), 3)
    chosen = pick_threshold([r for r in rows if r["split"] == "tune"])
    report = {split: curve([r for r in rows if r["split"] == split], chosen) for split in ("tune", "test")}
    print(render(report, chosen, platt))
    leaks = [r["question"] for r in rows if r["leak"]]
    uncited = [r["question"] for r in rows if r["found"] and not r["cited"]]
    print(f"\nanswers with internal text: {len(leaks)} {leaks}; answers without citations: {len(uncited)}")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"rows": rows, "curve": report, "platt": platt, "threshold": chosen}, indent=1)
        )
    return 0


def render(report: dict, chosen: float, platt: tuple[float, float] | None) -> str:
    lines = [
        f"Platt (a, b) refitted on tune: {platt}" if platt else f"module threshold: {THRESHOLD}",
        f"threshold picked on tune: {chosen}",
        "",
        "| split | threshold | answer rate (answerable) | false answers (unanswerable) | wrong among answered "
        "| right decisions |",
        "|---|---|---|---|---|---|",
    ]
    for split, rows in report.items():
        for c in rows:
            mark = " **(picked)**" if c["threshold"] == chosen else ""
            lines.append(
                f"| {split} | {c['threshold']:.2f}{mark} | {c['answer_rate']:.2f} | "
                f"{c['false_answer_rate']:.2f} | {c['wrong_among_answered']:.2f} | "
                f"{c['right_decisions']:.2f} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
