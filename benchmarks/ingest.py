"""Ingest speed and memory: real-time factor (seconds of video per second of work) of each stage and of the
whole pipeline, and peak memory, each measured in its own process so peaks don't mix.

    python benchmarks/ingest.py [VIDEO] [--clip-seconds 120]
    python benchmarks/ingest.py --executors inline local ray [--workers 2] [VIDEO...]
    python benchmarks/ingest.py --write [--docs 5000]
    python benchmarks/ingest.py --long 60 [--executors inline local] [--workers 2] [--keep DIR] [--light]

Default VIDEO: ../shared/media/video/bbb_narrated.mp4. Besides the full video, the whole pipeline also runs
on its first ``--clip-seconds`` (remuxed, no re-encode), so the peak-memory ratio long/short shows whether
memory stays flat as videos get longer. ``--executors`` ingests the videos (default: bbb_narrated.mp4 and
trailer_bbb.mp4) as one batch with each executor, each in its own process, and prints x real time, the
stage profile of the inline run (``stage_runs.seconds``) and whether every executor gave the inline index;
``ray`` needs a head at ``MEMINDEX_RAY_ADDRESS`` (run it through ``scripts/ray_ns.sh``). ``--write`` measures
docs per second through the write path: the speech group's commit (utterances, words, docs with vectors)
as ORM objects (how commits were written before issue 10) and as the multi-row inserts of ``memindex.ingest.commit``.
``--long MINUTES`` builds a video of that length from VIDEO laid end to end (remuxed, no re-encode) and ingests
it with each of ``--executors`` (default inline and local; ``--workers N``; the default config, so a long
video runs in time chunks where the executor runs tasks at once; ``--chunk-seconds`` overrides), each in its
own process: x real time, CPU seconds (driver and local workers), peak memory, the stage profile, and whether
every executor gave the same index; then, when inline is among them, inline on a 10-minute one, for the peak-memory
ratio 60/10. ``--keep DIR`` keeps videos and stores there, so a Ray run inside its namespace is compared with the
others. ``--light`` turns ASR off (frames only).
Results are ratios from one run on one machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
# This file is named like the `ingest` package: keep its folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
DEFAULT_VIDEO = ROOT.parent / "shared" / "media" / "video" / "bbb_narrated.mp4"
STAGES = ("decode", "shots", "ocr", "asr", "pipeline")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stage_decode(video: str) -> dict:
    from memindex.ingest.decode import decode_frames

    n = sum(1 for _ in decode_frames(video))
    return {"frames": n}


def stage_shots(video: str) -> dict:
    from memindex.ingest.decode import decode_frames
    from memindex.ingest.shots import make_shot_detector

    det = make_shot_detector("adaptive")
    cuts = [c for f in decode_frames(video) for c in det.feed(f.t, f.small)] + det.flush()
    return {"cuts": len(cuts)}


def stage_ocr(video: str) -> dict:
    from memindex.ingest.decode import decode_frames
    from memindex.ingest.ocr import ScreenTextTracker, make_ocr_reader
    from memindex.ingest.records import SampledFrame

    tracker = ScreenTextTracker(make_ocr_reader("rapidocr"))
    lines = []
    t0 = time.perf_counter()
    for f in decode_frames(video):
        if f.rgb is not None:
            lines += tracker.feed(SampledFrame(f.t, f.rgb))
    lines += tracker.flush(f.t)
    s = tracker.stats
    return {
        "lines": len(lines),
        "reads": s.read,
        "read_s": round(s.read_seconds, 1),
        "prefilter_s": round(s.prefilter_seconds, 1),
        "budget_skipped": s.budget_skipped,
        "loop_s": round(time.perf_counter() - t0, 1),
    }


def stage_asr(video: str) -> dict:
    from memindex.ingest.asr import make_transcriber
    from memindex.ingest.audio import audio_chunks

    asr = make_transcriber("faster-whisper")
    utts = [u for chunk in audio_chunks(video) for u in asr.transcribe(chunk)]
    return {"utterances": len(utts), "words": sum(len(u.words) for u in utts)}


def stage_pipeline(video: str) -> dict:
    import memindex

    with tempfile.TemporaryDirectory() as tmp:
        index = memindex.open(Path(tmp) / "store")
        report = index.ingest([video])
        stats = index.stats()
    assert report.ok, report.failed
    return {"shots": stats["segments"]["shot"], "rows": stats["rows"]}


def run_one(stage: str, video: str) -> dict:
    from memindex.ingest.decode import probe

    duration = probe(video).duration
    t0 = time.perf_counter()
    extra = globals()[f"stage_{stage}"](video)
    wall = time.perf_counter() - t0
    return {
        "stage": stage,
        "video_s": round(duration, 1),
        "wall_s": round(wall, 2),
        "rtf": round(duration / wall, 2),
        "peak_mb": round(_peak_mb()),
        **extra,
    }


def _child(stage: str, video: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", stage, video], capture_output=True, text=True, cwd=ROOT, check=False
    )
    if out.returncode:
        raise SystemExit(f"{stage} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def make_clip(video: str, seconds: float, out: Path) -> str:
    """The first ``seconds`` of ``video``, remuxed (packets copied, no re-encode)."""
    import av

    with av.open(video) as src, av.open(str(out), "w") as dst:
        streams = {s.index: dst.add_stream_from_template(s) for s in (src.streams.video[0], *src.streams.audio[:1])}
        for packet in src.demux(*[src.streams[i] for i in streams]):
            if packet.dts is None:
                continue
            if packet.pts is not None and float(packet.pts * packet.time_base) > seconds:
                continue
            packet.stream = streams[packet.stream.index]
            dst.mux(packet)
    return str(out)


EXECUTOR_VIDEOS = [DEFAULT_VIDEO, DEFAULT_VIDEO.parent / "trailer_bbb.mp4"]


def run_executor(name: str, workers: int, videos: list[str], store: str) -> dict:
    """One batch with one executor into a fresh store: x real time, peak memory (driver; its local workers)."""
    import memindex
    from memindex.ingest.decode import probe

    options = {"local": {"workers": workers}, "ray": {"address": os.environ.get("MEMINDEX_RAY_ADDRESS", "")}}
    total = sum(probe(v).duration for v in videos)
    t0 = time.perf_counter()
    with memindex.open(store) as index:
        report = index.ingest(videos, executor=name, **options.get(name, {}))
    wall = time.perf_counter() - t0
    assert report.ok, report.to_dict()
    workers_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "executor": name,
        "video_s": round(total, 1),
        "wall_s": round(wall, 1),
        "rtf": round(total / wall, 2),
        "driver_mb": round(_peak_mb()),
        "worker_mb": round(workers_mb) if name == "local" else None,
    }


def make_long(video: str, minutes: float, out: Path) -> str:
    """``video`` laid end to end until ``minutes`` long, packets copied with shifted timestamps (no re-encode)."""
    import av

    with av.open(video) as probe_src:
        length = float(probe_src.duration or 0) / 1_000_000
    with av.open(str(out), "w") as dst:
        t0, need = 0.0, minutes * 60.0
        outs: dict[int, object] = {}
        while t0 < need - 1e-6:
            with av.open(video) as src:
                ins = [src.streams.video[0], *src.streams.audio[:1]]
                if not outs:
                    outs = {s.index: dst.add_stream_from_template(s) for s in ins}
                for packet in src.demux(*ins):
                    if packet.dts is None or packet.pts is None:
                        continue
                    if t0 + float(packet.pts * packet.time_base) > need:
                        continue
                    shift = int(round(t0 / packet.time_base))
                    packet.pts, packet.dts = packet.pts + shift, packet.dts + shift
                    packet.stream = outs[packet.stream.index]
                    dst.mux(packet)
            t0 += length + 0.5  # a little gap: the next copy's first timestamps stay after this one's last
    return str(out)


def _cpu_s() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run_long(video: str, store: str, executor: str, workers: int, chunk_seconds: float | None, light: bool) -> dict:
    """One ingest of ``video`` with ``executor``: wall, CPU and peak memory (driver; largest local worker).
    ``chunk_seconds`` None: the default config's."""
    import memindex
    from memindex.ingest.config import AsrConfig, IngestConfig
    from memindex.ingest.decode import probe

    cfg = IngestConfig(asr=AsrConfig(enabled=not light))
    if chunk_seconds is not None:
        cfg = IngestConfig(chunk_seconds=chunk_seconds, asr=AsrConfig(enabled=not light))
    options = {"local": {"workers": workers}, "ray": {"address": os.environ.get("MEMINDEX_RAY_ADDRESS", "")}}
    length = probe(video).duration
    load0 = open("/proc/loadavg").read().split()[:3]
    t0, c0 = time.perf_counter(), _cpu_s()
    with memindex.open(store) as index:
        report = index.ingest([video], config=cfg, executor=executor, **options.get(executor, {}))
    wall = time.perf_counter() - t0
    assert report.ok, report.to_dict()
    return {
        "executor": executor,
        "video_s": round(length, 1),
        "chunk_s": cfg.chunk_seconds,
        "wall_s": round(wall, 1),
        "rtf": round(length / wall, 2),
        "cpu_s": round(_cpu_s() - c0, 1),  # driver and local workers (Ray's workers are not its children)
        "driver_mb": round(_peak_mb()),
        "worker_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
        "load_start": load0,
        "load_end": open("/proc/loadavg").read().split()[:3],
        "stages": stage_profile(store),
    }


def long_videos(
    video: str,
    minutes: float,
    chunk_seconds: float | None,
    workers: int,
    light: bool,
    executors: list[str],
    keep: str | None,
) -> None:
    """``video`` laid end to end to ``minutes``, ingested by each executor in its own process, then a 10-minute
    one inline (when inline is among them): x real time, CPU, peak memory, the stage profile, the peak-memory ratio
    long/10 min and whether every executor gave the first one's index. ``keep``: a folder to keep the videos
    and stores in (a later run with other executors, e.g. Ray inside its namespace, is compared with them)."""
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(keep or tmp)
        base.mkdir(parents=True, exist_ok=True)
        runs = [(minutes, name) for name in executors] + ([(10.0, "inline")] if "inline" in executors else [])
        rows = []
        for length, name in runs:
            long = base / f"long_{length:g}.mp4"
            if not long.exists():
                make_long(video, length, long)
            store = base / f"store_{length:g}_{name}"
            if store.exists():
                raise SystemExit(f"{store} exists: remove it or give another --keep folder")
            chunk = "default" if chunk_seconds is None else str(chunk_seconds)
            cmd = [sys.executable, __file__, "--child-long", str(long), str(store), name, str(workers), chunk]
            cmd += ["--light"] if light else []
            out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
            if out.returncode:
                raise SystemExit(f"{length:g} min, {name} failed:\n{out.stderr[-3000:]}")
            rows.append({"minutes": length, **json.loads(out.stdout.strip().splitlines()[-1])})
            print(json.dumps(rows[-1]), flush=True)
        stores = sorted(str(p) for p in base.glob(f"store_{minutes:g}_*"))
        same = dict(zip(stores, same_index(stores), strict=True))
    head = f"{'run':22s} {'video s':>8s} {'chunk s':>8s} {'wall s':>8s} {'x real time':>12s} {'CPU s':>8s}"
    print(f"{head} {'driver MB':>10s} {'worker MB':>10s} load (start; end)")
    for r in rows:
        name = f"{r['minutes']:g} min, {r['executor']}"
        print(
            f"{name:22s} {r['video_s']:8.1f} {r['chunk_s']:8g} {r['wall_s']:8.1f} {r['rtf']:12.2f} {r['cpu_s']:8.1f} "
            f"{r['driver_mb']:10d} {r['worker_mb']:10d} {' '.join(r['load_start'])}; {' '.join(r['load_end'])}"
        )
    for r in rows:
        print(f"stage seconds, {r['minutes']:g} min, {r['executor']}: {json.dumps(r['stages'])}")
    if "inline" in executors:
        long_run, short = rows[executors.index("inline")], rows[-1]
        peak = max(long_run["driver_mb"], long_run["worker_mb"]) / max(short["driver_mb"], short["worker_mb"])
        print(f"peak memory {minutes:g} min / 10 min (inline): {peak:.2f}x")
    print(f"same index as {stores[0]}: " + ", ".join(f"{Path(k).name} {v}" for k, v in same.items()))


def stage_profile(store: str) -> dict[str, float]:
    """Seconds per stage summed over the batch, from ``stage_runs``."""
    from sqlalchemy import func, select

    import memindex
    from memindex.catalog.models import StageRun

    with memindex.open(store, create=False) as index, index.store.Session() as s:
        rows = s.execute(select(StageRun.stage, func.sum(StageRun.seconds)).group_by(StageRun.stage)).all()
    return {stage: round(float(sec or 0.0), 1) for stage, sec in rows}


def same_index(stores: list[str]) -> list[bool]:
    sys.path.insert(0, str(ROOT))
    import memindex
    from tests.snapshot import snapshot

    snaps = []
    for store in stores:
        with memindex.open(store, create=False) as index:
            snaps.append(snapshot(index.store))
    for snap, store in zip(snaps[1:], stores[1:], strict=True):
        for part, tables in snap.items():
            for table, rows in tables.items():
                if rows != snaps[0][part].get(table):
                    extra, missing = rows - snaps[0][part][table], snaps[0][part][table] - rows
                    print(
                        f"{Path(store).name} differs in {part}.{table}: +{sum(extra.values())} "
                        f"-{sum(missing.values())}; e.g. +{str(list(extra)[:1])[:300]}",
                        f"-{str(list(missing)[:1])[:300]}",
                    )
    return [snap == snaps[0] for snap in snaps]


def executors(names: list[str], workers: int, videos: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        rows, stores = [], []
        for name in names:
            store = str(Path(tmp) / name)
            out = subprocess.run(
                [sys.executable, __file__, "--child-executor", name, str(workers), store, *videos],
                capture_output=True,
                text=True,
                cwd=ROOT,
                check=False,
            )
            if out.returncode:
                raise SystemExit(f"{name} failed:\n{out.stderr[-3000:]}")
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            stores.append(store)
        profile = stage_profile(stores[0])
        same = same_index(stores)
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(
        f"{'executor':10s} {'video s':>8s} {'wall s':>8s} {'x real time':>12s} {'driver MB':>10s} {'worker MB':>10s}"
        " same index as the first"
    )
    for r, ok in zip(rows, same, strict=True):
        print(
            f"{r['executor']:10s} {r['video_s']:8.1f} {r['wall_s']:8.1f} {r['rtf']:12.2f} {r['driver_mb']:10d} "
            f"{r['worker_mb'] or '-':>10} {ok}"
        )
    print("stage profile of the first run (seconds, summed over the batch):", json.dumps(profile))
    print(json.dumps({"runs": rows, "profile": profile, "same": same}))


def _old_speech_commit(txn, video_id, utts, vecs) -> None:  # type: ignore[no-untyped-def]
    """The speech group's commit as it was before issue 10: ORM objects for utterances, words and docs."""
    import numpy as np

    from memindex.catalog.models import Doc, Utterance, Word

    s = txn.session
    rows = [Utterance(video_id=video_id, start=u.start, end=u.end, text=u.text, language=u.language) for u in utts]
    s.add_all(rows)
    s.flush()
    for row, u in zip(rows, utts, strict=True):
        s.add_all(
            [
                Word(video_id=video_id, utterance_id=row.id, start=w.start, end=w.end, text=w.text, prob=w.prob)
                for w in u.words
            ]
        )
    first = txn._allocate(len(rows))
    s.add_all(
        [
            Doc(
                id=first + i,
                video_id=video_id,
                tier="speech",
                ref_id=r.id,
                start=r.start,
                end=r.end,
                text=r.text,
                vector=np.asarray(vecs[i], np.float32).tobytes(),
            )
            for i, r in enumerate(rows)
        ]
    )
    s.flush()
    ids = np.arange(first, first + len(rows), dtype=np.int64)
    txn.added.setdefault("speech", []).append((ids, np.asarray(vecs, np.float32)))


def write_path(n_docs: int, words: int, repeats: int = 3) -> None:
    """Docs per second through one speech-group commit (catalog rows, FTS, tier file) into a store whose tier
    is loaded, before and after."""
    import statistics

    import numpy as np

    from memindex.catalog.models import Video
    from memindex.config import FrameEncoderConfig, StoreConfig, TextEncoderConfig
    from memindex.ingest.commit import add_utterances
    from memindex.ingest.records import UtteranceRec, WordRec
    from memindex.store import Store

    def utterance(i: int) -> UtteranceRec:
        t = 2.0 * i
        said = tuple(WordRec(t + 0.15 * k, t + 0.15 * k + 0.1, f"w{k}", 0.9) for k in range(words))
        return UtteranceRec(t, t + 1.8, f"utterance {i} of a long talk about nothing much", said, language="en")

    utts = [utterance(i) for i in range(n_docs)]
    # The hashing encoder's 256 dimensions: no model to load inside the timed commit (MiniLM's are 384).
    vecs = np.random.default_rng(0).standard_normal((n_docs, 256)).astype(np.float32)
    cfg = StoreConfig(text=TextEncoderConfig(name="hashing"), frame=FrameEncoderConfig(enabled=False))
    results: dict[str, list[float]] = {"ORM objects (before)": [], "multi-row inserts (now)": []}
    for _ in range(repeats):
        for label, commit in zip(results, (_old_speech_commit, add_utterances), strict=True):
            with tempfile.TemporaryDirectory() as tmp:
                store = Store(Path(tmp) / "s", config=cfg)
                with store.write() as txn:
                    txn.session.add(Video(id="v1", uri="/v", sha256="0" * 64, size_bytes=1, status="ingesting"))
                with store.write() as txn:  # the tier exists and is loaded: the steady state of a batch
                    commit(txn, "v1", utts[:10], vecs[:10])
                t0 = time.perf_counter()
                with store.write() as txn:
                    commit(txn, "v1", utts[10:], vecs[10:])
                results[label].append((n_docs - 10) / (time.perf_counter() - t0))
                store.close()
    print(
        f"load average: {os.getloadavg()[0]:.1f}; {n_docs} speech docs with {words} words each, 256-d vectors, "
        f"median of {repeats}"
    )
    for label, rates in results.items():
        print(f"{label:26s} {statistics.median(rates):8.0f} docs/s  (runs: {', '.join(f'{r:.0f}' for r in rates)})")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("video", nargs="*", default=[str(DEFAULT_VIDEO)])
    ap.add_argument("--clip-seconds", type=float, default=120.0)
    ap.add_argument("--child", nargs=2, metavar=("STAGE", "VIDEO"))
    ap.add_argument("--child-executor", nargs=3, metavar=("NAME", "WORKERS", "STORE"))
    ap.add_argument("--stages", nargs="+", default=list(STAGES))
    ap.add_argument("--executors", nargs="+", choices=["inline", "local", "ray"])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--docs", type=int, default=5000)
    ap.add_argument("--words", type=int, default=10)
    ap.add_argument("--long", type=float, metavar="MINUTES")
    ap.add_argument("--chunk-seconds", type=float, default=None)
    ap.add_argument("--light", action="store_true")
    ap.add_argument("--keep", metavar="DIR")
    ap.add_argument("--child-long", nargs=5, metavar=("VIDEO", "STORE", "EXECUTOR", "WORKERS", "CHUNK"))
    args = ap.parse_args()
    if args.child_long:
        video, store, name, workers, chunk = args.child_long
        seconds = None if chunk == "default" else float(chunk)
        print(json.dumps(run_long(video, store, name, int(workers), seconds, args.light)))
        return
    if args.long:
        names = args.executors or ["inline", "local"]
        long_videos(args.video[0], args.long, args.chunk_seconds, args.workers, args.light, names, args.keep)
        return
    if args.child:
        print(json.dumps(run_one(*args.child)))
        return
    if args.child_executor:
        name, workers, store = args.child_executor
        print(json.dumps(run_executor(name, int(workers), args.video, store)))
        return
    if args.executors:
        videos = args.video if args.video != [str(DEFAULT_VIDEO)] else [str(v) for v in EXECUTOR_VIDEOS]
        executors(args.executors, args.workers, videos)
        return
    if args.write:
        write_path(args.docs, args.words)
        return
    args.video = args.video[0]
    rows = [_child(stage, args.video) for stage in args.stages]
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(args.video, args.clip_seconds, Path(tmp) / "clip.mp4")
        short = _child("pipeline", clip)
    short["stage"] = f"pipeline (first {args.clip_seconds:.0f} s)"
    rows.append(short)
    print(f"{'stage':28s} {'video s':>8s} {'wall s':>8s} {'x real time':>12s} {'peak MB':>8s}")
    for r in rows:
        print(f"{r['stage']:28s} {r['video_s']:8.1f} {r['wall_s']:8.2f} {r['rtf']:12.2f} {r['peak_mb']:8d}")
    full = next(r for r in rows if r["stage"] == "pipeline")
    print(
        f"peak memory, full video / first {args.clip_seconds:.0f} s: {full['peak_mb'] / short['peak_mb']:.2f}x "
        f"for {full['video_s'] / short['video_s']:.1f}x the length"
    )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
