"""Probe and stream-decode a video with PyAV: one pass, small analysis frames for every decoded frame and
full-size RGB samples at a fixed rate; memory stays flat in the video's length."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from memindex.errors import MediaError, MissingDependencyError

__all__ = ["VideoInfo", "DecodedFrame", "probe", "decode_frames", "MAX_PIXELS"]

log = logging.getLogger(__name__)
MAX_PIXELS = 8192 * 8192  # refuse absurd frame sizes before decoding a single frame


@dataclass(frozen=True)
class VideoInfo:
    path: str
    size_bytes: int
    duration: float
    fps: float
    width: int
    height: int
    codec: str
    has_audio: bool
    audio_codec: str | None


@dataclass(frozen=True)
class DecodedFrame:
    """``small``: BGR analysis frame (shot detection); ``rgb``: full-size RGB when this frame is sampled."""

    index: int
    t: float
    small: np.ndarray
    rgb: np.ndarray | None


def _av():  # type: ignore[no-untyped-def]
    try:
        import av
    except ImportError as exc:
        raise MissingDependencyError("av", "default", "video decoding (PyAV)") from exc
    return av


def _open(path: str):  # type: ignore[no-untyped-def]
    av = _av()
    try:
        return av.open(path, metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise MediaError(f"not a readable video container: {exc}", path=path) from exc


def probe(path: str | Path) -> VideoInfo:
    """Check that ``path`` is a decodable video; raise MediaError naming the file and the cause."""
    p = Path(path)
    if not p.exists():
        raise MediaError("file does not exist", path=str(p))
    if not p.is_file():
        raise MediaError("not a regular file", path=str(p))
    size = p.stat().st_size
    if size == 0:
        raise MediaError("file is empty (0 bytes)", path=str(p))
    if not os.access(p, os.R_OK):
        raise MediaError("file is not readable (permissions)", path=str(p))
    with _open(str(p)) as container:
        if not container.streams.video:
            raise MediaError("no video stream in the file", path=str(p))
        vs = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        width, height = int(vs.codec_context.width or 0), int(vs.codec_context.height or 0)
        if width <= 0 or height <= 0:
            raise MediaError("video stream has no frame size (unsupported codec or corrupt header)", path=str(p))
        if width * height > MAX_PIXELS:
            raise MediaError(f"frame size {width}x{height} is larger than supported", path=str(p))
        fps = float(vs.average_rate or vs.guessed_rate or 0) or 25.0
        duration = _duration(container, vs)
        codec = vs.codec_context.name
        return VideoInfo(str(p), size, duration, fps, width, height, codec, audio is not None,
                         audio.codec_context.name if audio else None)


def _duration(container, vs) -> float:  # type: ignore[no-untyped-def]
    if vs.duration is not None and vs.time_base is not None:
        return float(vs.duration * vs.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return 0.0


def _small_bgr(frame, width: int, height: int) -> np.ndarray:  # type: ignore[no-untyped-def]
    """A small BGR copy. For 4:2:0 YUV, resize the planes with OpenCV and convert the small image: ~8x
    cheaper than converting the full frame (0.4 ms vs 3 ms at 720p, measured)."""
    if frame.format.name not in ("yuv420p", "yuvj420p"):
        return frame.to_ndarray(format="bgr24", width=width, height=height)
    cv2 = _cv2()
    fh, fw = frame.height, frame.width
    planes = []
    for i, (ph, pw) in enumerate(((fh, fw), ((fh + 1) // 2, (fw + 1) // 2), ((fh + 1) // 2, (fw + 1) // 2))):
        plane = frame.planes[i]
        raw = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:ph, :pw]
        planes.append(cv2.resize(raw, (width, height), interpolation=cv2.INTER_NEAREST))
    return cv2.cvtColor(cv2.merge(planes), cv2.COLOR_YUV2BGR)


def _cv2():  # type: ignore[no-untyped-def]
    try:
        import cv2
    except ImportError as exc:
        raise MissingDependencyError("opencv-python-headless", "shots", "frame analysis") from exc
    return cv2


def decode_frames(path: str, *, analysis_width: int = 256, sample_every: float = 0.5,
                  start: float = 0.0, end: float | None = None,
                  skip_nonref: bool = True) -> Iterator[DecodedFrame]:
    """Frames as small BGR images; every ``sample_every`` seconds also the full RGB frame.

    ``skip_nonref`` decodes only reference frames (about half of a typical H.264 stream; measured 2x
    faster decode), which delays a detected cut by at most a few frames.
    Raises MediaError (with the time reached) when the stream breaks off mid-way, e.g. a truncated file.
    """
    av = _av()
    with _open(path) as container:
        vs = container.streams.video[0]
        vs.thread_type = "AUTO"
        if skip_nonref:
            vs.codec_context.skip_frame = "NONREF"
        if start > 0:
            container.seek(int(start / vs.time_base), stream=vs, backward=True)
        h = max(2, round(vs.codec_context.height * analysis_width / max(1, vs.codec_context.width) / 2) * 2)
        tb = vs.time_base or Fraction(1, 1000)
        next_sample, index, t = start, 0, start
        try:
            for frame in container.decode(vs):
                t = float(frame.pts * tb) if frame.pts is not None else index / float(vs.average_rate or 25)
                if t < start:
                    continue
                if end is not None and t > end:
                    break
                small = _small_bgr(frame, analysis_width, h)
                rgb = None
                if t + 1e-6 >= next_sample:
                    rgb = frame.to_ndarray(format="rgb24")
                    next_sample += sample_every * max(1, int((t - next_sample) / sample_every) + 1)
                yield DecodedFrame(index, t, small, rgb)
                index += 1
        except av.error.FFmpegError as exc:
            raise MediaError(f"decoding failed after {index} frames: {exc}", path=path, t=t) from exc
        if index == 0:
            raise MediaError("no frame could be decoded", path=path)
