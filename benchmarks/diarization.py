"""Diarization error rate of ``ingest.diarize`` on the pyannote sample (vs its sample.rttm) and on the phone
call at 400-430 s inside bbb_narrated.mp4 (the same recording mixed over a music bed; reference = the rttm
shifted by 400 s). Writes benchmarks/diarization.md.

    python benchmarks/diarization.py [--threshold 0.35 ...]

DER (NIST style, frame-based at 10 ms): frames within ``collar`` (0.25 s) of a reference turn boundary are not
scored; per scored frame with ``R`` reference and ``H`` hypothesis speakers and ``C`` correctly mapped ones,
miss = max(0, R - H), false alarm = max(0, H - R), confusion = min(R, H) - C. Reference and hypothesis speakers
are mapped one-to-one to maximise overlap (Hungarian). DER = (miss + false alarm + confusion) / sum(R).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

# benchmarks/ingest.py would shadow the ``ingest`` package: the checkout root goes first.
sys.path[0] = str(Path(__file__).resolve().parents[1])
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

MEDIA = Path(os.environ.get("MEMINDEX_SHARED_MEDIA", Path(__file__).resolve().parents[2] / "shared" / "media"))
SAMPLE = MEDIA / "speech" / "pyannote_sample"
STEP = 0.01


def read_rttm(path: Path, offset: float = 0.0) -> list[tuple[float, float, str]]:
    out = []
    for line in path.read_text().splitlines():
        f = line.split()
        if f and f[0] == "SPEAKER":
            start = float(f[3]) + offset
            out.append((start, start + float(f[4]), f[7]))
    return out


def _matrix(turns: list[tuple[float, float, str]], n: int, t0: float) -> tuple[np.ndarray, list[str]]:
    names = sorted({s for _, _, s in turns})
    m = np.zeros((len(names), n), bool)
    for a, b, s in turns:
        m[names.index(s), max(0, int(round((a - t0) / STEP))):max(0, int(round((b - t0) / STEP)))] = True
    return m, names


def der(ref: list[tuple[float, float, str]], hyp: list[tuple[float, float, str]], collar: float = 0.25,
        span: tuple[float, float] | None = None) -> dict[str, float]:
    """Diarization error rate and its parts (seconds) of ``hyp`` against ``ref`` (see the module doc)."""
    from scipy.optimize import linear_sum_assignment

    t0, t1 = span or (0.0, max(b for _, b, _ in ref + hyp))
    n = int(round((t1 - t0) / STEP))
    r, _ = _matrix([x for x in ref if x[1] > t0 and x[0] < t1], n, t0)
    h, _ = _matrix([x for x in hyp if x[1] > t0 and x[0] < t1], n, t0) if hyp else (np.zeros((0, n), bool), [])
    scored = np.ones(n, bool)
    for a, b, _ in ref:
        for edge in (a, b):
            scored[max(0, int((edge - collar - t0) / STEP)):max(0, int((edge + collar - t0) / STEP))] = False
    r, h = r[:, scored], h[:, scored]
    overlap = r.astype(np.int64) @ h.T.astype(np.int64) if len(h) else np.zeros((len(r), 0))
    rows, cols = linear_sum_assignment(-overlap) if overlap.size else ([], [])
    correct = np.zeros(r.shape[1], np.int64)
    for i, j in zip(rows, cols, strict=True):
        correct += r[i] & h[j]
    nr, nh = r.sum(0), h.sum(0)
    miss, fa = np.maximum(0, nr - nh).sum(), np.maximum(0, nh - nr).sum()
    conf = (np.minimum(nr, nh) - correct).sum()
    total = max(int(nr.sum()), 1)
    return {"der": (miss + fa + conf) / total, "miss": miss * STEP, "false_alarm": fa * STEP,
            "confusion": conf * STEP, "speech": total * STEP, "speakers": len(h)}


def hypothesis(path: Path, cfg, start: float = 0.0, end: float | None = None):  # type: ignore[no-untyped-def]
    """Diarize the file's audio (the pipeline's own chunks) in [start, end); turns labelled by cluster."""
    from ingest.audio import audio_chunks
    from ingest.diarize import ResemblyzerDiarizer, SpeakerStage, _video_clusters
    from ingest.records import AudioChunk

    stage = SpeakerStage(ResemblyzerDiarizer(cfg), cfg)
    for chunk in audio_chunks(path, chunk_seconds=300.0):
        a = max(0, int((start - chunk.start) * chunk.sample_rate))
        b = len(chunk.samples) if end is None else max(0, int((end - chunk.start) * chunk.sample_rate))
        if b > a:
            stage.feed(AudioChunk(chunk.start + a / chunk.sample_rate, chunk.samples[a:b], chunk.sample_rate))
    groups = _video_clusters(stage.turns, cfg.speaker_threshold)
    return [(t.start, t.end, f"S{g}") for g, (members, _) in enumerate(groups) for t in members]


def main(argv: list[str] | None = None) -> int:
    from ingest.diarize import DiarizeConfig

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threshold", type=float, nargs="*", default=[DiarizeConfig().cluster_threshold])
    ap.add_argument("--out", default=str(Path(__file__).with_name("diarization.md")))
    ap.add_argument("--skip-video", action="store_true")
    args = ap.parse_args(argv)
    rows = []
    for th in args.threshold:
        cfg = DiarizeConfig(cluster_threshold=th)
        t0 = time.perf_counter()
        ref = read_rttm(SAMPLE / "sample.rttm")
        res = der(ref, hypothesis(SAMPLE / "sample.wav", cfg), span=(0.0, 30.0))
        rows.append(("pyannote sample.wav (30 s)", th, res, time.perf_counter() - t0))
        if not args.skip_video:
            t0 = time.perf_counter()
            ref = read_rttm(SAMPLE / "sample.rttm", offset=400.0)
            hyp = hypothesis(MEDIA / "video" / "bbb_narrated.mp4", cfg, 400.0, 430.0)
            res = der(ref, hyp, span=(400.0, 430.0))
            rows.append(("bbb_narrated.mp4 400-430 s (music bed)", th, res, time.perf_counter() - t0))
    lines = ["# Diarization error rate", "",
             f"Measured by `benchmarks/diarization.py` ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, CPU). "
             "DER with a 0.25-s collar, overlap scored, Hungarian speaker mapping.", "",
             "| audio | cluster threshold | DER "
             "| miss s | false alarm s | confusion s | ref speech s | speakers | time s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, th, r, secs in rows:
        lines.append(f"| {name} | {th} | {r['der']:.1%} | {r['miss']:.2f} | {r['false_alarm']:.2f} | "
                     f"{r['confusion']:.2f} | {r['speech']:.2f} | {r['speakers']} | {secs:.1f} |")
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
