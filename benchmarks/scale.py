"""Archive scale: a synthetic speech tier of N vectors (384-d) built through the store's write path, then
measured: build rate, file sizes, open time and memory of a fresh process, vector search (IVF-PQ with exact
re-ranking) latency and recall@10 against exact search, the keyword index at N docs, and the full hybrid
search with its per-phase breakdown (benchmarks/query.py).

    python benchmarks/scale.py --n 1000000 --dir /tmp/scale-1m          # build (resumes), then measure
    python benchmarks/scale.py --n 10000000 --dir /tmp/scale-10m --max-rss-gb 12

Vectors are a 48-d Gaussian mixture (1,024 clusters) lifted into 384 dims plus full-rank noise: real sentence
embeddings have a low intrinsic dimension, and neighbours here sit at cosine 0.8 (top 1) to 0.7 (top 100), as
MiniLM paraphrases do. (Isotropic clusters or uniform random vectors tie every neighbour within noise: no index,
PQ or other, recovers their top 10, and they say little about real recall.) Texts are 10 words drawn
from a Zipf-distributed 50,000-word vocabulary. Every batch is generated from its own seed, so exact search
regenerates the vectors instead of reading the catalog back. The build refuses to pass --max-rss-gb.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import importlib.util  # noqa: E402

import numpy as np  # noqa: E402

import memindex  # noqa: E402

# benchmarks/query.py (its name clashes with the query package): pct() and the per-phase search profile.
_spec = importlib.util.spec_from_file_location("benchmarks_query", Path(__file__).with_name("query.py"))
assert _spec is not None and _spec.loader is not None
bq = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bq)

PER_VIDEO = 10_000
VOCAB = 50_000
LATENT, CLUSTERS, SPREAD, NOISE = 48, 1024, 0.6, 0.08


# Content words (Zipf ranks 50-5,000: each in 0.01-1.5 % of docs, like the words of a real question once stop
# words are dropped) and the same with one very common word (w2: in ~45 % of docs, as "the" would be).
HYBRID_QUERIES = {
    "content": [f"w{50 + 13 * i} w{400 + 71 * i} w{3000 + 99 * i}" for i in range(20)],
    "common_word": [f"w2 w{400 + 71 * i} w{3000 + 99 * i}" for i in range(20)],
}


def rss_mb() -> dict:
    status = Path("/proc/self/status").read_text()
    field = {
        ln.split(":")[0]: int(ln.split()[1]) // 1024 for ln in status.splitlines() if ln.startswith(("Rss", "VmHWM"))
    }
    return {
        "rss_mb": field.get("RssAnon", 0) + field.get("RssFile", 0),
        "anon_mb": field.get("RssAnon", 0),
        "file_mb": field.get("RssFile", 0),
        "peak_mb": field.get("VmHWM", 0),
    }


def centres(dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The generator's fixed parts: a 48-d latent space's cluster centres and its map into ``dim`` dims."""
    rng = np.random.default_rng(12345)
    lift = np.linalg.qr(rng.standard_normal((dim, LATENT)))[0].T.astype(np.float32)
    return rng.standard_normal((CLUSTERS, LATENT)).astype(np.float32), lift


def batch_vectors(b: int, m: int, dim: int, cents: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Batch ``b``: points of a 48-d Gaussian mixture lifted into ``dim`` dims plus a little full-rank noise,
    normalised. Neighbours then sit at cosine 0.8 (top 1) to 0.7 (top 100), as sentence embeddings do."""
    rng = np.random.default_rng(1000 + b)
    latent, lift = cents
    z = latent[rng.integers(0, CLUSTERS, m)] + SPREAD * rng.standard_normal((m, LATENT)).astype(np.float32)
    v = z @ lift + NOISE * rng.standard_normal((m, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def batch_texts(b: int, m: int) -> list[str]:
    rng = np.random.default_rng(5000 + b)
    ranks = np.minimum(rng.zipf(1.3, (m, 10)), VOCAB) - 1
    return [" ".join(f"w{r}" for r in row) for row in ranks]


def open_store(root: Path, dim: int):  # type: ignore[no-untyped-def]
    from memindex.store import Store

    cfg = memindex.StoreConfig(
        text=memindex.TextEncoderConfig(name="hashing"), frame=memindex.FrameEncoderConfig(enabled=False)
    )
    store = Store(root, config=cfg)
    from memindex.encoders.text import HashingEmbedder

    store.set_encoders(text=HashingEmbedder(dim=dim))
    return store


def write_batch(store, b: int, have: int, m: int, dim: int, cents: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    """One write of ``m`` utterances and their speech docs, through ``Store.write`` and ``add_docs``."""
    from sqlalchemy import insert

    from memindex.catalog.models import Utterance, Video
    from memindex.store import DocRow

    texts = batch_texts(b, m)
    with store.write() as txn:
        vids = sorted({(have + j) // PER_VIDEO for j in range(m)} - {(have - 1) // PER_VIDEO if have else -1})
        if vids:
            txn.session.execute(
                insert(Video),
                [
                    {
                        "id": f"{v:016x}",
                        "uri": f"/synthetic/{v:016x}.mp4",
                        "sha256": f"{v:016x}" * 4,
                        "size_bytes": 1,
                        "duration": PER_VIDEO * 5.0,
                        "status": "ready",
                    }
                    for v in vids
                ],
            )
        rows = [
            {
                "id": have + j + 1,
                "video_id": f"{(have + j) // PER_VIDEO:016x}",
                "start": ((have + j) % PER_VIDEO) * 5.0,
                "end": ((have + j) % PER_VIDEO) * 5.0 + 5,
                "text": texts[j],
            }
            for j in range(m)
        ]
        txn.session.execute(insert(Utterance), rows)
        docs = [DocRow(r["video_id"], r["id"], r["start"], r["end"], r["text"]) for r in rows]
        txn.add_docs("speech", docs, batch_vectors(b, m, dim, cents))


def build(root: Path, n: int, dim: int, batch: int, max_rss_gb: float) -> dict:
    store = open_store(root, dim)
    have = store.tier_counts().get("speech", {}).get("rows", 0)
    cents, t0, start = centres(dim), time.perf_counter(), have
    while have < n:
        m = min(batch, n - have)
        t = time.perf_counter()
        write_batch(store, have // batch, have, m, dim, cents)
        have += m
        mem = rss_mb()
        print(
            f"build: {have}/{n} in {time.perf_counter() - t:.1f} s, tier {store.tier('speech').factory}, "
            f"rss {mem['rss_mb']} MB",
            flush=True,
        )
        if mem["rss_mb"] > max_rss_gb * 1024:
            raise SystemExit(f"stopped: {mem['rss_mb']} MB resident is past --max-rss-gb {max_rss_gb}")
    secs = time.perf_counter() - t0
    out = {
        "vectors": n,
        "built_now": n - start,
        "seconds": round(secs, 1),
        "docs_per_s": round((n - start) / secs, 1) if n > start else None,
        **rss_mb(),
    }
    store.close()
    return out


def sizes(root: Path) -> dict:
    folder = root / "collections" / "default"
    cat = sum(p.stat().st_size for p in folder.glob("catalog.sqlite*"))
    tier = (folder / "tiers" / "speech.faiss").stat().st_size
    return {"catalog_mb": round(cat / 2**20), "tier_mb": round(tier / 2**20, 1)}


OPEN_CODE = """
import json, sys, time
sys.path.insert(0, {bench!r})
from scale import open_store, rss_mb
from pathlib import Path
t = time.perf_counter(); store = open_store(Path({root!r}), {dim}); opened = time.perf_counter() - t
t = time.perf_counter(); tier = store.tier("speech"); loaded = time.perf_counter() - t
print(json.dumps({{"store_open_s": round(opened, 3), "tier_load_s": round(loaded, 3), "factory": tier.factory,
                  "mapped": tier.mapped, "ntotal": tier.ntotal, **rss_mb()}}))
"""


def open_cost(root: Path, dim: int) -> dict:
    """Open the store and its tier in a fresh process: seconds and resident memory."""
    code = OPEN_CODE.format(bench=str(Path(__file__).resolve().parent), root=str(root), dim=dim)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def exact_topk(queries: np.ndarray, n: int, dim: int, batch: int, k: int = 10) -> np.ndarray:
    """Exact top-k doc ids by brute force over regenerated batches (ids are 1..n in write order)."""
    cents = centres(dim)
    best_s = np.full((len(queries), k), -np.inf, np.float32)
    best_i = np.zeros((len(queries), k), np.int64)
    for b, lo in enumerate(range(0, n, batch)):
        m = min(batch, n - lo)
        s = queries @ batch_vectors(b, m, dim, cents).T
        top = np.argpartition(-s, k, axis=1)[:, :k]
        cand_s = np.concatenate([best_s, np.take_along_axis(s, top, 1)], 1)
        cand_i = np.concatenate([best_i, top + lo + 1], 1)
        keep = np.argsort(-cand_s, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(cand_s, keep, 1), np.take_along_axis(cand_i, keep, 1)
    return best_i


def make_queries(nq: int, dim: int) -> np.ndarray:
    """Queries from the same distribution as the data (as questions near stored moments)."""
    return batch_vectors(999_999, nq, dim, centres(dim))


def vector_search(store, queries: np.ndarray, truth: np.ndarray, nprobes: list[int], reranks: list[int]) -> list:
    tier = store.tier("speech")
    rows = []
    for nprobe in nprobes:
        for rerank in reranks:
            tier.nprobe, tier.rerank = nprobe, rerank
            tier.search(queries[0], 10)
            times, hits = [], 0
            for q, t in zip(queries, truth, strict=True):
                t0 = time.perf_counter()
                _, ids = tier.search(q, 10)
                times.append(time.perf_counter() - t0)
                hits += len(set(ids.tolist()) & set(t.tolist()))
            rows.append(
                {
                    "nprobe": nprobe,
                    "rerank": rerank,
                    "recall@10": round(hits / truth.size, 3),
                    "p50_ms": round(bq.pct(times, 50), 2),
                    "p95_ms": round(bq.pct(times, 95), 2),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    tier.nprobe, tier.rerank = store.config.tiers.nprobe, store.config.tiers.rerank
    return rows


def keyword_search(store, repeat: int = 3) -> dict:
    """FTS5 alone at this size: common, middling and rare words (Zipf ranks), as search's keyword phase."""
    from sqlalchemy import text

    sql = text(
        "SELECT d.id FROM docs_fts JOIN docs d ON d.id = docs_fts.rowid WHERE docs_fts MATCH :q "
        "AND d.tier IN ('speech') ORDER BY bm25(docs_fts) LIMIT 100"
    )
    out = {}
    for label, words in (
        ("common", "w1 OR w3 OR w7"),
        ("middling", "w150 OR w420 OR w999"),
        ("rare", "w20001 OR w30003 OR w40007"),
    ):
        times = []
        with store.Session() as s:
            for _ in range(repeat):
                t0 = time.perf_counter()
                s.execute(sql, {"q": words}).all()
                times.append(time.perf_counter() - t0)
        out[label] = {"query": words, "p50_ms": round(bq.pct(times, 50), 1)}
    return out


def hybrid(store, repeat: int, baseline: str | None) -> dict:  # type: ignore[no-untyped-def]
    """The full hybrid search per query kind; with ``baseline``, that git ref's search.py too, the two
    alternating pass by pass so both see the same machine load, and whether both return the same top 10."""
    index = memindex.MemoryIndex(store)
    runs = [("", index, "memindex.search")]
    if baseline:
        old = memindex.MemoryIndex(store)
        old._searcher, module = bq.baseline_searcher(store, baseline)
        runs.append((f"baseline_{baseline}_", old, module))
    out: dict = {}
    for label, queries in HYBRID_QUERIES.items():
        times: dict[str, dict[str, list[float]]] = {prefix: {} for prefix, _, _ in runs}
        for _, idx, _ in runs:
            for q in queries[:2]:
                idx.search(q, k=10, tiers=["speech"])  # warm
        for _ in range(repeat):
            for prefix, idx, module in runs:
                one, _missing = bq.phase_times(idx, queries, module, tiers=["speech"])
                for phase, xs in one.items():
                    times[prefix].setdefault(phase, []).extend(xs)
        for prefix, _, _ in runs:
            key = f"hybrid_{prefix}{label}"
            out[key] = bq.summarize(times[prefix])
            print(json.dumps({key: out[key]["total"], "fts": out[key]["fts"]}), flush=True)
        if baseline:
            same = [
                [h.doc_id for h in runs[0][1].search(q, k=10, tiers=["speech"])]
                == [h.doc_id for h in runs[1][1].search(q, k=10, tiers=["speech"])]
                for q in queries
            ]
            out[f"same_top10_{label}"] = f"{sum(same)}/{len(same)}"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, required=True, help="vectors in the synthetic tier")
    ap.add_argument("--dir", required=True, help="the store folder (a build resumes where it stopped)")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--batch", type=int, default=50_000, help="docs per write")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--nprobe", default="8,16,32,64")
    ap.add_argument("--rerank", default="0,2,4,10")
    ap.add_argument("--max-rss-gb", type=float, default=12.0)
    ap.add_argument("--skip-hybrid", action="store_true")
    ap.add_argument("--repeat", type=int, default=3, help="passes over the hybrid queries")
    ap.add_argument("--out", help="write the report here as JSON too")
    ap.add_argument("--baseline", help="also time memindex/search.py at this git ref, interleaved (e.g. HEAD~1)")
    ap.add_argument("--hybrid-only", action="store_true", help="skip the vector and FTS-alone measurements")
    args = ap.parse_args()
    limit = int(args.max_rss_gb * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit * 3, limit * 3))  # address space: mmaps count, so 3x
    root = Path(args.dir)
    report: dict = {"n": args.n, "dim": args.dim, "build": build(root, args.n, args.dim, args.batch, args.max_rss_gb)}
    report["sizes"] = sizes(root)
    report["open"] = open_cost(root, args.dim)
    print(json.dumps(report["open"]), flush=True)
    store = open_store(root, args.dim)
    if not args.hybrid_only:
        queries = make_queries(args.queries, args.dim)
        t0 = time.perf_counter()
        truth = exact_topk(queries, args.n, args.dim, args.batch)
        report["exact_seconds"] = round(time.perf_counter() - t0, 1)
        nprobes, reranks = [int(x) for x in args.nprobe.split(",")], [int(x) for x in args.rerank.split(",")]
        report["vector_search"] = vector_search(store, queries, truth, nprobes, reranks)
        report["keyword"] = keyword_search(store)
    if not args.skip_hybrid:
        report.update(hybrid(store, args.repeat, args.baseline))
    report["loadavg"] = Path("/proc/loadavg").read_text().split()[:3]
    report["after"] = rss_mb()
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
