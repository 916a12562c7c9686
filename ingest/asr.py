"""Speech recognition: a ``Transcriber`` turns an ``AudioChunk`` into utterances with word timestamps.

Backends register by name in ``TRANSCRIBERS``; ``make_transcriber`` builds one (``transcriber_for`` from an
``AsrConfig``). Models load in the constructor, never at import; model names are in ``ingest/asr_models.py``.

``FasterWhisperTranscriber`` identifies the language of every speech region before transcribing it
(``ingest/lid.py``), routes each region to the model configured for its language (tiny.en for English, the
multilingual base model for the rest by default), and flags what looks hallucinated (``ingest/asr_guards.py``).
Defaults (beam 1, sequential, all cores, VAD threshold 0.3) were chosen by ``benchmarks/asr_choice.py``; the
per-language speeds are in benchmarks/README.md.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from memindex.errors import ConfigError, MissingDependencyError, StageError
from memindex.ingest.asr_guards import GuardConfig, SegmentGuard, quality_of
from memindex.ingest.asr_models import PACKAGED, PACKAGED_BASE, load_whisper, model_cache_dir, resolve_model
from memindex.ingest.lid import (
    LanguageChoice,
    LanguageDetector,
    LanguageRouting,
    LanguageTally,
    Region,
    Run,
    choose_languages,
    model_for,
    plan_runs,
)
from memindex.ingest.records import AudioChunk, UtteranceRec, WordRec
from memindex.registry import Registry

__all__ = [
    "Transcriber",
    "FasterWhisperTranscriber",
    "WhisperXTranscriber",
    "TRANSCRIBERS",
    "make_transcriber",
    "transcriber_for",
    "resolve_model",
    "model_cache_dir",
    "PACKAGED",
    "PACKAGED_BASE",
]

log = logging.getLogger(__name__)

SR = 16000
_WINDOW = 30 * SR  # whisper's window: regions (and VAD-less windows) are at most this long


@runtime_checkable
class Transcriber(Protocol):
    """Speech to text. ``name`` identifies backend and model (saved with the index)."""

    name: str

    def transcribe(self, chunk: AudioChunk) -> Iterator[UtteranceRec]:
        """Utterances in the chunk, times in seconds of the video timeline, words with timestamps."""
        ...


# ------------------------------------------------------------------------------------- faster-whisper


@dataclass(frozen=True)
class _Loaded:
    identity: str
    model: Any
    runner: Any  # the model, or a BatchedInferencePipeline over it
    multilingual: bool


class FasterWhisperTranscriber:
    """faster-whisper (CTranslate2) with Silero VAD and word timestamps, one model per language.

    ``model`` transcribes English; ``routing`` names the models of the other languages and the detector.
    With ``language`` set, nothing is identified: every region goes to that language's model."""

    def __init__(
        self,
        model: str | None = PACKAGED,
        *,
        device: str = "cpu",
        compute_type: str = "int8",
        language: str | None = None,
        vad: bool = True,
        vad_threshold: float = 0.3,
        beam_size: int = 1,
        batch_size: int = 0,
        cpu_threads: int = 0,
        routing: LanguageRouting | None = None,
        guards: GuardConfig | None = None,
    ) -> None:
        try:
            import faster_whisper  # noqa: F401
        except ImportError as exc:
            raise MissingDependencyError("faster-whisper", "asr", "speech recognition") from exc
        self._routing, self._guards = routing or LanguageRouting(), guards or GuardConfig()
        self._language = language.lower() if language else None
        self._table = self._routing.table(model or PACKAGED)
        self._vad = vad_threshold if vad else None
        self._batch_size = batch_size
        self._load_args = (device, compute_type, cpu_threads)
        self._options = dict(
            beam_size=beam_size, word_timestamps=True, vad_filter=False, **self._guards.decode_options()
        )
        self._models: dict[str, _Loaded] = {}
        self._local = threading.local()  # one video's language evidence per thread that transcribes
        for lang in self._languages_to_load():
            self._load(model_for(lang, self._table) or PACKAGED, needs_multilingual=lang != "en")
        self._detector = None if self._language else LanguageDetector(self._load(self._routing.detector, True).model)
        self.name = self._identity()
        log.info("loaded %s on %s (%s)", self.name, device, compute_type)

    def transcribe(self, chunk: AudioChunk) -> Iterator[UtteranceRec]:
        """Utterances of one chunk, lazily; model errors become ``StageError`` at the chunk's time."""
        audio = _as_16k(chunk)
        try:
            regions = self._regions(audio)
            choices = self._choose(audio, regions, chunk)
            english_only = frozenset(k for k, m in self._models.items() if not m.multilingual)
            for run in plan_runs(regions, choices, self._table, english_only):
                yield from self._run(audio, run, chunk)
        except (RuntimeError, ValueError, OSError) as exc:
            raise StageError(f"{self.name} failed: {exc}", t=chunk.start) from exc

    def reset(self) -> None:
        """Forget the language evidence of the video so far (done by itself when chunks stop following)."""
        self._local.tally = LanguageTally()

    @property
    def _tally(self) -> LanguageTally:
        if getattr(self._local, "tally", None) is None:
            self.reset()
        return self._local.tally

    # -- models ------------------------------------------------------------------------------------------
    def _languages_to_load(self) -> list[str]:
        if self._language:
            if model_for(self._language, self._table) is None:
                raise ConfigError(f"ASR language {self._language!r} has no model: add a route for it")
            return [self._language]
        return list(self._table)

    def _load(self, key: str, needs_multilingual: bool) -> _Loaded:
        if key not in self._models:
            path, identity = resolve_model(key)
            model = load_whisper(path, *self._load_args)
            runner = model
            if self._batch_size > 0:
                import faster_whisper

                runner = faster_whisper.BatchedInferencePipeline(model=model)
            self._models[key] = _Loaded(identity, model, runner, bool(model.model.is_multilingual))
        loaded = self._models[key]
        if needs_multilingual and not loaded.multilingual:
            raise ConfigError(
                f"ASR model {key!r} is English-only: it cannot identify or transcribe other "
                "languages; route them to a multilingual model (e.g. 'packaged-base')"
            )
        return loaded

    def _identity(self) -> str:
        """Backend, models per language and detector: what the index records as the ASR stage's model."""
        if self._language:
            key = model_for(self._language, self._table)
            return f"faster-whisper:{self._models[key].identity};language={self._language}"  # type: ignore[index]
        parts = [self._models[self._table["en"]].identity]
        parts += [f"{lang}={self._models[m].identity}" for lang, m in self._table.items() if lang != "en"]
        parts.append(f"lid={self._models[self._routing.detector].identity}")
        return "faster-whisper:" + ";".join(parts)

    # -- regions and languages ---------------------------------------------------------------------------
    def _regions(self, audio: np.ndarray) -> list[Region]:
        if self._vad is None:
            return [Region(s, min(s + _WINDOW, len(audio))) for s in range(0, len(audio), _WINDOW)]
        from memindex.ingest.audio import speech_regions

        return [Region(s, e) for s, e in speech_regions(audio, threshold=self._vad, sample_rate=SR) if e > s]

    def _choose(self, audio: np.ndarray, regions: list[Region], chunk: AudioChunk) -> list[LanguageChoice]:
        if self._language:
            return [LanguageChoice(self._language, float("nan"))] * len(regions)
        assert self._detector is not None
        self._tally.follow(chunk.start, chunk.end)  # a chunk without speech still continues its video
        most = int(self._routing.lid_seconds * SR)
        dists = [self._detector.probabilities(audio[r.start : min(r.end, r.start + most)]) for r in regions]
        weights = [r.seconds(SR) for r in regions]
        choices = choose_languages(dists, weights, self._tally.seconds, self._routing)
        self._tally.add(dists, weights)
        return choices

    # -- transcription -----------------------------------------------------------------------------------
    def _run(self, audio: np.ndarray, run: Run, chunk: AudioChunk) -> Iterator[UtteranceRec]:
        if run.model is None:
            yield from _untranscribed(run, chunk)
            return
        loaded = self._models[run.model]
        guard = SegmentGuard(self._guards)
        for window in _windows(self._decode(loaded, audio, run)):
            window_text = "".join(seg.text for seg in window)
            for seg in window:
                choice = run.choice_at(int((seg.start + seg.end) / 2 * SR))
                utt = _utterance(seg, chunk, choice, guard, window_text)
                if utt is not None:
                    yield utt

    def _decode(self, loaded: _Loaded, audio: np.ndarray, run: Run) -> Iterable[Any]:
        """Segments of the run's regions, times in seconds of the chunk."""
        import ctranslate2

        # The temperature fallback samples: a fixed seed per run keeps a retried window's text a function of
        # (audio, config), not of the process.
        ctranslate2.set_random_seed(0)
        language = run.language if loaded.multilingual else None
        if self._batch_size > 0:
            clips = [{"start": r.start / SR, "end": r.end / SR} for r in run.regions]
            segments, _ = loaded.runner.transcribe(
                audio, language=language, clip_timestamps=clips, batch_size=self._batch_size, **self._options
            )
            return segments
        from faster_whisper.transcribe import restore_speech_timestamps

        speech = [{"start": r.start, "end": r.end} for r in run.regions]
        joined = np.concatenate([audio[r.start : r.end] for r in run.regions])
        segments, _ = loaded.runner.transcribe(joined, language=language, **self._options)
        return restore_speech_timestamps(segments, speech, SR)


def _as_16k(chunk: AudioChunk) -> np.ndarray:
    if chunk.sample_rate != SR:
        raise StageError(f"ASR needs 16 kHz audio, got {chunk.sample_rate} Hz", t=chunk.start)
    return np.ascontiguousarray(chunk.samples, dtype=np.float32)


def _windows(segments: Iterable[Any]) -> Iterator[list[Any]]:
    """Consecutive segments of one decoding window (the same ``seek`` and compression ratio: whisper computes
    the ratio once per window), so the guard can measure the window's text as whisper did."""
    window: list[Any] = []
    for seg in segments:
        key = (getattr(seg, "seek", None), getattr(seg, "compression_ratio", None))
        if window and key != (getattr(window[0], "seek", None), getattr(window[0], "compression_ratio", None)):
            yield window
            window = []
        window.append(seg)
    if window:
        yield window


def _utterance(
    seg: Any, chunk: AudioChunk, choice: LanguageChoice, guard: SegmentGuard, window_text: str | None = None
) -> UtteranceRec | None:
    """A faster-whisper segment as an ``UtteranceRec`` in video time, or None when it has no text."""
    words = tuple(_words(((w.start, w.end, w.word, w.probability) for w in seg.words or ()), chunk))
    text = seg.text.strip()
    if not text and not words:
        return None
    start, end = _clip(seg.start, seg.end, chunk)
    flags = guard.flags(seg, text, window_text) + (("language-uncertain",) if choice.uncertain else ())
    prob = None if np.isnan(choice.prob) else round(choice.prob, 4)
    return UtteranceRec(
        start=start,
        end=end,
        text=text,
        words=words,
        language=choice.language or None,
        language_prob=prob,
        quality=quality_of(flags),
        flags=flags,
    )


def _untranscribed(run: Run, chunk: AudioChunk) -> Iterator[UtteranceRec]:
    """Regions whose language no model covers: kept, without text, so they are never confident text."""
    log.warning(
        "no ASR model covers language %r: %.1f s of speech at %.1f s kept without text",
        run.language,
        sum(r.seconds(SR) for r in run.regions),
        chunk.start + run.regions[0].start / SR,
    )
    for region, choice in zip(run.regions, run.choices, strict=True):
        start, end = _clip(region.start / SR, region.end / SR, chunk)
        yield UtteranceRec(
            start=start,
            end=end,
            text="",
            language=choice.language,
            language_prob=round(choice.prob, 4),
            quality="low",
            flags=("no-model",),
        )


def _words(raw: Iterable[tuple[float, float, str, float]], chunk: AudioChunk) -> Iterator[WordRec]:
    """Non-empty words with times clipped inside the chunk and offset into the video timeline."""
    for start, end, text, prob in raw:
        text = text.strip()
        if text:
            s, e = _clip(start, end, chunk)
            yield WordRec(start=s, end=e, text=text, prob=float(prob))


def _clip(start: float, end: float, chunk: AudioChunk) -> tuple[float, float]:
    length = chunk.end - chunk.start
    s = min(max(float(start), 0.0), length)
    e = min(max(float(end), s), length)
    return chunk.start + s, chunk.start + e


# -------------------------------------------------------------------------------------------- whisperx


class WhisperXTranscriber:
    """WhisperX: batched faster-whisper plus wav2vec2 forced alignment for word times (needs torch)."""

    def __init__(
        self,
        model: str = "small",
        *,
        device: str = "cpu",
        compute_type: str = "int8",
        language: str | None = None,
        batch_size: int = 8,
    ) -> None:
        try:
            import whisperx
        except ImportError as exc:
            raise MissingDependencyError("whisperx", "whisperx", "WhisperX speech recognition") from exc
        self._wx = whisperx
        self.name = f"whisperx:{model}"
        self._device = device
        self._language = language
        self._batch_size = batch_size
        self._aligners: dict[str, tuple[Any, Any]] = {}
        try:
            self._model = whisperx.load_model(model, device, compute_type=compute_type, language=language)
        except (RuntimeError, ValueError, OSError) as exc:
            raise StageError(f"cannot load WhisperX model {model!r}: {exc}") from exc

    def transcribe(self, chunk: AudioChunk) -> Iterator[UtteranceRec]:
        """Transcribe, then align each segment's words with the language's wav2vec2 model."""
        audio = _as_16k(chunk)
        try:
            result = self._model.transcribe(audio, batch_size=self._batch_size, language=self._language)
            language = result.get("language") or self._language or "en"
            align_model, meta = self._aligner(language)
            aligned = self._wx.align(
                result["segments"], align_model, meta, audio, self._device, return_char_alignments=False
            )
        except (RuntimeError, ValueError, OSError, KeyError) as exc:
            raise StageError(f"{self.name} failed: {exc}", t=chunk.start) from exc
        for seg in aligned["segments"]:
            utt = _whisperx_utterance(seg, chunk, language)
            if utt is not None:
                yield utt

    def _aligner(self, language: str) -> tuple[Any, Any]:
        if language not in self._aligners:
            self._aligners[language] = self._wx.load_align_model(language_code=language, device=self._device)
        return self._aligners[language]


def _whisperx_utterance(seg: dict[str, Any], chunk: AudioChunk, language: str) -> UtteranceRec | None:
    # Words wav2vec2 cannot align (digits, symbols) come without times: they are left out of ``words``.
    raw = (
        (w["start"], w["end"], w.get("word", ""), w.get("score", 0.0))
        for w in seg.get("words", ())
        if "start" in w and "end" in w
    )
    words = tuple(_words(raw, chunk))
    text = str(seg.get("text", "")).strip()
    if not text and not words:
        return None
    start, end = _clip(seg.get("start", 0.0), seg.get("end", 0.0), chunk)
    return UtteranceRec(start=start, end=end, text=text, words=words, language=language)


# -------------------------------------------------------------------------------------------- registry

TRANSCRIBERS: Registry[Transcriber] = Registry("memindex.transcribers", "transcriber")
TRANSCRIBERS.register("faster-whisper", FasterWhisperTranscriber)
TRANSCRIBERS.register("whisperx", WhisperXTranscriber)


def make_transcriber(name: str, **kwargs: Any) -> Transcriber:
    """Build the transcriber registered as ``name``; an unknown name lists the valid ones."""
    return TRANSCRIBERS.create(name, **kwargs)


def transcriber_for(cfg: Any, threads: int | None = None) -> Transcriber:
    """The transcriber an ``AsrConfig`` describes; language routing and guards go to faster-whisper only.
    ``threads`` replaces ``cfg.threads`` (a worker's share of the cores)."""
    extra: dict[str, Any] = {}
    if cfg.backend == "faster-whisper":
        extra = {"routing": cfg.routing, "guards": cfg.guards, "cpu_threads": threads or cfg.threads}
    return make_transcriber(cfg.backend, model=cfg.model, language=cfg.language, **extra)
