"""Page load of the web UI: server time (request to last byte over loopback, p50/p95) and, in headless
Chromium, DOM-ready and load (navigation timing, p50) for the library and every video page of a store; and
the library on a synthetic archive of N videos (catalog rows only), to show it does not grow with N.

    python benchmarks/ui.py --store /tmp/shared-store [--repeat 20]
    python benchmarks/ui.py --synthetic 10000 --synthetic-dir /tmp/ui-synthetic
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import httpx  # noqa: E402

from memindex.server.http import create_app  # noqa: E402
from memindex.server.service import Service, ServiceConfig  # noqa: E402

NAV = (
    "const n = performance.getEntriesByType('navigation')[0]; return [n.responseEnd, "
    "n.domContentLoadedEventEnd, n.loadEventEnd];"
)


@contextlib.contextmanager
def serving(svc: Service) -> Iterator[str]:
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(svc, mcp=False), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))], 1)


def server_times(url: str, repeat: int) -> dict:
    with httpx.Client() as client:
        first = client.get(url)
        first.raise_for_status()
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            client.get(url).raise_for_status()
            times.append((time.perf_counter() - t0) * 1000)
    return {"bytes": len(first.content), "server_p50_ms": pct(times, 50), "server_p95_ms": pct(times, 95)}


def browser():  # type: ignore[no-untyped-def]
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"):
        opts.add_argument(arg)
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    return webdriver.Chrome(
        options=opts, service=DriverService(shutil.which("chromedriver") or "/usr/bin/chromedriver")
    )


def dom_times(driver, url: str, repeat: int) -> dict:  # type: ignore[no-untyped-def]
    """Navigation timing of ``repeat`` loads (the browser's cache warm after the first, as for a user)."""
    driver.get(url)
    rows = []
    for _ in range(repeat):
        driver.get(url)
        rows.append(driver.execute_script(NAV))
    return {
        "response_p50_ms": pct([r[0] for r in rows], 50),
        "dom_ready_p50_ms": pct([r[1] for r in rows], 50),
        "dom_ready_min_ms": pct([r[1] for r in rows], 0),
        "load_p50_ms": pct([r[2] for r in rows], 50),
    }


def bench_store(store: Path, repeat: int, with_browser: bool = True) -> dict:
    svc = Service(ServiceConfig(store=store, resume=False))
    driver = browser() if with_browser else None
    out: dict = {"store": str(store), "pages": {}}
    try:
        videos = svc.reader().videos()
        out["videos"] = len(videos)
        pages = {"library": "/ui/"} | {f"video {Path(v['uri']).name}": f"/ui/videos/{v['id']}" for v in videos[:4]}
        with serving(svc) as url:
            for name, path in pages.items():
                row = server_times(url + path, repeat)
                if driver is not None:
                    row |= dom_times(driver, url + path, max(3, repeat // 4))
                out["pages"][name] = row
    finally:
        if driver is not None:
            driver.quit()
        svc.close()
    return out


def build_synthetic(root: Path, n: int) -> Path:
    """A catalog of ``n`` ready videos, each with its stage runs and ten English utterances (no media)."""
    from memindex.catalog.models import StageRun, Utterance, Video
    from memindex.config import FrameEncoderConfig, StoreConfig, TextEncoderConfig
    from memindex.store import Store

    if (root / "collections" / "default" / "catalog.sqlite").exists():
        return root
    cfg = StoreConfig(text=TextEncoderConfig(name="hashing"), frame=FrameEncoderConfig(enabled=False))
    store = Store(root, config=cfg)
    stages = ("shots", "keyframes", "asr", "ocr", "levels", "semantic", "visual")
    for lo in range(0, n, 2000):
        ids = [f"{i:016x}" for i in range(lo, min(n, lo + 2000))]
        with store.write() as txn:
            txn.session.add_all(
                [
                    Video(
                        id=v,
                        uri=f"/archive/{int(v, 16):06d}.mp4",
                        sha256=v * 4,
                        size_bytes=1,
                        duration=600.0 + int(v, 16) % 300,
                        status="ready",
                    )
                    for v in ids
                ]
            )
            txn.session.flush()
            for v in ids:
                txn.session.add_all(
                    [StageRun(video_id=v, stage=s, status="pending" if s == "visual" else "done") for s in stages]
                )
                txn.session.add_all(
                    [
                        Utterance(video_id=v, start=k * 30.0, end=k * 30.0 + 5, text="words", language="en")
                        for k in range(10)
                    ]
                )
    store.close()
    return root


def table(result: dict) -> str:
    lines = [
        "| page | bytes | server p50 ms | server p95 ms | DOM-ready p50 (min) ms | load p50 ms |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in result["pages"].items():
        lines.append(
            f"| {name} | {r['bytes']} | {r['server_p50_ms']} | {r['server_p95_ms']} | "
            f"{r.get('dom_ready_p50_ms', '-')} ({r.get('dom_ready_min_ms', '-')}) | {r.get('load_p50_ms', '-')} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", type=Path)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--synthetic", type=int, help="also time the library on a synthetic archive of N videos")
    ap.add_argument("--synthetic-dir", type=Path, default=Path("/tmp/ui-synthetic"))
    ap.add_argument("--no-browser", action="store_true", help="server time only")
    args = ap.parse_args()
    results = []
    if args.store:
        results.append(bench_store(args.store, args.repeat, not args.no_browser))
    if args.synthetic:
        t0 = time.perf_counter()
        root = build_synthetic(args.synthetic_dir / str(args.synthetic), args.synthetic)
        built = time.perf_counter() - t0
        res = bench_store(root, args.repeat, not args.no_browser)
        res["built_s"] = round(built, 1)
        res["pages"] = {k: v for k, v in res["pages"].items() if k == "library"}
        results.append(res)
    for res in results:
        print(json.dumps({k: v for k, v in res.items() if k != "pages"}))
        print(table(res))
    if not results:
        ap.error("give --store and/or --synthetic")


if __name__ == "__main__":
    main()
