"""Generated test media with ground truth by construction (PyAV encoders; no ffmpeg binary needed)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

__all__ = ["Scene", "make_video", "scene_image"]


@dataclass(frozen=True)
class Scene:
    """A stretch of video: a textured background of one hue, optionally with a text caption."""

    seconds: float
    hue: int  # 0..179
    text: str | None = None


def scene_image(scene: Scene, w: int, h: int, t: float, seed: int) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    hsv = np.zeros((h, w, 3), np.uint8)
    hsv[..., 0] = scene.hue
    hsv[..., 1] = 200
    base = 70 + (seed * 53) % 140  # scenes differ in brightness and layout as well as hue
    hsv[..., 2] = np.clip(base + rng.integers(-25, 25, (h, w)), 0, 255)
    img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    x = int(10 + 20 * t) % max(1, w - 60)  # slow motion inside a shot
    y = (h // 5) * (1 + seed % 3)
    cv2.rectangle(img, (x, y), (x + 50 + 20 * (seed % 4), y + 50), (255, 255, 255), -1)
    if scene.text:
        cv2.rectangle(img, (0, h - 70), (w, h - 10), (0, 0, 0), -1)
        cv2.putText(img, scene.text, (12, h - 28), cv2.FONT_HERSHEY_SIMPLEX, 1.1, (255, 255, 255), 2, cv2.LINE_AA)
    return img


def make_video(
    path: Path,
    scenes: list[Scene],
    *,
    fps: int = 24,
    size: tuple[int, int] = (480, 270),
    tone_hz: float | None = None,
    codec: str = "libx264",
) -> list[float]:
    """Write the scenes back to back; returns the cut times (seconds). ``tone_hz`` adds a sine track."""
    import av

    w, h = size
    cuts, t0 = [], 0.0
    with av.open(str(path), "w") as out:
        vs = out.add_stream(codec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        aus = out.add_stream("aac", rate=16000) if tone_hz else None
        n = 0
        for i, scene in enumerate(scenes):
            if i:
                cuts.append(round(n / fps, 4))
            for j in range(int(round(scene.seconds * fps))):
                frame = av.VideoFrame.from_ndarray(scene_image(scene, w, h, j / fps, i), format="rgb24")
                frame.pts = n
                frame.time_base = Fraction(1, fps)
                out.mux(vs.encode(frame))
                n += 1
            t0 += scene.seconds
        out.mux(vs.encode(None))
        if aus is not None:
            _write_tone(out, aus, n / fps, tone_hz)
    return cuts


def _write_tone(out, stream, seconds: float, hz: float) -> None:  # type: ignore[no-untyped-def]
    import av

    rate, block = 16000, 1024
    total = int(seconds * rate)
    for start in range(0, total, block):
        t = (np.arange(start, min(total, start + block)) / rate).astype(np.float32)
        samples = (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate, frame.pts = rate, start
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))
