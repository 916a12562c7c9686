"""Ingest speed and memory: real-time factor (seconds of video per second of work) of each stage and of the
whole pipeline, and peak memory, each measured in its own process so peaks don't mix.

    python benchmarks/ingest.py [VIDEO] [--clip-seconds 120]

Default VIDEO: ../shared/media/video/bbb_narrated.mp4. Besides the full video, the whole pipeline also runs
on its first ``--clip-seconds`` (remuxed, no re-encode), so the peak-memory ratio long/short shows whether
memory stays flat as videos get longer. Results are ratios from one run on one machine.
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
    from ingest.decode import decode_frames

    n = sum(1 for _ in decode_frames(video))
    return {"frames": n}


def stage_shots(video: str) -> dict:
    from ingest.decode import decode_frames
    from ingest.shots import make_shot_detector

    det = make_shot_detector("adaptive")
    cuts = [c for f in decode_frames(video) for c in det.feed(f.t, f.small)] + det.flush()
    return {"cuts": len(cuts)}


def stage_ocr(video: str) -> dict:
    from ingest.decode import decode_frames
    from ingest.ocr import ScreenTextTracker, make_ocr_reader
    from ingest.records import SampledFrame

    tracker = ScreenTextTracker(make_ocr_reader("rapidocr"))
    lines = []
    t0 = time.perf_counter()
    for f in decode_frames(video):
        if f.rgb is not None:
            lines += tracker.feed(SampledFrame(f.t, f.rgb))
    lines += tracker.flush(f.t)
    s = tracker.stats
    return {"lines": len(lines), "reads": s.read, "read_s": round(s.read_seconds, 1),
            "prefilter_s": round(s.prefilter_seconds, 1), "budget_skipped": s.budget_skipped,
            "loop_s": round(time.perf_counter() - t0, 1)}


def stage_asr(video: str) -> dict:
    from ingest.asr import make_transcriber
    from ingest.audio import audio_chunks

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
    from ingest.decode import probe

    duration = probe(video).duration
    t0 = time.perf_counter()
    extra = globals()[f"stage_{stage}"](video)
    wall = time.perf_counter() - t0
    return {"stage": stage, "video_s": round(duration, 1), "wall_s": round(wall, 2),
            "rtf": round(duration / wall, 2), "peak_mb": round(_peak_mb()), **extra}


def _child(stage: str, video: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", stage, video], capture_output=True, text=True,
                         cwd=ROOT, check=False)
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("video", nargs="?", default=str(DEFAULT_VIDEO))
    ap.add_argument("--clip-seconds", type=float, default=120.0)
    ap.add_argument("--child", nargs=2, metavar=("STAGE", "VIDEO"))
    ap.add_argument("--stages", nargs="+", default=list(STAGES))
    args = ap.parse_args()
    if args.child:
        print(json.dumps(run_one(*args.child)))
        return
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
    print(f"peak memory, full video / first {args.clip_seconds:.0f} s: {full['peak_mb'] / short['peak_mb']:.2f}x "
          f"for {full['video_s'] / short['video_s']:.1f}x the length")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
