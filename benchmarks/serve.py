"""Load on `memindex serve`: N concurrent clients (search and ask) while the single writer ingests a video.

    python benchmarks/serve.py --clients 8 --seconds 20

Builds a temporary store (hashing text vectors, no CLIP, OCR on, ASR off) with generated videos, starts
`memindex serve` in a subprocess, runs the clients as threads, and ingests one more video mid-run. Reports
requests/s and p50/p95 latency per operation, and checks every answer: HTTP 200, hits only from videos
that were ready, spans inside their video, the newly ingested video found only after its job is done.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUERIES = ["alpha", "bravo", "charlie 3", "delta four", "what is on the screen", "ALPHA 1", "echo"]


def build(tmp: Path) -> tuple[Path, Path]:
    from memindex.config import FrameEncoderConfig, StoreConfig, TextEncoderConfig
    from memindex.store import Store
    from tests.media import Scene, make_video

    media, store = tmp / "media", tmp / "store"
    media.mkdir()
    words = ["ALPHA 1", "BRAVO 2", "CHARLIE 3", "DELTA 4"]
    for i, w in enumerate(words):
        make_video(
            media / f"v{i}.mp4", [Scene(2.0, 20 * i), Scene(2.0, 90, w), Scene(2.0, 150 - 20 * i)], size=(320, 180)
        )
    make_video(
        media / "late.mp4", [Scene(3.0, 40, "ECHO 5"), Scene(3.0, 120), Scene(3.0, 10, "ECHO 5")], size=(640, 360)
    )
    cfg = StoreConfig(text=TextEncoderConfig(name="hashing"), frame=FrameEncoderConfig(enabled=False))
    Store(store, config=cfg).close()
    return media, store


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--port", type=int, default=8799)
    ap.add_argument("--ask-share", type=float, default=0.25, help="share of requests that are ask")
    args = ap.parse_args()
    import httpx

    tmp = Path(tempfile.mkdtemp(prefix="memindex-serve-bench-"))
    media, store = build(tmp)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    cmd = [
        sys.executable,
        "-m",
        "memindex.cli",
        "serve",
        "--store",
        str(store),
        "--port",
        str(args.port),
        "--allow",
        str(media),
        "--no-asr",
    ]
    server = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{args.port}"
    http = httpx.Client(base_url=url, timeout=120)
    try:
        _wait_up(http)
        for i in range(4):
            _ingest(http, str(media / f"v{i}.mp4"))
        ready = {v["id"]: v["duration"] for v in http.get("/v1/videos").json()["videos"]}
        args.store_dir = store
        report = _load(url, args, ready, http, str(media / "late.mp4"))
    finally:
        server.terminate()
        server.wait(10)
    print(json.dumps(report, indent=2))


def _wait_up(http) -> None:  # type: ignore[no-untyped-def]
    for _ in range(200):
        try:
            if http.get("/v1/health").status_code == 200:
                return
        except Exception:  # noqa: BLE001  (not listening yet)
            time.sleep(0.1)
    raise SystemExit("the server did not start")


def _ingest(http, path: str) -> dict:  # type: ignore[no-untyped-def]
    job = http.post("/v1/videos", json={"path": path}).json()
    while job["status"] not in ("done", "failed"):
        time.sleep(0.1)
        job = http.get(f"/v1/jobs/{job['id']}").json()
    return job


def _load(url: str, args, ready: dict, admin, late: str) -> dict:  # type: ignore[no-untyped-def]
    import httpx

    lat: dict[str, list[float]] = {"search": [], "ask": []}
    problems: list[str] = []
    late_state: dict = {"id": None, "done_at": None}
    late_hits: list[float] = []
    stop = threading.Event()
    lock = threading.Lock()

    def check_hits(hits: list[dict], t_recv: float) -> None:
        for h in hits:
            vid = h["video_id"]
            if vid in ready:
                if not (0 <= h["start"] <= h["end"] <= ready[vid] + 0.05):
                    problems.append(f"span {h['start']}-{h['end']} outside {vid}")
            elif vid == late_state["id"]:
                late_hits.append(t_recv)  # checked against the commit time once the run is over
            else:
                problems.append(f"a hit from unknown video {vid}")

    def client(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=url, timeout=120) as http:
            while not stop.is_set():
                q = rng.choice(QUERIES)
                kind = "ask" if rng.random() < args.ask_share else "search"
                t0 = time.perf_counter()
                if kind == "search":
                    r = http.post("/v1/search", json={"query": q, "k": 10})
                else:
                    r = http.post("/v1/ask", json={"question": f"where is {q}?", "max_steps": 3})
                dt = time.perf_counter() - t0
                with lock:
                    lat[kind].append(dt)
                    if r.status_code != 200:
                        problems.append(f"{kind} -> {r.status_code} {r.text[:100]}")
                        continue
                    body = r.json()
                    check_hits(body["hits"] if kind == "search" else body.get("evidence", []), time.time())

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    t_start = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(args.seconds * 0.2)
    from memindex.ingest.pipeline import video_id_for

    late_state["id"] = video_id_for(late)[0]
    t_ing = time.monotonic()
    job = _ingest(admin, late)
    late_state["done_at"] = time.monotonic()
    ingest_s = late_state["done_at"] - t_ing
    remaining = args.seconds - (time.monotonic() - t_start)
    if remaining > 0:
        time.sleep(remaining)
    stop.set()
    for t in threads:
        t.join()
    wall = time.monotonic() - t_start
    committed = _ready_time(args.store_dir, late_state["id"])
    early = [t for t in late_hits if t < committed]
    if early:
        problems.append(f"{len(early)} answers arrived holding the video being ingested before it was committed")
    found_late = admin.post("/v1/search", json={"query": "echo", "k": 5}).json()["hits"]
    if job["status"] != "done" or not any(h["video_id"] == late_state["id"] for h in found_late):
        problems.append(f"the late video is not searchable after its job: {job['status']}")
    out = {
        "late_video_hits": len(late_hits),
        "clients": args.clients,
        "seconds": round(wall, 1),
        "ingest_during_load_s": round(ingest_s, 2),
        "problems": len(problems),
        "first_problems": problems[:5],
    }
    for kind, xs in lat.items():
        out[kind] = {
            "requests": len(xs),
            "per_s": round(len(xs) / wall, 1),
            "p50_ms": round(1000 * statistics.median(xs), 1) if xs else None,
            "p95_ms": round(1000 * percentile(xs, 95), 1) if xs else None,
        }
    out["total_per_s"] = round(sum(len(x) for x in lat.values()) / wall, 1)
    return out


def _ready_time(store: Path, video_id: str) -> float:
    """When the video's row last changed (its switch to ready), as a Unix time, from the catalog."""
    import sqlite3
    from datetime import datetime, timezone

    db = sqlite3.connect(store / "collections" / "default" / "catalog.sqlite")
    (stamp,) = db.execute("SELECT updated_at FROM videos WHERE id = ?", (video_id,)).fetchone()
    db.close()
    when = datetime.fromisoformat(stamp)
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


if __name__ == "__main__":
    main()
