"""memindex.ingest.decode applies the stream's display matrix: generated videos whose upright picture is known by
construction, stored turned and/or mirrored with a rotation tag (as phones write them)."""

from __future__ import annotations

import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from memindex.ingest.decode import Orientation, decode_frames, probe

av = pytest.importorskip("av")
cv2 = pytest.importorskip("cv2")

UP_W, UP_H = 192, 320  # the upright (displayed) picture: portrait, like a phone held upright
# Every EXIF orientation as PyAV writes it: degrees counter-clockwise, then an optional mirror.
ORIENTATIONS = [(deg, hflip) for deg in (0, 90, 180, -90) for hflip in (False, True)]


def upright(text: str | None = None) -> np.ndarray:
    """Distinct colour blocks in three corners, so any turn or mirror shows; optional text in the middle."""
    img = np.full((UP_H, UP_W, 3), 40, np.uint8)
    img[:64, :64] = (255, 255, 255)  # top-left
    img[:64, -64:] = (255, 0, 0)  # top-right
    img[-64:, :64] = (0, 0, 255)  # bottom-left
    if text:
        img[120:200] = 255
        cv2.putText(img, text, (8, 172), cv2.FONT_HERSHEY_SIMPLEX, 0.95, (0, 0, 0), 2, cv2.LINE_AA)
    return img


def stored(image: np.ndarray, degrees: int, hflip: bool) -> np.ndarray:
    """The frame as stored, given that a player turns it ``degrees`` counter-clockwise and then mirrors it."""
    mirrored = image[:, ::-1] if hflip else image
    return np.ascontiguousarray(np.rot90(mirrored, -degrees // 90))


def make_rotated_video(
    path: Path, image: np.ndarray, degrees: int, hflip: bool = False, seconds: float = 1.0, fps: int = 12
) -> Path:
    frame_rgb = stored(image, degrees, hflip)
    h, w = frame_rgb.shape[:2]
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.set_display_rotation(degrees, hflip=hflip)
        for i in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(frame_rgb, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
    return path


def first_sample(path: Path):  # type: ignore[no-untyped-def]
    return next(f for f in decode_frames(str(path), analysis_width=96) if f.rgb is not None)


def assert_looks_like(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape
    assert np.abs(got.astype(int) - want.astype(int)).mean() < 6


@pytest.mark.parametrize(("degrees", "hflip"), ORIENTATIONS)
def test_frames_and_probe_are_upright(tmp_path, degrees, hflip):
    path = make_rotated_video(tmp_path / "phone.mp4", upright(), degrees, hflip)
    frame = first_sample(path)
    assert_looks_like(frame.rgb, upright())
    small_want = cv2.cvtColor(cv2.resize(upright(), (96, 160), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2BGR)
    assert frame.small.shape == (160, 96, 3)  # analysis frames are upright too: 96 wide
    assert np.abs(frame.small.astype(int) - small_want.astype(int)).mean() < 20
    info = probe(path)
    assert (info.width, info.height) == (UP_W, UP_H)


def test_phone_rotate_90_tag(tmp_path):
    """A phone's ``rotate=90``: stored landscape, shown turned 90 degrees clockwise."""
    path = make_rotated_video(tmp_path / "phone.mp4", upright(), -90)
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.width == UP_H  # stored sideways
    info = probe(path)
    assert (info.width, info.height, info.rotation) == (UP_W, UP_H, 90)
    assert_looks_like(first_sample(path).rgb, upright())


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="the ffmpeg binary is not installed")
@pytest.mark.parametrize(("degrees", "hflip"), ORIENTATIONS)
def test_same_picture_as_ffmpeg_autorotate(tmp_path, degrees, hflip):
    path = make_rotated_video(tmp_path / "phone.mp4", upright(), degrees, hflip)
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        capture_output=True,
        check=True,
    ).stdout
    ours = first_sample(path).rgb
    assert len(raw) == ours.size
    assert np.array_equal(np.frombuffer(raw, np.uint8).reshape(ours.shape), ours)


def test_orientation_from_display_matrices():
    one = 1 << 16
    assert Orientation.from_display_matrix([one, 0, 0, 0, one, 0, 0, 0, 1 << 30]) == Orientation()
    assert Orientation.from_display_matrix([0, 0, 0, 0, 0, 0, 0, 0, 0]) == Orientation()  # degenerate
    cw = Orientation.from_display_matrix([0, one, 0, -one, 0, 0, 0, 0, 1 << 30])  # FFmpeg: "rotation -90"
    assert (cw.quarter_turns, cw.degrees, cw.transposed) == (3, 90, True)
    assert Orientation.from_rotate_tag(90) == cw
    img = np.arange(6).reshape(2, 3)
    assert cw.apply(img).tolist() == [[3, 0], [4, 1], [5, 2]]  # turned clockwise
    assert cw.stored_size(192, 320) == (320, 192)


def test_rotated_phone_video_ingests_upright(tmp_path, light_config):
    """Keyframes, their recorded size, the video's size and the OCR input are all upright."""
    pytest.importorskip("rapidocr_onnxruntime")
    import memindex
    from memindex.ingest.config import AsrConfig, IngestConfig
    from memindex.ingest.ocr import text_similarity
    from memindex.ingest.semantic import SemanticConfig

    picture = upright("HELLO 2026")
    path = make_rotated_video(tmp_path / "phone.mp4", picture, -90, seconds=2.0)
    cfg = IngestConfig(asr=AsrConfig(enabled=False), semantic=SemanticConfig(enabled=False))
    with memindex.open(tmp_path / "store", config=light_config) as index:
        report = index.ingest([path], config=cfg)
        assert report.ok, report.failed
        vid = report.ingested[0]["video_id"]
        video = index.video(vid)
        assert (video["width"], video["height"]) == (UP_W, UP_H)
        frames = index.frames(vid)
        assert frames and all((f["width"], f["height"]) == (UP_W, UP_H) for f in frames)
        jpeg = cv2.imdecode(np.frombuffer(index.store.media.read(frames[0]["path"]), np.uint8), cv2.IMREAD_COLOR)
        assert_looks_like(cv2.cvtColor(jpeg, cv2.COLOR_BGR2RGB), picture)
        texts = [line["text"] for line in index.screen_text(vid)]
        assert any(text_similarity(t, "HELLO 2026") > 0.8 for t in texts), texts
        assert "budget=" in _stage_model(index.store, vid, "ocr")


def _stage_model(store, vid: str, stage: str) -> str:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from memindex.catalog.models import StageRun

    with store.Session() as s:
        return s.scalar(select(StageRun.model).where(StageRun.video_id == vid, StageRun.stage == stage)) or ""
