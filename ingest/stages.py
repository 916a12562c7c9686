"""The ingest pipeline, declared: the one place the stages are listed.

Each entry says which module implements a stage, what it reads, which ``IngestConfig`` fields hold its
options, and where it runs:

- ``worker`` stages need only read access to the video file and the model configs. They return records and
  never touch the store, so they run in this process, in worker processes or as Ray tasks
  (``ingest/work.py``: ``analyze``). Stages in different ``lane``s run concurrently (threads of one worker).
  The driver then writes each worker stage's records as one atomic group (``write_files`` before, then
  ``commit`` inside one ``store.write()``), in the order listed.
- ``store`` stages run on the driver, beside the store, after the worker groups are committed: they read
  rows of this and earlier videos (speaker and entity matching across videos, the hierarchy built from
  committed rows) and run in the order listed.

A video longer than ``IngestConfig.chunk_seconds`` has its worker stages split into time chunks that run as
separate tasks and are stitched exactly on the driver (``ingest/chunks.py``; a stage's ``produce_part``).

Adding a stage is one module (a class with ``produce``/``write_files``/``commit`` for a worker stage, ``run``
for a store stage) and one entry below. The stages' options are saved with every video (``stage_runs`` row
``pipeline``), next to each stage's own model string.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from typing import Any

from memindex.config import public_dict

__all__ = ["StageSpec", "PIPELINE", "worker_stages", "store_stages", "stage_options", "options_json"]


@dataclass(frozen=True)
class StageSpec:
    """One stage of the pipeline. ``writes``: the ``stage_runs`` rows its records fill; ``resume_when``: the
    row whose status done/pending/skipped means a worker stage's records are committed already (a resumed
    ingest does not run it again)."""

    name: str
    impl: str  # "module:Class"
    side: str  # "worker" | "store"
    reads: tuple[str, ...]
    options: tuple[str, ...]  # IngestConfig fields
    writes: tuple[str, ...]
    lane: str = ""
    resume_when: str = ""

    def load(self) -> type:
        module, _, attr = self.impl.partition(":")
        return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


PIPELINE: tuple[StageSpec, ...] = (
    StageSpec(
        "frames",
        "memindex.ingest.visual_pass:VisualStage",
        "worker",
        ("video frames",),
        ("decode", "shots", "keyframes", "ocr"),
        ("shots", "keyframes", "visual", "ocr"),
        lane="frames",
        resume_when="shots",
    ),
    StageSpec(
        "speech",
        "memindex.ingest.speech:SpeechStage",
        "worker",
        ("audio chunks", "speaker entities (on commit)"),
        ("asr", "speakers"),
        ("asr", "speakers"),
        lane="audio",
        resume_when="asr",
    ),
    StageSpec(
        "captions",
        "memindex.ingest.store_stages:Captions",
        "store",
        ("keyframes", "utterances", "ocr lines"),
        ("captioner",),
        ("captions",),
    ),
    StageSpec(
        "levels",
        "memindex.ingest.store_stages:Levels",
        "store",
        ("stored rows of the video",),
        ("hierarchy", "summary", "captioner"),
        ("levels",),
    ),
    StageSpec(
        "semantic",
        "memindex.ingest.store_stages:Semantic",
        "store",
        ("stored rows", "entities of every video"),
        ("semantic",),
        ("semantic",),
    ),
)


def worker_stages() -> tuple[StageSpec, ...]:
    return tuple(s for s in PIPELINE if s.side == "worker")


def store_stages() -> tuple[StageSpec, ...]:
    return tuple(s for s in PIPELINE if s.side == "store")


def stage_options(cfg: Any) -> dict[str, dict[str, Any]]:
    """Each stage's options by stage name: ``{"frames": {"decode": {...}, "shots": {...}}, ...}``; endpoints
    are options, their keys are not (``memindex.config.public_dict``)."""
    return {s.name: {field: public_dict(getattr(cfg, field)) for field in s.options} for s in PIPELINE}


def options_json(cfg: Any) -> str:
    """``stage_options`` as canonical JSON: the same config always gives the same text, whatever its keys."""
    return json.dumps(stage_options(cfg), sort_keys=True, separators=(",", ":"), default=str)
