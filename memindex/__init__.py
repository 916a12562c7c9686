"""memindex: a hierarchical multimodal memory index for long videos.

import memindex
with memindex.open("my-store") as index:
    index.ingest(["lectures/"])
    for hit in index.search("gradient descent", k=5):
        print(hit.uri, hit.start, hit.end, hit.text)
"""

import logging

from memindex.api import MemoryIndex
from memindex.api import open_index as open  # noqa: A001  (the documented entry point)
from memindex.config import FrameEncoderConfig, StoreConfig, TextEncoderConfig
from memindex.errors import (
    ConfigError,
    EncoderMismatchError,
    MediaError,
    MemIndexError,
    MissingDependencyError,
    NotFoundError,
    QueryError,
    SchemaError,
    StageError,
    StoreError,
)
from memindex.progress import ProgressEvent
from memindex.records import Frame, Results, ScreenText, Segment, Utterance, Video
from memindex.search import Hit

__version__ = "0.1.0"

__all__ = [
    "open",
    "MemoryIndex",
    "Hit",
    "Video",
    "Segment",
    "Utterance",
    "Frame",
    "ScreenText",
    "Results",
    "ProgressEvent",
    "StoreConfig",
    "TextEncoderConfig",
    "FrameEncoderConfig",
    "MemIndexError",
    "ConfigError",
    "EncoderMismatchError",
    "MissingDependencyError",
    "MediaError",
    "StageError",
    "StoreError",
    "SchemaError",
    "NotFoundError",
    "QueryError",
    "__version__",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
