"""Streamed audio decoding: a video's first audio stream as mono 16 kHz chunks cut in quiet places.

Memory stays flat as videos get longer: at most one chunk plus one decoded frame is held at a time. Each
chunk ends at the quietest 0.2-s window in the last ``search_seconds`` before its nominal length, so a
word is rarely cut in half, and the next chunk starts at exactly that sample (no gap, no overlap).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from memindex.errors import ConfigError, MediaError, MissingDependencyError
from memindex.ingest.records import AudioChunk

__all__ = ["audio_chunks", "has_audio", "quietest_cut", "speech_regions"]

log = logging.getLogger(__name__)

_WINDOW_SECONDS = 0.2
_HOP_SECONDS = 0.01


def has_audio(path: str | Path) -> bool:
    """Whether the file has at least one audio stream; an unreadable file raises ``MediaError``."""
    container = _open(path)
    try:
        return len(container.streams.audio) > 0
    finally:
        container.close()


def audio_chunks(
    path: str | Path,
    *,
    chunk_seconds: float = 300.0,
    sample_rate: int = 16000,
    search_seconds: float = 5.0,
) -> Iterator[AudioChunk]:
    """Yield the first audio stream as contiguous mono float32 chunks; nothing when there is no audio."""
    _check_args(chunk_seconds, sample_rate, search_seconds)
    chunk_n = int(round(chunk_seconds * sample_rate))
    search_n = int(round(search_seconds * sample_rate))
    parts: list[np.ndarray] = []
    buffered = 0
    start: float | None = None
    for t, samples in _decoded_samples(path, sample_rate):
        if start is None:
            start = t
        parts.append(samples)
        buffered += len(samples)
        while buffered >= chunk_n:
            buf = np.concatenate(parts)
            parts.clear()  # frees the decoded frames: one chunk's worth is held, not two
            cut = quietest_cut(buf[:chunk_n], search_n, sample_rate)
            rest = buf[cut:].copy()  # so the chunk's buffer is freed once the consumer drops it
            yield AudioChunk(start=start, samples=buf[:cut], sample_rate=sample_rate)
            start += cut / sample_rate
            parts, buffered = [rest], len(rest)
    if start is not None and buffered > 0:
        yield AudioChunk(start=start, samples=np.concatenate(parts), sample_rate=sample_rate)


def quietest_cut(samples: np.ndarray, search_n: int, sample_rate: int) -> int:
    """Sample index at the middle of the lowest-RMS 0.2-s window within the last ``search_n`` samples."""
    n = len(samples)
    win = max(1, int(_WINDOW_SECONDS * sample_rate))
    lo = max(0, n - search_n)
    region = samples[lo:n].astype(np.float64)
    if len(region) < win:
        return n
    energy = np.concatenate(([0.0], np.cumsum(region * region)))
    hop = max(1, int(_HOP_SECONDS * sample_rate))
    offsets = np.arange(0, len(region) - win + 1, hop)
    sums = energy[offsets + win] - energy[offsets]
    # Ties (digital silence) go to the latest window, keeping chunks close to their nominal length.
    best = offsets[len(sums) - 1 - int(np.argmin(sums[::-1]))]
    return max(1, lo + int(best) + win // 2)


def speech_regions(
    samples: np.ndarray, *, threshold: float = 0.3, max_seconds: float = 30.0, sample_rate: int = 16000
) -> list[tuple[int, int]]:
    """``(start, end)`` sample ranges of speech (Silero VAD, as faster-whisper runs it), none longer than
    ``max_seconds``: long speech is split at its last pause of 100 ms or more."""
    try:
        from faster_whisper.vad import VadOptions, get_speech_timestamps
    except ImportError as exc:
        raise MissingDependencyError("faster-whisper", "asr", "speech detection (VAD)") from exc
    opts = VadOptions(threshold=threshold, max_speech_duration_s=max_seconds)
    return [(int(r["start"]), int(r["end"])) for r in get_speech_timestamps(samples, opts, sample_rate)]


def _check_args(chunk_seconds: float, sample_rate: int, search_seconds: float) -> None:
    if chunk_seconds <= 0 or sample_rate <= 0:
        raise ConfigError(f"chunk_seconds and sample_rate must be positive, got {chunk_seconds}, {sample_rate}")
    if not 0 <= search_seconds < chunk_seconds:
        raise ConfigError(f"search_seconds must be in [0, chunk_seconds), got {search_seconds}")


def _open(path: str | Path):  # noqa: ANN202 - av.container.InputContainer, imported lazily
    import av

    try:
        return av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(f"cannot open media: {exc}", path=str(path)) from exc


def _decoded_samples(path: str | Path, sample_rate: int) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(time of the decoded frame, mono float32 samples)`` per resampled frame."""
    import av

    container = _open(path)
    t: float | None = None
    try:
        if not container.streams.audio:
            log.info("no audio stream in %s", path)
            return
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        for frame in container.decode(audio=0):
            t = frame.time if frame.time is not None else t
            for out in resampler.resample(frame):
                yield (t or 0.0), out.to_ndarray().reshape(-1)
        for out in resampler.resample(None):
            yield (t or 0.0), out.to_ndarray().reshape(-1)
    except av.FFmpegError as exc:
        raise MediaError(f"cannot decode audio: {exc}", path=str(path), t=t) from exc
    finally:
        container.close()
