"""Hallucination guards: decoding settings that stop whisper's loops early, and flags on what still looks
wrong. Flagged utterances are kept (quality ``low``) so search can rank them lower; nothing is dropped.

Flags (``UtteranceRec.flags``, stored comma-separated in ``utterances.flags``):

    compression         the decoding window's compression ratio above the threshold: repetitive text, whisper's
                        loop signal. Whisper measures it on UTF-8 bytes, which inflates it for scripts of
                        2-byte letters (Cyrillic sat ~0.4 higher than French on the same kind of prompts and
                        was flagged on ordinary speech); for text mostly in such a script the flag measures
                        it per character (``char_compression_ratio``), otherwise whisper's own figure
    low-logprob         average token log-probability below the threshold: the model was guessing
    no-speech           whisper's no-speech probability above its threshold while the text is not confident
                        (average log-probability below half the threshold): probably not speech at all. A high
                        no-speech probability alone is common on clean telephone-band speech, so it is no flag
    repeated-ngram      a word n-gram (n <= 4) repeated ``max_repeats`` times in a row inside the utterance
    repeats-previous    the same text (3 words or more) as the utterance just before it: a loop across windows
    language-uncertain  the language's posterior was below ``LanguageRouting.min_prob``
    no-model            no configured model covers the region's language: stored without text
"""

from __future__ import annotations

import re
import zlib
from collections import deque
from dataclasses import dataclass
from typing import Any

__all__ = [
    "GuardConfig",
    "SegmentGuard",
    "repeated_ngram",
    "quality_of",
    "char_compression_ratio",
    "multibyte_script",
]

_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class GuardConfig:
    """Thresholds are faster-whisper's own defaults; the temperature ladder is shorter than its six steps so
    a window that keeps failing costs at most three decodes (ASR stays >= 10x real time on 2 cores)."""

    temperatures: tuple[float, ...] = (0.0, 0.4, 0.8)
    compression_ratio: float = 2.4
    log_prob: float = -1.0
    no_speech: float = 0.6
    max_repeats: int = 4  # an n-gram this many times in a row inside one utterance
    recent: int = 1  # an utterance equal to one of this many just before it

    def decode_options(self) -> dict[str, Any]:
        """The keyword arguments for ``WhisperModel.transcribe`` that bound loops and fallbacks."""
        return dict(
            temperature=list(self.temperatures),
            compression_ratio_threshold=self.compression_ratio,
            log_prob_threshold=self.log_prob,
            no_speech_threshold=self.no_speech,
            condition_on_previous_text=False,  # one bad window cannot seed the next one's loop
        )


def repeated_ngram(words: list[str], max_repeats: int, longest: int = 4) -> bool:
    """Whether some n-gram (1 <= n <= ``longest``) occurs ``max_repeats`` or more times back to back."""
    for n in range(1, longest + 1):
        for i in range(len(words) - n * max_repeats + 1):
            gram = words[i : i + n]
            if all(words[i + k * n : i + (k + 1) * n] == gram for k in range(1, max_repeats)):
                return True
    return False


def char_compression_ratio(text: str) -> float:
    """zlib's compression ratio of ``text`` with one byte per character: ASCII keeps its bytes (whisper's
    figure exactly) and every other character gets one of the 128 upper byte values, in code-point order, so
    a script of 2-byte letters is measured as a Latin one is. Past 128 distinct non-ASCII characters (CJK)
    it falls back to UTF-8 bytes."""
    if not text:
        return 0.0
    extra = sorted({ch for ch in text if ord(ch) >= 128})
    if len(extra) > 128:
        raw = text.encode("utf-8")
    else:
        index = {ch: 128 + i for i, ch in enumerate(extra)}
        raw = bytes(index[ch] if ch in index else ord(ch) for ch in text)
    return len(raw) / len(zlib.compress(raw))


def multibyte_script(text: str) -> bool:
    """Whether most letters of ``text`` take more than one UTF-8 byte (Cyrillic, Greek, Arabic, Hebrew...).
    Latin text with accents is not: there a 2-byte letter is rare and its lead byte compresses almost to
    nothing, so whisper's byte ratio is the fair one (measured per character, Spanish prompts crossed the
    threshold that their bytes did not)."""
    letters = [ch for ch in text if ch.isalpha()]
    return bool(letters) and sum(1 for ch in letters if ord(ch) >= 128) > len(letters) / 2


def quality_of(flags: tuple[str, ...]) -> str:
    return "low" if flags else "ok"


class SegmentGuard:
    """Flags for a stream of whisper segments (one per run of speech): signals, n-grams, cross-segment loops."""

    def __init__(self, cfg: GuardConfig) -> None:
        self._cfg = cfg
        self._recent: deque[str] = deque(maxlen=max(cfg.recent, 1))

    def flags(self, seg: Any, text: str, window_text: str | None = None) -> tuple[str, ...]:
        """``window_text``: the text of the whole decoding window ``seg`` came from (whisper's ratio is the
        window's); without it, whisper's own byte-based figure is used."""
        cfg, out = self._cfg, []
        ratio = getattr(seg, "compression_ratio", 0.0)
        if window_text is not None and multibyte_script(window_text):
            ratio = char_compression_ratio(window_text)
        if ratio > cfg.compression_ratio:
            out.append("compression")
        if getattr(seg, "avg_logprob", 0.0) < cfg.log_prob:
            out.append("low-logprob")
        logprob = getattr(seg, "avg_logprob", 0.0)
        if getattr(seg, "no_speech_prob", 0.0) > cfg.no_speech and logprob < cfg.log_prob / 2:
            out.append("no-speech")
        words = [w.lower() for w in _WORD.findall(text)]
        if repeated_ngram(words, cfg.max_repeats):
            out.append("repeated-ngram")
        key = " ".join(words)
        if len(words) >= 3 and cfg.recent > 0 and key in self._recent:
            out.append("repeats-previous")
        self._recent.append(key)
        return tuple(out)
