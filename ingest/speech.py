"""The pipeline's ``speech`` stage: one pass over the audio chunks feeds ASR and the diarizer on a worker
(utterances, their text vectors, the video's speaker turns and centroids); the driver's commit matches the
voices to the collection's speaker entities, labels the words and writes it all in one transaction."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from memindex.errors import MemIndexError
from memindex.ingest.records import UtteranceRec

__all__ = ["SpeechRecords", "SpeakerRecords", "SpeakerTurns", "SpeechStage", "speaker_stage"]

log = logging.getLogger(__name__)


@dataclass
class SpeakerRecords:
    """The video's voices: (turns, centroid) per speaker, largest first, and how many clusters they were
    before clusters of one voice were merged."""

    name: str
    groups: list[tuple[list[Any], np.ndarray]]
    clusters: int
    seconds: float


@dataclass
class SpeakerTurns:
    """A speech part's voices before they are clustered across the video: (audio chunk index, turn)."""

    name: str
    turns: list[tuple[int, Any]]
    seconds: float


@dataclass
class SpeechRecords:
    utterances: list[UtteranceRec]
    vectors: np.ndarray | None  # one per utterance with text, in order
    asr: Any  # Outcome
    speakers: SpeakerRecords | SpeakerTurns | Any | None = None  # the voices, a failed Outcome, or None (off)


class SpeechStage:
    def produce(self, job: Any) -> SpeechRecords | None:
        from memindex.ingest.work import Outcome

        cfg = job.config
        if not job.info.has_audio:
            return SpeechRecords([], None, Outcome("asr", "skipped", None, "no audio stream"))
        if not cfg.asr.enabled:
            return None
        t0 = time.perf_counter()
        speakers = speaker_stage(cfg.speakers, job.models)
        try:
            asr, utts, speakers = _transcribe(job, speakers)
        except MemIndexError as exc:  # the speech tier of this video fails; its other tiers still land
            failed = Outcome("asr", "failed", cfg.asr.model, str(exc))
            return SpeechRecords([], None, failed, speakers if isinstance(speakers, Outcome) else None)
        spoken = [u.text for u in utts if u.text]
        vectors = job.models.text().embed(spoken) if spoken else None
        if speakers is not None and not isinstance(speakers, Outcome):
            groups, clusters = speakers.speakers()
            speakers = SpeakerRecords(speakers.diarizer.name, groups, clusters, speakers.seconds)
        from memindex.ingest.commit import speech_detail

        done = Outcome("asr", "done", asr.name[:256], speech_detail(utts), time.perf_counter() - t0)
        return SpeechRecords(utts, vectors, done, speakers)

    def produce_part(self, job: Any, part: Any) -> SpeechRecords:
        """The utterances and speaker turns of a part's audio chunks; the driver stitches the parts
        (``ingest/chunks.py``): it clusters the voices of all of them and embeds the text."""
        from memindex.ingest.work import Outcome

        cfg = job.config
        t0 = time.perf_counter()
        speakers = speaker_stage(cfg.speakers, job.models)
        try:
            asr, utts, speakers = _transcribe(job, speakers, part)
        except MemIndexError as exc:
            failed = Outcome("asr", "failed", cfg.asr.model, str(exc))
            return SpeechRecords([], None, failed, speakers if isinstance(speakers, Outcome) else None)
        if speakers is not None and not isinstance(speakers, Outcome):
            turns = [(part.first_chunk + i, turn) for i, turn in speakers.turns]
            speakers = SpeakerTurns(speakers.diarizer.name, turns, speakers.seconds)
        return SpeechRecords(utts, None, Outcome("asr", "done", asr.name[:256], "", time.perf_counter() - t0), speakers)

    def write_files(self, media: Any, video_id: str, rec: SpeechRecords) -> None:
        """Speech has no files."""

    def commit(self, txn: Any, video_id: str, rec: SpeechRecords, cfg: Any) -> None:
        from memindex.ingest.commit import add_utterances, record_outcome, record_stage
        from memindex.ingest.diarize import assign_words, match_speakers

        utts = rec.utterances
        if isinstance(rec.speakers, SpeakerRecords):
            sp = rec.speakers
            labelled, detail = match_speakers(
                txn.session, video_id, sp.groups, sp.clusters, cfg.speakers.speaker_threshold
            )
            utts = assign_words(utts, labelled)
            record_stage(txn, video_id, "speakers", "done", rec.speakers.name, detail, rec.speakers.seconds)
        elif rec.speakers is not None:
            log.error("speakers stage FAILED for video %s: %s; words get no speaker ids", video_id, rec.speakers.detail)
            record_outcome(txn, video_id, rec.speakers)
        if rec.asr.status == "failed":
            log.error("speech stage FAILED for video %s: %s (re-run ingest to retry it)", video_id, rec.asr.detail)
        elif rec.asr.status == "done":
            add_utterances(txn, video_id, utts, rec.vectors)
        record_outcome(txn, video_id, rec.asr)


def _transcribe(job: Any, speakers: Any, part: Any = None) -> tuple[Any, list[UtteranceRec], Any]:
    """ASR and the diarizer over the audio chunks (a part's: chunks ``[first_chunk, last_chunk)``, found by
    reading the audio from the start, so every part cuts the audio where one pass does)."""
    from memindex.ingest.asr import transcriber_for
    from memindex.ingest.audio import audio_chunks

    cfg = job.config.asr
    threads = asr_threads(cfg.threads, job.task.cores)
    asr = job.models.load("asr", (cfg, threads), lambda: transcriber_for(cfg, threads=threads))
    utts: list[UtteranceRec] = []
    first, last = (0, None) if part is None else (part.first_chunk, part.last_chunk)
    for i, chunk in enumerate(audio_chunks(job.info.path, chunk_seconds=cfg.chunk_seconds)):
        if last is not None and i >= last:
            break
        if i < first:
            continue
        utts.extend(asr.transcribe(chunk))
        speakers = _feed(job, speakers, chunk)
    return asr, utts, speakers


def asr_threads(configured: int, cores: int | None) -> int:
    """CTranslate2's threads for a task given ``cores`` (None: the whole machine): never more than its share,
    so two local workers on 2 cores do not run 4 threads each. Results do not follow this count (1 and 4
    threads give the same transcript of bbb_narrated's first 600 s), so it is a speed setting."""
    return configured if cores is None else max(1, min(configured, cores))


def speaker_stage(cfg: Any, models: Any) -> Any:
    """A fresh ``SpeakerStage`` for a video; None when speakers are off; a failed ``Outcome`` when the
    diarizer cannot load (speech is still transcribed)."""
    from memindex.ingest.work import Outcome

    if not cfg.enabled:
        return None
    from memindex.ingest.diarize import SpeakerStage, make_diarizer

    def load() -> Any:
        from memindex.encoders.base import limit_torch_threads

        # torch's intra-op thread count shows in the last bits of the voice vectors (the LSTM's products are
        # split by it), so every process (the inline driver, a local or Ray worker) sets the store's count
        # before the first voice is embedded, instead of running with whatever count it had until the text
        # model happened to load and set it.
        limit_torch_threads(models.encoders.config.text.threads)
        return make_diarizer(cfg)

    try:
        diarizer = models.load("diarizer", cfg, load)
    except MemIndexError as exc:
        return Outcome("speakers", "failed", cfg.backend, str(exc))
    return SpeakerStage(diarizer, cfg)


def _feed(job: Any, stage: Any, chunk: Any) -> Any:
    from memindex.ingest.work import Outcome

    if stage is None or isinstance(stage, Outcome):
        return stage
    try:
        stage.feed(chunk)
        return stage
    except MemIndexError as exc:
        return Outcome("speakers", "failed", stage.diarizer.name, str(exc))
