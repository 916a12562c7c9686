"""Latency of ``search`` and ``ask`` (p50, p95, warm process) on a store, and of ``search`` on a synthetic
store of N vectors (default 1,000,000; hashing embedder, 256 dims, random unit vectors, an IVF tier past 100k),
each with a per-phase breakdown of ``search`` (embed, tier lookup, vector search and exact re-ranking, FTS,
fusion and hydration, narrowing to words, keyframes). benchmarks/scale.py builds larger, clustered stores.

    python benchmarks/query.py --store /tmp/shared-store --questions benchmarks/eval/shared.jsonl
    python benchmarks/query.py --synthetic 1000000 --synthetic-dir /tmp/synthetic-store
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402

import memindex  # noqa: E402

QUERIES = [
    "fellow Americans",
    "the gaudy spring",
    "press one now",
    "Sheila in Texas",
    "art director",
    "open source PBX",
    "John Dashwood",
    "beauty's rose",
]


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] * 1000


def timed(fn, args_list: list, repeat: int) -> dict:
    fn(args_list[0])  # warm: models loaded, FAISS files mapped
    times = []
    for _ in range(repeat):
        for a in args_list:
            t0 = time.perf_counter()
            fn(a)
            times.append(time.perf_counter() - t0)
    return {
        "n": len(times),
        "p50_ms": round(pct(times, 50), 2),
        "p95_ms": round(pct(times, 95), 2),
        "mean_ms": round(statistics.fmean(times) * 1000, 2),
    }


# (phase, object, method): where search spends its time. Wrapped in place, so every call is timed whoever
# makes it; a method the search engineer renames is skipped (and shows as missing in the report).
PHASES = [
    ("embed", "memindex.search:Searcher", "query_vector"),
    ("tier_lookup", "memindex.store:Store", "tier"),
    ("has_vectors", "memindex.store:Store", "has_vectors"),
    ("subset", "memindex.search:Searcher", "_subset"),
    ("vector_search", "memindex.tiers:VectorTier", "search"),
    ("rerank", "memindex.tiers:VectorTier", "_exact"),
    ("fts", "memindex.search:Searcher", "_keyword"),
    ("fusion_hydrate", "memindex.search:Searcher", "_hydrate"),
    ("narrow_words", "memindex.search:Searcher", "_narrow"),
    ("keyframe", "memindex.search:Searcher", "_attach_keyframe"),
    ("total", "memindex.search:Searcher", "search"),
]


class PhaseTimer:
    """Accumulates wall time per phase for the query being run (nested phases count in their parents);
    ``search_module`` times another copy of memindex.search (a baseline loaded from git)."""

    def __init__(self, search_module: str = "memindex.search") -> None:
        self.search_module = search_module
        self.current: dict[str, float] = {}
        self.patched: list[tuple[type, str, object]] = []
        self.missing: list[str] = []

    def __enter__(self) -> PhaseTimer:
        import importlib

        for phase, owner, method in PHASES:
            module, cls_name = owner.split(":")
            module = self.search_module if module == "memindex.search" else module
            cls = getattr(importlib.import_module(module), cls_name)
            if not hasattr(cls, method):
                self.missing.append(f"{cls_name}.{method}")
                continue
            original = getattr(cls, method)
            self.patched.append((cls, method, original))
            setattr(cls, method, self._wrap(phase, original))
        return self

    def _wrap(self, phase: str, fn):  # type: ignore[no-untyped-def]
        def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.current[phase] = self.current.get(phase, 0.0) + time.perf_counter() - t0

        return timed

    def __exit__(self, *exc: object) -> None:
        for cls, method, original in reversed(self.patched):
            setattr(cls, method, original)


def bench_phases(
    index: memindex.MemoryIndex,
    queries: list[str],
    repeat: int = 3,
    search_module: str = "memindex.search",
    **search: object,
) -> dict:
    """p50/p95 of ``search`` and of each of its phases (ms), warm, over ``queries`` x ``repeat``."""
    for q in queries[:2]:
        index.search(q, k=10, **search)  # warm: tiers loaded, encoder built, pages mapped
    per_phase: dict[str, list[float]] = {}
    missing: list[str] = []
    for _ in range(repeat):
        times, missing = phase_times(index, queries, search_module, **search)
        for name, xs in times.items():
            per_phase.setdefault(name, []).extend(xs)
    return summarize(per_phase, missing)


def phase_times(
    index: memindex.MemoryIndex, queries: list[str], search_module: str = "memindex.search", **search: object
) -> tuple[dict[str, list[float]], list[str]]:
    """One pass over ``queries``: each phase's seconds per query, and the phases that could not be timed."""
    per_phase: dict[str, list[float]] = {name: [] for name, _, _ in PHASES}
    with PhaseTimer(search_module) as timer:
        for q in queries:
            timer.current = {}
            index.search(q, k=10, **search)
            for name in per_phase:
                per_phase[name].append(timer.current.get(name, 0.0))
    return per_phase, timer.missing


def summarize(per_phase: dict[str, list[float]], missing: list[str] | None = None) -> dict:
    out: dict = {
        name: {
            "p50_ms": round(pct(xs, 50), 2),
            "p95_ms": round(pct(xs, 95), 2),
            "mean_ms": round(statistics.fmean(xs) * 1000, 2),
        }
        for name, xs in per_phase.items()
        if xs
    }
    out["n"] = len(per_phase.get("total", []))
    if missing:
        out["missing"] = missing
    return out


def baseline_searcher(store, ref: str):  # type: ignore[no-untyped-def]
    """A ``Searcher`` from memindex/search.py as it was at git ``ref`` (same store, same process), for a
    before/after comparison in one run; its module is ``memindex._search_<ref>``."""
    import importlib.util
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    source = subprocess.run(
        ["git", "show", f"{ref}:memindex/search.py"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout
    name = "memindex._search_" + "".join(c if c.isalnum() else "_" for c in ref)
    spec = importlib.util.spec_from_loader(name, loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    exec(compile(source, f"{ref}:memindex/search.py", "exec"), module.__dict__)
    return module.Searcher(store), name


def bench_store(path: str, questions: str | None, repeat: int) -> dict:
    index = memindex.open(path, create=False)
    qs = (
        [json.loads(x)["question"] for x in Path(questions).read_text().splitlines() if x.strip()]
        if questions
        else QUERIES
    )
    out = {"store": path, "stats": {k: index.stats()[k] for k in ("videos", "duration_seconds", "tiers")}}
    out["search_k10"] = timed(lambda q: index.search(q, k=10), QUERIES + qs, repeat)
    out["search_phases"] = bench_phases(index, QUERIES + qs, max(1, repeat // 2))
    out["ask_max4"] = timed(lambda q: index.ask(q, max_steps=4), qs, max(1, repeat // 2))
    out["ask_max1"] = timed(lambda q: index.ask(q, max_steps=1), qs, max(1, repeat // 2))
    return out


def build_synthetic(root: Path, n: int, dim: int, batch: int = 50_000) -> memindex.MemoryIndex:
    from memindex.catalog.models import Utterance, Video
    from memindex.store import DocRow, Store

    cfg = memindex.StoreConfig(
        text=memindex.TextEncoderConfig(name="hashing"), frame=memindex.FrameEncoderConfig(enabled=False)
    )
    store = Store(root, config=cfg)
    have = store.tier_counts().get("speech", {}).get("rows", 0)
    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(5000)]
    per_video = 10_000
    while have < n:
        m = min(batch, n - have)
        with store.write() as txn:
            rows = []
            for j in range(m):
                i = have + j
                vid = f"{i // per_video:016x}"
                if i % per_video == 0:
                    txn.session.add(
                        Video(
                            id=vid,
                            uri=f"/synthetic/{vid}.mp4",
                            sha256=vid * 4,
                            size_bytes=1,
                            duration=per_video * 5.0,
                            status="ready",
                        )
                    )
                    txn.session.flush()
                text = " ".join(rng.choice(vocab, 8))
                rows.append((vid, (i % per_video) * 5.0, text))
            utts = [Utterance(video_id=v, start=t, end=t + 5, text=x) for v, t, x in rows]
            txn.session.add_all(utts)
            txn.session.flush()
            vecs = rng.standard_normal((m, dim)).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            txn.add_docs("speech", [DocRow(u.video_id, u.id, u.start, u.end, u.text) for u in utts], vecs)
        have += m
        print(f"synthetic: {have}/{n}", flush=True)
    return memindex.MemoryIndex(store)


def bench_synthetic(root: str, n: int, dim: int, repeat: int) -> dict:
    t0 = time.perf_counter()
    index = build_synthetic(Path(root), n, dim)
    built = time.perf_counter() - t0
    qs = [f"w{i} w{i + 7} w{i + 99}" for i in range(20)]
    res = {"vectors": n, "dim": dim, "build_seconds": round(built, 1), "factory": index.store.tier("speech").factory}
    res["search_k10"] = timed(lambda q: index.search(q, k=10, tiers=["speech"]), qs, repeat)
    res["search_phases"] = bench_phases(index, qs, repeat, tiers=["speech"])
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store")
    ap.add_argument("--questions")
    ap.add_argument("--synthetic", type=int, default=0, help="vectors in the synthetic store (e.g. 1000000)")
    ap.add_argument("--synthetic-dir", default="/tmp/memindex-synthetic")
    ap.add_argument("--dim", type=int, default=256, help="the hashing embedder's dimension")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    report = {}
    if args.store:
        report["store"] = bench_store(args.store, args.questions, args.repeat)
    if args.synthetic:
        report["synthetic"] = bench_synthetic(args.synthetic_dir, args.synthetic, args.dim, args.repeat)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
