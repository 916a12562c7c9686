"""memindex's write side: decode a video once, run each stage, and commit what it found to the store.

``IngestConfig`` (frozen; one field per stage: ``decode``, ``shots``, ``keyframes``, ``asr``, ``ocr``,
``hierarchy``, ``captioner``, ``summary``, ``speakers``, ``semantic``) is what ``MemoryIndex.ingest(paths,
config=...)`` takes; ``IngestConfig.from_dict({"ocr": {"enabled": False}})`` builds one from a partial dict,
refusing unknown stages and options.

    from memindex.ingest import AsrConfig, IngestConfig
    index.ingest(["talks/"], config=IngestConfig(asr=AsrConfig(model="small")))
"""

import logging

from memindex.ingest.config import (
    AsrConfig,
    DecodeConfig,
    IngestConfig,
    KeyframeConfig,
    OcrConfig,
    ShotConfig,
)

__all__ = ["IngestConfig", "DecodeConfig", "ShotConfig", "KeyframeConfig", "AsrConfig", "OcrConfig"]

logging.getLogger(__name__).addHandler(logging.NullHandler())
