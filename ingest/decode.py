"""Probe and stream-decode a video with PyAV: one pass, small analysis frames for every decoded frame and
full-size RGB samples at a fixed rate; memory stays flat in the video's length. Frames come out upright: the
stream's display matrix (a phone's ``rotate`` tag) is applied as FFmpeg's own player would."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from memindex.errors import MediaError, MissingDependencyError

__all__ = ["VideoInfo", "DecodedFrame", "Orientation", "probe", "decode_frames", "sample_slot", "MAX_PIXELS"]

log = logging.getLogger(__name__)
MAX_PIXELS = 8192 * 8192  # refuse absurd frame sizes before decoding a single frame


@dataclass(frozen=True)
class VideoInfo:
    """What ``probe`` found; ``width`` x ``height`` is the upright (displayed) size, ``rotation`` the degrees
    clockwise the stored frames are turned to display them."""

    path: str
    size_bytes: int
    duration: float
    fps: float
    width: int
    height: int
    codec: str
    has_audio: bool
    audio_codec: str | None
    rotation: int = 0


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


@dataclass(frozen=True)
class Orientation:
    """How a stored frame is turned upright: ``quarter_turns`` counter-clockwise (``np.rot90``), then mirrored.
    ``degrees`` is the clockwise rotation a player applies (FFmpeg's ``theta``), for the record."""

    quarter_turns: int = 0
    hflip: bool = False
    vflip: bool = False
    degrees: int = 0

    @property
    def transposed(self) -> bool:
        return self.quarter_turns % 2 == 1

    def apply(self, image: np.ndarray) -> np.ndarray:
        """The upright image (H x W [x C]); the input itself when nothing needs turning."""
        if not (self.quarter_turns or self.hflip or self.vflip):
            return image
        out = np.rot90(image, self.quarter_turns)
        if self.hflip:
            out = out[:, ::-1]
        if self.vflip:
            out = out[::-1]
        return np.ascontiguousarray(out)

    def stored_size(self, width: int, height: int) -> tuple[int, int]:
        """The stored (width, height) of an upright ``width`` x ``height`` image."""
        return (height, width) if self.transposed else (width, height)

    @classmethod
    def from_display_matrix(cls, m: Sequence[int]) -> Orientation:
        """FFmpeg's autorotate (fftools ``get_rotation`` + transpose/flip choice), to the nearest quarter turn."""
        a, b, c, d = m[0], m[1], m[3], m[4]
        sx, sy = math.hypot(a, c), math.hypot(b, d)
        if sx == 0 or sy == 0:
            return UPRIGHT
        theta = round(math.degrees(math.atan2(b / sy, a / sx)) / 90) * 90 % 360
        if theta == 90:
            return cls(1, vflip=True, degrees=90) if c > 0 else cls(3, degrees=90)
        if theta == 270:
            return cls(3, vflip=True, degrees=270) if c < 0 else cls(1, degrees=270)
        return cls(0, hflip=theta == 180 and a < 0, vflip=d < 0, degrees=theta)

    @classmethod
    def from_rotate_tag(cls, degrees: int) -> Orientation:
        """The legacy ``rotate`` metadata tag: degrees clockwise."""
        theta = round(degrees / 90) * 90 % 360
        return cls((4 - theta // 90) % 4, degrees=theta)


UPRIGHT = Orientation()


def frame_orientation(frame, stream) -> Orientation:  # type: ignore[no-untyped-def]
    """The orientation a decoded frame's display matrix (or the stream's ``rotate`` tag) asks for."""
    from av.sidedata.sidedata import Type

    matrix = frame.side_data.get(Type.DISPLAYMATRIX)
    if matrix is not None:
        return Orientation.from_display_matrix(np.frombuffer(bytes(matrix), np.int32)[:9].tolist())
    tag = (stream.metadata or {}).get("rotate")
    try:
        return Orientation.from_rotate_tag(int(float(tag))) if tag else UPRIGHT
    except ValueError:
        return UPRIGHT


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
        return _info(container, str(p), size)


def _info(container, path: str, size: int) -> VideoInfo:  # type: ignore[no-untyped-def]
    if not container.streams.video:
        raise MediaError("no video stream in the file", path=path)
    vs = container.streams.video[0]
    audio = container.streams.audio[0] if container.streams.audio else None
    width, height = int(vs.codec_context.width or 0), int(vs.codec_context.height or 0)
    if width <= 0 or height <= 0:
        raise MediaError("video stream has no frame size (unsupported codec or corrupt header)", path=path)
    if width * height > MAX_PIXELS:
        raise MediaError(f"frame size {width}x{height} is larger than supported", path=path)
    fps = float(vs.average_rate or vs.guessed_rate or 0) or 25.0
    duration = _duration(container, vs)
    orient = _first_orientation(container, vs)
    width, height = orient.stored_size(width, height)  # a quarter turn swaps the sides either way
    return VideoInfo(
        path,
        size,
        duration,
        fps,
        width,
        height,
        vs.codec_context.name,
        audio is not None,
        audio.codec_context.name if audio else None,
        orient.degrees,
    )


def _first_orientation(container, vs) -> Orientation:  # type: ignore[no-untyped-def]
    """PyAV exposes the display matrix on decoded frames only, so decode the first one."""
    av = _av()
    try:
        for frame in container.decode(vs):
            return frame_orientation(frame, vs)
    except (av.error.FFmpegError, ValueError):
        pass  # a stream that cannot be decoded is reported by decode_frames, with the time it broke
    return UPRIGHT


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


@dataclass(frozen=True)
class _Shape:
    """A stream's orientation and the stored size of its analysis frames (upright: ``analysis_width`` wide)."""

    orientation: Orientation
    small_size: tuple[int, int]

    @classmethod
    def of(cls, frame, stream, analysis_width: int) -> _Shape:  # type: ignore[no-untyped-def]
        orient = frame_orientation(frame, stream)
        up_w, up_h = orient.stored_size(frame.width, frame.height)
        small_h = max(2, round(up_h * analysis_width / max(1, up_w) / 2) * 2)
        return cls(orient, orient.stored_size(analysis_width, small_h))

    def small(self, frame) -> np.ndarray:  # type: ignore[no-untyped-def]
        return self.orientation.apply(_small_bgr(frame, *self.small_size))

    def rgb(self, frame) -> np.ndarray:  # type: ignore[no-untyped-def]
        return self.orientation.apply(frame.to_ndarray(format="rgb24"))


def sample_slot(t: float, sample_every: float) -> int:
    """The slot ``t`` falls in on the absolute grid of ``sample_every`` seconds: the first frame of each slot is
    sampled. A function of the frame's time alone, so a decode that starts anywhere samples the same frames
    as one from the start once it has seen one frame (time chunks rely on it)."""
    return math.floor((t + 1e-6) / sample_every)


def decode_frames(
    path: str,
    *,
    analysis_width: int = 256,
    sample_every: float = 0.5,
    start: float = 0.0,
    end: float | None = None,
    skip_nonref: bool = True,
) -> Iterator[DecodedFrame]:
    """Upright frames as small BGR images; every ``sample_every`` seconds also the full RGB frame.

    ``skip_nonref`` decodes only reference frames (about half of a typical H.264 stream; measured 2x
    faster decode), which delays a detected cut by at most a few frames. The stream's display matrix is
    applied to both images, so a phone video tagged ``rotate=90`` comes out portrait.
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
        yield from _frames(av, path, container, vs, analysis_width, sample_every, start, end)


def _frames(
    av,
    path: str,
    container,
    vs,
    analysis_width: int,
    sample_every: float,  # type: ignore[no-untyped-def]
    start: float,
    end: float | None,
) -> Iterator[DecodedFrame]:
    tb = vs.time_base or Fraction(1, 1000)
    index, t = 0, start
    last_slot: int | None = None  # the sample slot of the last sampled frame
    shape: _Shape | None = None
    try:
        for frame in container.decode(vs):
            t = float(frame.pts * tb) if frame.pts is not None else index / float(vs.average_rate or 25)
            if t < start:
                continue
            if end is not None and t > end:
                break
            shape = shape or _Shape.of(frame, vs, analysis_width)
            rgb = None
            slot = sample_slot(t, sample_every)
            if last_slot is None or slot > last_slot:
                rgb = shape.rgb(frame)
                last_slot = slot
            yield DecodedFrame(index, t, shape.small(frame), rgb)
            index += 1
    except av.error.FFmpegError as exc:
        raise MediaError(f"decoding failed after {index} frames: {exc}", path=path, t=t) from exc
    if index == 0:
        raise MediaError("no frame could be decoded", path=path)
