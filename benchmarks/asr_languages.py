"""ASR per language: x real time, language-identification accuracy and word recall of the default routed
transcriber (tiny.en for English, whisper base for the rest, identification by base) on Debian's Asterisk
prompts (one studio voice per language, exact transcripts; fetched with apt, see tests/speech_packages.py).

    python benchmarks/asr_languages.py [--prompts 40] [--languages en fr es it ru] [--json out.json]

Per language, the first ``--prompts`` prompts of at least 2 s (by file name) are joined with 1.5 s pauses
into one clip and transcribed as one chunk. Columns:
    x real time     clip seconds / wall seconds of ``transcribe`` (models loaded before the clock starts)
    x RT (CPU)      clip seconds / (process CPU seconds / 2): what 2 free cores give on a machine shared
                    with other jobs (wall time there counts the other jobs too)
    region LID      share of prompts whose own detection (no video prior) names the right language
    utterance LID   share of utterance seconds stored with the right language (after the video prior)
    word recall     share of reference words found in the transcript (a rough check, not a WER)
A "before" row replays the old behaviour on French: tiny.en for everything, faster-whisper's six-step
temperature ladder, no identification.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from memindex.ingest.asr import FasterWhisperTranscriber  # noqa: E402
from memindex.ingest.asr_guards import GuardConfig  # noqa: E402
from memindex.ingest.records import AudioChunk  # noqa: E402
from tests.speech_packages import SR, Prompt, Unavailable, clip, prompts  # noqa: E402

_OLD_LADDER = GuardConfig(temperatures=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0))


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _flag_counts(utts: list) -> dict[str, int]:
    out: dict[str, int] = {}
    for u in utts:
        for f in u.flags:
            out[f] = out.get(f, 0) + 1
    return out


def measure(tr: FasterWhisperTranscriber, lang: str, parts: list[Prompt], model: str) -> dict:
    samples, spans = clip(parts, gap=1.5)
    tr.reset()
    t0, c0 = time.perf_counter(), time.process_time()
    utts = list(tr.transcribe(AudioChunk(start=0.0, samples=samples, sample_rate=SR)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    said = sum(u.end - u.start for u in utts) or 1.0
    right = sum(u.end - u.start for u in utts if u.language == lang)
    heard = set(_words(" ".join(u.text for u in utts)))
    ref = [w for p in parts for w in _words(p.text)]
    row = dict(
        language=lang,
        model=model,
        prompts=len(parts),
        seconds=round(len(samples) / SR, 1),
        x_real_time=round(len(samples) / SR / wall, 1),
        x_real_time_cpu=round(len(samples) / SR / (cpu / 2), 1),
        utterance_lid=round(right / said, 3),
        flags=_flag_counts(utts),
        word_recall=round(sum(w in heard for w in ref) / max(len(ref), 1), 3),
        low_quality=sum(u.quality != "ok" for u in utts),
        utterances=len(utts),
    )
    if tr._detector is not None:
        hits = [max(d, key=d.get) == lang for d in (tr._detector.probabilities(p.samples) for p in parts)]
        row["region_lid"] = round(sum(hits) / len(hits), 3)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prompts", type=int, default=40)
    ap.add_argument("--languages", nargs="+", default=["en", "fr", "es", "it", "ru"])
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    routed = FasterWhisperTranscriber()
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for lang in args.languages:
            try:
                found = prompts(lang, Path(work))
            except Unavailable as exc:
                print(f"skip {lang}: {exc}", file=sys.stderr)
                continue
            parts = [p for _, p in sorted(found.items()) if p.seconds >= 2.0][: args.prompts]
            model = "tiny.en" if lang == "en" else "base"
            rows.append(measure(routed, lang, parts, model))
            print(json.dumps(rows[-1]), flush=True)
            if lang == "fr":
                before = FasterWhisperTranscriber(language="en", guards=_OLD_LADDER)
                rows.append(measure(before, lang, parts[:10], "tiny.en (before: no LID, 6 temperatures)"))
                print(json.dumps(rows[-1]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
