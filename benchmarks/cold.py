"""Cold and warm ``memindex query`` (issue 11): a fresh process per cold run vs a second query in one process.

    python benchmarks/cold.py --store /tmp/coldstore [--baseline /tmp/cold_base] [--runs 5] [--json out.json]

Per code tree (this checkout, and with ``--baseline`` a tree of the code before the change, e.g. ``git archive
<commit> | tar -x -C /tmp/cold_base``, put first on PYTHONPATH), ``--runs`` times each:
  * cold: ``python -m memindex query TEXT --store S`` in a fresh interpreter, wall clock from outside;
  * breakdown: a fresh interpreter that times ``import memindex``, ``memindex.open``, the first search (which
    loads encoders and tiers) and a second search (warm), and lists the heavy packages it imported.
Medians are reported with /proc/loadavg before each run; the machine is shared, so read the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HEAVY = ("torch", "transformers", "sentence_transformers", "sklearn", "scipy", "open_clip", "faiss", "alembic")
DRIVER = """
import json, sys, time
t0 = time.perf_counter()
import memindex
t1 = time.perf_counter()
index = memindex.open(sys.argv[1])
t2 = time.perf_counter()
first = index.search(sys.argv[2], k=10)
t3 = time.perf_counter()
second = index.search(sys.argv[2], k=10)
t4 = time.perf_counter()
assert [h.to_dict() for h in first] == [h.to_dict() for h in second]
print(json.dumps({"import_s": t1 - t0, "open_s": t2 - t1, "first_s": t3 - t2, "warm_s": t4 - t3,
                  "hits": [h.to_dict() for h in first],
                  "heavy": sorted(m for m in sys.argv[3].split(",") if m in sys.modules)}, default=str))
"""


def _env(tree: Path | None) -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(tree), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _load() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def cold_cli(tree: Path | None, store: str, query: str) -> dict[str, float]:
    load = _load()
    t0 = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "memindex", "query", query, "--store", store],
        capture_output=True,
        text=True,
        env=_env(tree),
        cwd="/",
    )
    wall = time.perf_counter() - t0
    if run.returncode != 0:
        raise SystemExit(f"memindex query failed ({tree or 'this checkout'}):\n{run.stderr[-2000:]}")
    return {"wall_s": wall, "load": load}


def breakdown(tree: Path | None, store: str, query: str) -> dict[str, Any]:
    load = _load()
    run = subprocess.run(
        [sys.executable, "-c", DRIVER, store, query, ",".join(HEAVY)],
        capture_output=True,
        text=True,
        env=_env(tree),
        cwd="/",
    )
    if run.returncode != 0:
        raise SystemExit(f"the driver failed ({tree or 'this checkout'}):\n{run.stderr[-2000:]}")
    out: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    out["load"] = load
    return out


def measure(tree: Path | None, store: str, query: str, runs: int) -> dict[str, Any]:
    cold = [cold_cli(tree, store, query) for _ in range(runs)]
    parts = [breakdown(tree, store, query) for _ in range(runs)]

    def med(rows: list[dict[str, Any]], key: str) -> float:
        return round(statistics.median(r[key] for r in rows), 4)

    return {
        "tree": str(tree) if tree else "this checkout",
        "cold_wall_s": med(cold, "wall_s"),
        "cold_runs_s": [round(r["wall_s"], 3) for r in cold],
        "import_s": med(parts, "import_s"),
        "open_s": med(parts, "open_s"),
        "first_query_s": med(parts, "first_s"),
        "warm_query_s": med(parts, "warm_s"),
        "heavy_imported": parts[-1]["heavy"],
        "loadavg": [r["load"] for r in cold + parts],
        "hits": parts[-1]["hits"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", default="/tmp/coldstore")
    ap.add_argument("--query", default="ask not what your country can do for you")
    ap.add_argument("--baseline", type=Path, help="a source tree of the code before the change")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args()
    results = {"after": measure(None, args.store, args.query, args.runs)}
    if args.baseline:
        results["before"] = measure(args.baseline, args.store, args.query, args.runs)
    for name, r in results.items():
        print(
            f"{name:6s} cold {r['cold_wall_s']:.2f} s (import {r['import_s']:.2f}, open {r['open_s']:.2f}, "
            f"first query {r['first_query_s']:.2f}) | warm {r['warm_query_s'] * 1000:.0f} ms | "
            f"heavy: {', '.join(r['heavy_imported']) or '-'} | load {min(r['loadavg']):.1f}-{max(r['loadavg']):.1f}"
        )
    if "before" in results:
        before, after = results["before"], results["after"]
        same = [h["doc_id"] for h in before["hits"]] == [h["doc_id"] for h in after["hits"]]
        print(
            f"cold after/before: {after['cold_wall_s'] / before['cold_wall_s']:.3f}; "
            f"warm after/before: {after['warm_query_s'] / before['warm_query_s']:.3f}; same hits: {same}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
