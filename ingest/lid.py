"""Spoken-language identification before transcription, and the routing of speech to a model per language.

Each speech region's language distribution comes from a multilingual whisper model (one encoder pass on the
region itself, not padded to 30 s, so short regions cost little). A region's own evidence is combined with a
prior made of the rest of the video (every other region, weighted by its length, plus earlier chunks of the
same video): ``posterior(l) ~ p_region(l) * (prior(l) + prior_floor)``. A region therefore switches away from
the video's language only on strong evidence (by default about 20:1), which absorbs the confident slips of a
small model between close languages (Spanish heard as Italian) while a clear switch (French in an English
video, 1000:1) still wins. The chosen language and its posterior are recorded on every utterance.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from memindex.errors import ConfigError

__all__ = [
    "LanguageRouting",
    "Region",
    "LanguageChoice",
    "Run",
    "LanguageDetector",
    "LanguageTally",
    "choose_languages",
    "plan_runs",
    "ANY_LANGUAGE",
]

ANY_LANGUAGE = "*"
_MIN_SAMPLES = 16000  # one second at 16 kHz


@dataclass(frozen=True)
class LanguageRouting:
    """Which model transcribes which language and how identification decides. English goes to the ASR
    config's ``model`` (tiny.en by default) unless ``routes`` names "en" itself; ``"*"`` is every other
    language. A language with no route (and no ``"*"``) is not transcribed: its regions are stored without
    text, flagged ``no-model``."""

    routes: tuple[tuple[str, str], ...] = ((ANY_LANGUAGE, "packaged-base"),)  # (language code or "*", model)
    detector: str = "packaged-base"  # multilingual model that identifies each region's language
    min_prob: float = 0.5  # a posterior below this flags the utterance ``language-uncertain``
    prior_floor: float = 0.05  # how easily a region leaves the video's language (smaller: harder)
    lid_seconds: float = 15.0  # identify from at most this much of each region (a 30-s pass costs 4x a 15-s one)

    def table(self, english_model: str) -> dict[str, str]:
        """``{language: model}`` with English's model filled in; bad entries are ``ConfigError``s."""
        out = {"en": english_model}
        for lang, model in self.routes:
            if not lang or not model or (lang != ANY_LANGUAGE and not lang.isalpha()):
                raise ConfigError(f"bad ASR route {lang!r} -> {model!r}: want (language code or '*', model)")
            out[lang.lower()] = model
        if not 0.0 < self.prior_floor <= 1.0 or not 0.0 <= self.min_prob <= 1.0 or self.lid_seconds <= 0:
            raise ConfigError(
                f"min_prob and prior_floor must be in (0, 1] and lid_seconds positive, got {self.min_prob}, "
                f"{self.prior_floor}, {self.lid_seconds}"
            )
        return out


def model_for(language: str, table: Mapping[str, str]) -> str | None:
    """The model routed for ``language``, or None when nothing covers it."""
    return table.get(language) or table.get(ANY_LANGUAGE)


@dataclass(frozen=True)
class Region:
    """A stretch of speech, in samples of its chunk."""

    start: int
    end: int

    def seconds(self, sample_rate: int = 16000) -> float:
        return (self.end - self.start) / sample_rate


@dataclass(frozen=True)
class LanguageChoice:
    language: str
    prob: float  # posterior of ``language`` after the video prior
    uncertain: bool = False


@dataclass(frozen=True)
class Run:
    """Consecutive regions of one language for one model (``model`` None: no model covers the language)."""

    language: str
    model: str | None
    regions: tuple[Region, ...]
    choices: tuple[LanguageChoice, ...]

    def choice_at(self, sample: int) -> LanguageChoice:
        """The choice of the region holding (or nearest to) a sample of the chunk."""
        best = min(
            range(len(self.regions)),
            key=lambda i: (
                0
                if self.regions[i].start <= sample < self.regions[i].end
                else min(abs(sample - self.regions[i].start), abs(sample - self.regions[i].end))
            ),
        )
        return self.choices[best]


class LanguageDetector:
    """Language probabilities of a stretch of 16-kHz audio from a loaded multilingual ``WhisperModel``."""

    def __init__(self, model: Any) -> None:
        self._model = model

    def probabilities(self, audio: np.ndarray) -> dict[str, float]:
        # The encoder runs on the region's own frames (at most 30 s): unpadded input is what faster-whisper's
        # ``chunk_length`` option does too, and it costs a tenth of a padded pass on a 5-s region.
        fe = self._model.feature_extractor
        if len(audio) < _MIN_SAMPLES:  # a blip of speech: pad it to a second so the encoder has frames
            audio = np.pad(audio, (0, _MIN_SAMPLES - len(audio)))
        features = fe(audio)[..., : fe.nb_max_frames]
        encoded = self._model.encode(features)
        results = self._model.model.detect_language(encoded)[0]
        return {token[2:-2]: float(prob) for token, prob in results}


@dataclass
class LanguageTally:
    """Language evidence of the video so far (seconds per language), carried from chunk to chunk. A chunk
    that does not continue the previous one (the next video) starts a fresh tally."""

    seconds: dict[str, float] = field(default_factory=dict)
    _end: float | None = None

    def follow(self, start: float, end: float) -> None:
        if self._end is None or abs(start - self._end) > 1e-3:
            self.seconds = {}
        self._end = end

    def add(self, dists: Sequence[Mapping[str, float]], weights: Sequence[float]) -> None:
        for dist, w in zip(dists, weights, strict=True):
            for lang, p in dist.items():
                self.seconds[lang] = self.seconds.get(lang, 0.0) + w * p


def choose_languages(
    dists: Sequence[Mapping[str, float]],
    weights: Sequence[float],
    carried: Mapping[str, float],
    routing: LanguageRouting,
) -> list[LanguageChoice]:
    """Each region's language: its own distribution times the prior of everything else in the video."""
    total: dict[str, float] = dict(carried)
    for dist, w in zip(dists, weights, strict=True):
        for lang, p in dist.items():
            total[lang] = total.get(lang, 0.0) + w * p
    out = []
    for dist, w in zip(dists, weights, strict=True):
        others = {lang: v - w * dist.get(lang, 0.0) for lang, v in total.items()}
        out.append(_posterior_choice(dist, others, routing))
    return out


def _posterior_choice(
    dist: Mapping[str, float], others: Mapping[str, float], routing: LanguageRouting
) -> LanguageChoice:
    mass = sum(max(v, 0.0) for v in others.values())
    if mass <= 1e-9:  # nothing else heard in this video: the region decides alone
        post = dict(dist)
    else:
        post = {lang: p * (max(others.get(lang, 0.0), 0.0) / mass + routing.prior_floor) for lang, p in dist.items()}
    norm = sum(post.values()) or 1.0
    lang, p = max(post.items(), key=lambda kv: kv[1])
    prob = p / norm
    return LanguageChoice(lang, prob, prob < routing.min_prob)


def plan_runs(
    regions: Sequence[Region],
    choices: Sequence[LanguageChoice],
    table: Mapping[str, str],
    english_only: frozenset[str] = frozenset(),
) -> Iterator[Run]:
    """Group consecutive regions by (language, model). An uncertain region never goes to an English-only
    model (it could only write English): it goes to the ``"*"`` model, or to none."""
    current: list[tuple[Region, LanguageChoice]] = []
    key: tuple[str, str | None] | None = None
    for region, choice in zip(regions, choices, strict=True):
        model = model_for(choice.language, table)
        if choice.uncertain and model in english_only:
            fallback = table.get(ANY_LANGUAGE)
            model = fallback if fallback not in english_only else None
        if key is not None and key != (choice.language, model):
            yield _run(key, current)
            current = []
        key = (choice.language, model)
        current.append((region, choice))
    if key is not None:
        yield _run(key, current)


def _run(key: tuple[str, str | None], items: list[tuple[Region, LanguageChoice]]) -> Run:
    return Run(key[0], key[1], tuple(r for r, _ in items), tuple(c for _, c in items))
