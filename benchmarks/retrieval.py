"""Retrieval quality in one run: the plain baseline (benchmarks/baseline.py), memindex search and the agent on
every category of the evaluation sets, as one table (category x system: hit@1, hit@5), plus how well
``Hit.confidence`` separates right top hits from wrong ones and from questions the store cannot answer.

    python benchmarks/retrieval.py --store /tmp/shared-store [--agent shared|all|none] [--out report.json]
    python benchmarks/retrieval.py --store /tmp/shared-store --fit-confidence   # refit the constants
    python benchmarks/retrieval.py --store /tmp/ml-store --set eval/multilingual.jsonl [--scope archive]

Sets: eval/shared.jsonl (the agent's set: speech, speaker, temporal, multihop, screen), eval/retrieval.jsonl
(paraphrase, near_dup, exact; reported per split, tune and test) and eval/retrieval_none.jsonl (no answer in the
store: only confidence is scored). Every question is scoped to its video for every system.

``--set FILE`` runs one set instead (eval/multilingual.jsonl: rows with ``language`` and ``category``) and
prints a table per language x category x split, then per language how its speech was stored: the share of
utterance seconds with the video's language, utterances stored as ``en`` in a non-English video, and the
ingest's ASR stage seconds (wall) against the video's length.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402

import memindex  # noqa: E402
from memindex.errors import MemIndexError  # noqa: E402
from memindex.query.eval import interval_hit, load  # noqa: E402

EVAL = HERE / "eval"
SYSTEMS = ("baseline", "search", "agent")


def _baseline_class():  # type: ignore[no-untyped-def]
    import importlib.util

    spec = importlib.util.spec_from_file_location("memindex_baseline", HERE / "baseline.py")
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod.Baseline


def load_sets() -> list[dict]:
    """Every question, tagged with its category (type, and split where the set has one)."""
    items = [dict(i, category=i.get("type", "all")) for i in load(EVAL / "shared.jsonl")]
    items += [dict(i, category=f"{i['type']}/{i['split']}") for i in load(EVAL / "retrieval.jsonl")]
    for line in (EVAL / "retrieval_none.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            item = json.loads(line)
            items.append(dict(item, category=f"none/{item['split']}"))
    return items


def load_set(path: Path) -> list[dict]:
    """One set file: category ``<category>/<split>``, ``language`` kept (eval/multilingual.jsonl)."""
    return [dict(i, category=f"{i['category']}/{i['split']}") for i in load(path)]


def language_table(rows: list[dict]) -> tuple[str, dict]:
    """Markdown table, one line per language x category: n, baseline and search hit@1 / hit@5."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["item"]["language"], r["item"]["category"]), []).append(r)
    lines = [
        "| language | category | n | baseline hit@1 | baseline hit@5 | search hit@1 | search hit@5 |",
        "|---|---|---|---|---|---|---|",
    ]
    summary: dict[str, dict] = {}
    for lang, cat in sorted(groups, key=lambda g: (g[0] != "en", g[0], _cat_order(g[1]))):
        rs = groups[(lang, cat)]
        cells, row = [], {"n": len(rs)}
        for s in ("baseline", "search"):
            h1, h5 = (statistics.fmean(r[f"{s}_hit"][i] for r in rs) for i in (0, 1))
            row[s] = {"hit@1": round(h1, 3), "hit@5": round(h5, 3)}
            cells += [f"{h1:.2f}", f"{h5:.2f}"]
        summary.setdefault(lang, {})[cat] = row
        lines.append(f"| {lang} | {cat} | {len(rs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines), summary


def language_report(index: memindex.MemoryIndex, items: list[dict]) -> dict[str, dict]:
    """Per language (one video each): how its utterances were stored and what ASR cost in the ingest."""
    from sqlalchemy import select

    from memindex.catalog.models import StageRun, Utterance, Video

    videos = {}
    for item in items:
        with contextlib.suppress(MemIndexError):  # a set's video that this store lacks is reported by run()
            videos.setdefault(item["language"], index.reader.resolve_video(item["video"]))
    out = {}
    with index.store.Session() as s:
        for lang, vid in sorted(videos.items()):
            utts = s.scalars(select(Utterance).where(Utterance.video_id == vid)).all()
            said = sum(u.end - u.start for u in utts) or 1.0
            right = sum(u.end - u.start for u in utts if u.language == lang)
            asr = s.scalars(select(StageRun.seconds).where(StageRun.video_id == vid, StageRun.stage == "asr")).all()
            duration = s.get(Video, vid).duration  # type: ignore[union-attr]
            english = [u for u in utts if lang != "en" and u.language == "en"]
            out[lang] = {
                "utterances": len(utts),
                "right_language_seconds": round(right / said, 3),
                "stored_as_en": len(english),
                "stored_as_en_text": [f"{u.start:.1f}-{u.end:.1f} {u.text}" for u in english],
                "languages": sorted({u.language or "?" for u in utts}),
                "low_quality": sum(1 for u in utts if u.quality != "ok"),
                "video_seconds": round(duration, 1),
                "asr_wall_seconds": round(sum(asr), 1) if asr else None,
                "asr_x_real_time_wall": round(duration / sum(asr), 1) if asr and sum(asr) else None,
            }
    return out


def run(index: memindex.MemoryIndex, items: list[dict], agent: str, scope: str = "video") -> list[dict]:
    """Each question through each system: evidence (dicts), hits at 1 and 5, and the search hits' confidence.
    ``scope`` "video" searches the question's video only; "archive" searches every video of the store."""
    base = _baseline_class()(index)
    rows = []
    for item in items:
        try:
            vid = index.reader.resolve_video(item["video"])
        except MemIndexError:
            continue
        row = {"item": item, "video_id": vid, "seconds": {}}
        only = [vid] if scope == "video" else None
        t0 = time.perf_counter()
        row["baseline"] = base.search(item["question"], k=10, videos=only)
        row["search"] = [h.to_dict() for h in index.search(item["question"], k=10, videos=only)]
        row["seconds"]["search"] = time.perf_counter() - t0
        if agent == "all" or (agent == "shared" and "split" not in item):
            row["agent"] = index.ask(item["question"], max_steps=4, videos=only).to_dict()["evidence"]
        for system in SYSTEMS:
            if system in row and item.get("start") is not None:
                row[f"{system}_hit"] = [interval_hit(row[system], item, vid, k) for k in (1, 5)]
        rows.append(row)
    return rows


def table(rows: list[dict]) -> tuple[str, dict]:
    """Markdown table, one line per category: n, then hit@1 / hit@5 per system."""
    cats: dict[str, list[dict]] = {}
    for r in rows:
        if r["item"].get("start") is not None:
            cats.setdefault(r["item"]["category"], []).append(r)
    summary: dict[str, dict] = {}
    lines = [
        "| category | n | " + " | ".join(f"{s} hit@1 | {s} hit@5" for s in SYSTEMS) + " |",
        "|---|---|" + "---|---|" * len(SYSTEMS),
    ]
    for cat in sorted(cats, key=_cat_order):
        rs, cells = cats[cat], []
        summary[cat] = {"n": len(rs)}
        for s in SYSTEMS:
            scored = [r[f"{s}_hit"] for r in rs if f"{s}_hit" in r]
            if not scored:
                cells += ["-", "-"]
                continue
            h1, h5 = (statistics.fmean(h[i] for h in scored) for i in (0, 1))
            summary[cat][s] = {"hit@1": round(h1, 3), "hit@5": round(h5, 3), "n": len(scored)}
            cells += [f"{h1:.2f}", f"{h5:.2f}"]
        lines.append(f"| {cat} | {len(rs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines), summary


def _cat_order(cat: str) -> tuple[int, str]:
    kinds = ["speech", "speaker", "temporal", "multihop", "screen", "paraphrase", "near_dup", "exact"]
    base = cat.split("/")[0]
    return (kinds.index(base) if base in kinds else len(kinds), cat)


def confidence_report(rows: list[dict], split: str) -> dict:
    """How ``Hit.confidence`` of the top search hit behaves on one split: answerable questions whose top hit
    is right, whose top hit is wrong, and unanswerable ones; Brier score and AUROC (right vs the rest)."""
    right, wrong, none = [], [], []
    for r in rows:
        item = r["item"]
        if item.get("split") != split or not r["search"]:
            continue
        conf = r["search"][0].get("confidence", 0.0)
        if item.get("start") is None:
            none.append(conf)
        else:
            (right if r["search_hit"][0] else wrong).append(conf)
    labels = [1] * len(right) + [0] * (len(wrong) + len(none))
    confs = right + wrong + none
    brier = statistics.fmean((c - y) ** 2 for c, y in zip(confs, labels, strict=True)) if confs else math.nan
    return {
        "split": split,
        "right": _mean(right),
        "wrong": _mean(wrong),
        "unanswerable": _mean(none),
        "n": [len(right), len(wrong), len(none)],
        "brier": round(brier, 4),
        "auroc": _auroc(right, wrong + none),
        "ece": _ece(confs, labels),
    }


def _ece(confs: list[float], labels: list[int], bins: int = 5) -> float | None:
    """Expected calibration error: |mean confidence - share right| per confidence bin, weighted by size."""
    if not confs:
        return None
    err = 0.0
    for b in range(bins):
        idx = [i for i, c in enumerate(confs) if b / bins <= c < (b + 1) / bins or (b == bins - 1 and c == 1.0)]
        if idx:
            err += len(idx) * abs(statistics.fmean(confs[i] for i in idx) - statistics.fmean(labels[i] for i in idx))
    return round(err / len(confs), 3)


def _mean(xs: list[float]) -> float | None:
    return round(statistics.fmean(xs), 3) if xs else None


def _auroc(pos: list[float], neg: list[float]) -> float | None:
    if not pos or not neg:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return round(wins / (len(pos) * len(neg)), 3)


def fit_confidence(rows: list[dict], split: str = "tune") -> dict:
    """Refit the logistic map behind ``Hit.confidence`` on ``split``: every top-5 search hit is one sample,
    labelled 1 when it overlaps the question's moment (always 0 for unanswerable questions)."""
    from memindex.search import CONFIDENCE_FEATURES

    xs, ys = [], []
    for r in rows:
        item = r["item"]
        if item.get("split") != split:
            continue
        for h in r["search"][:5]:
            xs.append([h[f] if f in h else h["signals"][f] for f in CONFIDENCE_FEATURES])
            good = item.get("start") is not None and interval_hit([h], item, r["video_id"], 1)
            ys.append(float(good))
    w, b = _logistic(np.array(xs, dtype=np.float64), np.array(ys, dtype=np.float64))
    return {
        "features": list(CONFIDENCE_FEATURES),
        "weights": [round(float(x), 3) for x in w],
        "bias": round(float(b), 3),
        "samples": len(ys),
        "positives": int(sum(ys)),
    }


def _logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-2, steps: int = 50) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by Newton's method (a handful of features, no sklearn needed)."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(xb.shape[1])
    reg = l2 * np.eye(xb.shape[1])
    reg[-1, -1] = 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-xb @ w))
        grad = xb.T @ (p - y) + reg @ w
        hess = (xb * (p * (1 - p))[:, None]).T @ xb + reg
        w = w - np.linalg.solve(hess, grad)
    return w[:-1], float(w[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", required=True)
    ap.add_argument(
        "--agent",
        choices=("shared", "all", "none"),
        default="shared",
        help="which questions the agent answers too (default: the shared set, as memindex eval)",
    )
    ap.add_argument(
        "--scope",
        choices=("video", "archive"),
        default="video",
        help="search each question's own video (default, as memindex eval) or the whole store",
    )
    ap.add_argument("--set", type=Path, help="run this set file instead (relative to benchmarks/ or absolute)")
    ap.add_argument("--split", choices=("tune", "test"), help="with --set: only this split")
    ap.add_argument("--out", help="write the full report (JSON) here")
    ap.add_argument("--fit-confidence", action="store_true", help="print refit Hit.confidence constants")
    args = ap.parse_args()
    if args.set:
        return run_set(args)
    with memindex.open(Path(args.store), create=False) as index:
        rows = run(index, load_sets(), "none" if args.fit_confidence else args.agent, args.scope)
    if args.fit_confidence:
        print(json.dumps(fit_confidence(rows), indent=2))
        return
    text, summary = table(rows)
    conf = [confidence_report(rows, s) for s in ("tune", "test")]
    print(text)
    for c in conf:
        print(json.dumps(c))
    if args.out:
        Path(args.out).write_text(
            json.dumps(
                {
                    "summary": summary,
                    "confidence": conf,
                    "questions": [{k: v for k, v in r.items() if k != "agent"} for r in rows],
                },
                indent=1,
                ensure_ascii=False,
                default=str,
            )
        )


def run_set(args: argparse.Namespace) -> None:
    """``--set FILE``: the per-language table and how each language's speech was stored."""
    items = load_set(args.set if args.set.is_absolute() else HERE / args.set)
    items = [i for i in items if args.split is None or i["split"] == args.split]
    with memindex.open(Path(args.store), create=False) as index:
        rows = run(index, items, "none", args.scope)
        stored = language_report(index, items)
    text, summary = language_table(rows)
    print(text)
    for lang, row in stored.items():
        print(json.dumps({"language": lang, **{k: v for k, v in row.items() if k != "stored_as_en_text"}}))
        for line in row["stored_as_en_text"]:
            print(f"  stored as en: {line}")
    if args.out:
        report = {"scope": args.scope, "summary": summary, "stored": stored, "questions": rows}
        Path(args.out).write_text(json.dumps(report, indent=1, ensure_ascii=False, default=str))


if __name__ == "__main__":
    main()
