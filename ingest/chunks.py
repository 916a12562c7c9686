"""Time chunks of a long video: the parts a worker stage is split into, and how the driver stitches the parts'
records back into exactly what one pass over the whole video gives.

A video longer than ``IngestConfig.chunk_seconds`` (0: never) is analyzed as parts that run on the executor's
workers at once:

- ``frames``: part ``k`` owns ``[k * chunk_seconds, (k + 1) * chunk_seconds)``. It decodes from ``margins``'
  pre-roll before its start to the post-roll after its end, and keeps only the cuts, keyframes and
  finished screen-text lines of its own range. At each seam it records the whole state of the pass
  (``seam_state`` of the shot detector, the keyframe selector and the screen-text tracker) as it crosses
  it: the part before records it on the way out, the part after on the way in. Equal states mean the part
  after goes on exactly as one pass would, so the seam is exact; the lines on screen at a seam are joined
  into one. A seam whose states differ (a pre-roll too short for what the detector or the OCR read budget
  remember) is never guessed at: the driver analyzes the whole video's frames in one task instead.
- ``speech``: parts are runs of whole audio chunks (``AsrConfig.chunk_seconds``, cut in the quietest place,
  see ``ingest/audio.py``), which every part finds alike by reading the audio from the start (decoding
  audio is cheap; transcribing and diarizing it is not). ASR and diarization look at one audio chunk at a
  time, so a part transcribes its chunks exactly as one pass; the clustering of the voices across chunks
  (``SpeakerStage.speakers``) runs once on the driver over every part's turns. Language identification
  carries evidence from chunk to chunk, so speech is split only when the language is set
  (``asr.language``) or the backend has no such state (whisperx); otherwise it stays one task.

Text vectors of the stitched screen text and utterances are computed on the driver, once over the whole
list, as a single pass computes them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["Part", "margins", "visual_parts", "speech_parts", "speech_splits", "stitch_visual", "stitch_speech"]


@dataclass(frozen=True)
class Part:
    """One part of a worker stage: ``index`` of ``count``, owning ``[start, end)`` seconds (``end`` None: to the
    end of the video); speech parts own audio chunks ``[first_chunk, last_chunk)`` (None: to the end)."""

    stage: str
    index: int
    count: int
    start: float
    end: float | None
    first_chunk: int = 0
    last_chunk: int | None = None

    @property
    def first(self) -> bool:
        return self.index == 0

    @property
    def last(self) -> bool:
        return self.index == self.count - 1

    def owns(self, t: float) -> bool:
        return t >= self.start and (self.end is None or t < self.end)


def margins(cfg: Any) -> tuple[float, float]:
    """(pre-roll, post-roll) seconds of a frames part. The pre-roll lets the keyframe grid close a stretch
    twice, the screen-text tracker start a fresh reuse window and the shot detector forget its last cut
    before the seam; the post-roll lets the keyframes and cuts of the part's last seconds come out."""
    gap = cfg.keyframes.max_gap
    reuse = 10.0  # ScreenTextTracker.max_reuse
    pre = max(3 * gap, reuse + 2 * cfg.ocr.interval) + 4 * cfg.shots.min_shot + 2.0
    post = 2 * gap + 4 * cfg.shots.min_shot + 2.0
    return pre, post


def visual_parts(duration: float, chunk_seconds: float) -> list[Part]:
    """The frames parts of a video (one part: not split)."""
    if chunk_seconds <= 0 or duration <= chunk_seconds * 1.05:
        return [Part("frames", 0, 1, 0.0, None)]
    count = max(1, math.ceil(duration / chunk_seconds - 0.05))  # a remainder under 5% joins the last part
    return [
        Part("frames", k, count, k * chunk_seconds, None if k == count - 1 else (k + 1) * chunk_seconds)
        for k in range(count)
    ]


def speech_splits(cfg: Any) -> bool:
    """Whether speech may be split into parts: ASR with no state carried from one audio chunk to the next."""
    return cfg.asr.enabled and (cfg.asr.language is not None or cfg.asr.backend == "whisperx")


def speech_parts(duration: float, chunk_seconds: float, cfg: Any) -> list[Part]:
    """The speech parts of a video: runs of whole audio chunks, about ``chunk_seconds`` long each."""
    audio = cfg.asr.chunk_seconds
    per_part = max(1, round(chunk_seconds / audio)) if chunk_seconds > 0 else 0
    chunks = math.ceil(duration / audio - 1e-9)
    if not per_part or chunks <= per_part or not speech_splits(cfg):
        return [Part("speech", 0, 1, 0.0, None)]
    count = math.ceil(chunks / per_part)
    return [
        Part(
            "speech",
            k,
            count,
            k * per_part * audio,
            None if k == count - 1 else (k + 1) * per_part * audio,
            k * per_part,
            None if k == count - 1 else (k + 1) * per_part,
        )
        for k in range(count)
    ]


def _same(tail: tuple | None, head: tuple | None) -> bool:
    """Whether the pass's state leaving one part equals the state entering the next (a known detector's)."""
    return tail is not None and head is not None and tail[0] is not None and tail == head


def _join(before: Any, after: Any) -> Any:
    """A screen-text line seen on both sides of a seam: its start from before, its end from after, its best
    read the better one (the earlier on a tie, as one pass keeps it)."""
    from memindex.ingest.records import OcrLineRec

    best = after if after.confidence > before.confidence else before
    return OcrLineRec(before.start, after.end, best.text, best.confidence, best.box, best.frame_t)


def stitch_visual(parts: list[Any], text: Any) -> Any | None:
    """One ``VisualResult`` from the frames parts in order, or None when a seam is not exact (the states
    differ: the caller analyzes the whole video in one pass instead)."""
    from memindex.ingest.visual_pass import VisualResult, outcomes, shots_from

    out, cuts = VisualResult(), []
    offset, carried = 0, []
    for k, res in enumerate(parts):
        seam = res.seam
        if k:
            before = parts[k - 1].seam
            if not _same(before.tail, seam.head):
                return None
            offset += before.tail_shots - seam.head_shots
        for frame in res.frames:
            frame.shot_index += offset
        out.frames.extend(res.frames)
        cuts.extend(seam.cuts)
        out.ocr.extend(
            ln if mark is None else _join(carried[mark], ln) for ln, mark in zip(res.ocr, seam.ocr_marks, strict=True)
        )
        carried = [ln if mark is None else _join(carried[mark], ln) for mark, ln in seam.ocr_open]
    out.decoded_until = parts[-1].decoded_until
    out.shots = shots_from(cuts, out.decoded_until)
    if out.ocr:
        out.ocr_vectors = text.embed([ln.text for ln in out.ocr])
    shots, _, visual, ocr = parts[0].outcomes
    seconds = sum(p.outcomes[0].seconds for p in parts)
    out.outcomes = outcomes(out, shots.model, visual, ocr.model if ocr.status == "done" else None, seconds)
    return out


def stitch_speech(parts: list[Any], text: Any, cfg: Any) -> Any:
    """One ``SpeechRecords`` from the speech parts in order: utterances joined, the voices of every part
    clustered once (as one pass does at its end), the text embedded once."""
    from memindex.ingest.commit import speech_detail
    from memindex.ingest.diarize import SpeakerStage
    from memindex.ingest.speech import SpeakerRecords, SpeakerTurns, SpeechRecords
    from memindex.ingest.work import Outcome

    failed_speakers = next((p.speakers for p in parts if isinstance(p.speakers, Outcome)), None)
    failed = next((p for p in parts if p.asr.status == "failed"), None)
    if failed is not None:
        return SpeechRecords([], None, failed.asr, failed_speakers)
    utts = [u for p in parts for u in p.utterances]
    spoken = [u.text for u in utts if u.text]
    vectors = text.embed(spoken) if spoken else None
    speakers: Any = failed_speakers
    voices = [p.speakers for p in parts if isinstance(p.speakers, SpeakerTurns)]
    if speakers is None and voices:
        stage = SpeakerStage(None, cfg.speakers)  # type: ignore[arg-type]  # clustering only: no diarizer
        stage.turns = [turn for v in voices for turn in v.turns]
        groups, clusters = stage.speakers()
        speakers = SpeakerRecords(voices[0].name, groups, clusters, sum(v.seconds for v in voices))
    asr = parts[0].asr
    seconds = sum(p.asr.seconds for p in parts)
    return SpeechRecords(utts, vectors, Outcome("asr", "done", asr.model, speech_detail(utts), seconds), speakers)
