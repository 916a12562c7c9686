"""The ingester the core finds through the ``memindex.ingesters`` entry point: a folder or a list of
files in, one committed video at a time out; resumable, and a failing video never stops the others.

The stages are declared in ``ingest/stages.py``; ``ingest/work.py`` analyzes a video (on the executor chosen
by name: ``ingest/executors.py``) and ``ingest/runner.py`` commits the results in input order."""

from __future__ import annotations

import logging
from typing import Any

from memindex.errors import ConfigError, MediaError
from memindex.ingest.batch import discover
from memindex.ingest.config import IngestConfig
from memindex.ingest.executors import ExecutorSettings, make_executor
from memindex.ingest.runner import IngestReport, Runner, video_id_for
from memindex.ingest.stages import store_stages
from memindex.ingest.store_stages import BesideStore
from memindex.ingest.work import Models, analysis_threads
from memindex.progress import ProgressCallback, ProgressEvent
from memindex.store import Store

__all__ = ["Ingester", "IngestReport", "video_id_for"]

log = logging.getLogger(__name__)


class Ingester:
    """Runs the declared pipeline over videos with one executor: ``inline`` (default), ``local`` (``workers``
    processes; None: one per core) or ``ray`` (``address`` of the cluster). ``config`` is an
    ``IngestConfig`` or a dict of stage options (``{"ocr": {"interval": 2}}``); unknown ones are errors."""

    def __init__(
        self,
        store: Store,
        config: IngestConfig | dict | None = None,
        *,
        executor: str | None = None,
        workers: int | None = None,
        address: str | None = None,
        **unknown: Any,
    ) -> None:
        if unknown:
            raise ConfigError(
                f"unknown ingest option(s) {sorted(unknown)}; valid: ['address', 'config', 'executor', 'workers']"
            )
        self.store = store
        self.cfg = IngestConfig.from_dict(config) if isinstance(config, dict) else config or IngestConfig()
        if not isinstance(self.cfg, IngestConfig):
            raise ConfigError(f"config must be an IngestConfig or a dict of stage options, got {config!r}")
        self.executor = executor or ("ray" if address else "local" if workers else "inline")
        self.settings = ExecutorSettings(workers=workers, address=address)
        self.models = Models(store)  # the inline executor's models: the store's encoders, loaded once
        self.beside = BesideStore(store, self.cfg)

    # -- batch ---------------------------------------------------------------------------------------------
    def ingest(self, paths: Any, *, progress: ProgressCallback | None = None) -> IngestReport:
        """Each file that fails is reported in ``failed`` and the batch goes on; a store-wide fault stops it
        (``report.stopped``). KeyboardInterrupt stops it at once: committed work is kept, a re-run resumes."""
        emit = progress or (lambda _e: None)
        report = IngestReport()
        files, problems = discover(paths)
        emit(ProgressEvent("batch", "", total=len(files) + len(problems)))
        executor = make_executor(self.executor, self.settings, self.models, emit)
        runner = Runner(self.store, self.cfg, executor, self._store_stages(), emit, report)
        for path, why in problems:
            runner.failed(path, MediaError(why, path=path))
        finished = False
        try:
            with analysis_threads():  # the driver's stages, and the inline executor's analysis
                runner.run(files)
            finished = report.stopped is None
        finally:
            executor.close(cancel=not finished)
        return report

    def _store_stages(self) -> list[tuple[str, Any]]:
        return [(spec.name, spec.load()(self.beside)) for spec in store_stages()]

    def speaker_stage(self, vid: str) -> Any:
        """A fresh ``SpeakerStage`` for one video, or None when speakers are off or the diarizer cannot load
        (then recorded as failed for the video, and said loudly)."""
        from memindex.ingest.commit import record_outcome
        from memindex.ingest.speech import speaker_stage

        stage = speaker_stage(self.cfg.speakers, self.models)
        if stage is None or hasattr(stage, "feed"):
            return stage
        log.error("speakers stage FAILED for video %s: %s; words get no speaker ids", vid, stage.detail)
        with self.store.write() as txn:
            record_outcome(txn, vid, stage)
        return None

    # -- backfill ----------------------------------------------------------------------------------------
    def backfill(self, stage: str = "visual", *, progress: ProgressCallback | None = None) -> dict:
        from memindex.ingest.backfill import backfill_visual

        if stage != "visual":
            raise ConfigError(f"unknown backfill stage {stage!r}; valid: ['visual']")
        embedder, why = self.models.frame()
        return backfill_visual(self.store, embedder, why)

    # -- rebuild -----------------------------------------------------------------------------------------
    def rebuild(self, stage: str, videos: Any = None, *, progress: ProgressCallback | None = None) -> dict:
        """Re-derive a stage (events | captions | semantic) from stored rows, replacing its results atomically."""
        from memindex.ingest.rebuild import rebuild

        return rebuild(self.store, stage, videos, builder=self.beside.hierarchy, semantic=self.cfg.semantic)
