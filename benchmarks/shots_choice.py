"""Which shot detector ingest uses by default, measured on real and generated video.

    python benchmarks/shots_choice.py [--end SECONDS]

Decodes each video once (as ingest does: reference frames only, 256-px analysis frames; and once with every
frame) and feeds the same frames to every PySceneDetect detector, then scores the cuts against a reference
with a tolerance of 0.5 s: bbb.mp4 against ``bbb.scenecuts_ffmpeg_scene0.4.txt`` (ffmpeg scene score > 0.4:
a machine list, not hand-checked: it misses soft transitions a detector may rightly report), and a
generated video whose cuts are known by construction. Prints precision, recall, F1 and detector seconds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MEDIA = ROOT.parent / "shared" / "media" / "video"


def score(found: list[float], truth: list[float], tol: float = 0.5) -> tuple[float, float, float]:
    unmatched = list(truth)
    tp = 0
    for cut in found:
        near = min(unmatched, key=lambda t: abs(t - cut), default=None)
        if near is not None and abs(near - cut) <= tol:
            unmatched.remove(near)
            tp += 1
    p = tp / len(found) if found else 0.0
    r = tp / len(truth) if truth else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def run(path: str, truth: list[float], end: float | None, skip_nonref: bool) -> list[tuple]:
    from memindex.ingest.decode import decode_frames
    from memindex.ingest.shots import SHOT_DETECTORS, make_shot_detector

    dets = {name: make_shot_detector(name) for name in SHOT_DETECTORS}
    cuts: dict[str, list[float]] = {name: [] for name in dets}
    secs = dict.fromkeys(dets, 0.0)
    t0 = time.perf_counter()
    for f in decode_frames(path, skip_nonref=skip_nonref, end=end):
        for name, det in dets.items():
            s = time.perf_counter()
            cuts[name] += det.feed(f.t, f.small)
            secs[name] += time.perf_counter() - s
    decode_s = time.perf_counter() - t0 - sum(secs.values())
    rows = []
    for name, det in dets.items():
        cuts[name] += det.flush()
        p, r, f1 = score(cuts[name], [t for t in truth if end is None or t <= end])
        rows.append(
            (
                Path(path).name,
                "ref only" if skip_nonref else "all",
                name,
                len(cuts[name]),
                p,
                r,
                f1,
                secs[name],
                decode_s,
            )
        )
    return rows


def main() -> None:
    from tests.media import Scene, make_video

    ap = argparse.ArgumentParser()
    ap.add_argument("--end", type=float, default=None)
    args = ap.parse_args()
    bbb_truth = [float(x) for x in (MEDIA / "bbb.scenecuts_ffmpeg_scene0.4.txt").read_text().split()]
    with tempfile.TemporaryDirectory() as tmp:
        gen = Path(tmp) / "gen.mp4"
        scenes = [Scene(1.0 + (i % 4) * 0.7, (i * 37) % 180, "TITLE" if i % 5 == 0 else None) for i in range(30)]
        gen_truth = make_video(gen, scenes)
        rows = []
        for skip in (True, False):
            rows += run(str(gen), gen_truth, None, skip)
            rows += run(str(MEDIA / "bbb.mp4"), bbb_truth, args.end, skip)
    print("| video | frames | detector | cuts | precision | recall | F1 | detector s | decode s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for v, fr, name, n, p, r, f1, s, d in rows:
        print(f"| {v} | {fr} | {name} | {n} | {p:.2f} | {r:.2f} | {f1:.2f} | {s:.1f} | {d:.1f} |")


if __name__ == "__main__":
    main()
