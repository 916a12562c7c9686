"""The stages that run beside the store, on the driver, once a video's worker groups are committed (captions,
the hierarchy's levels, semantic memory). Each is three steps, like the worker stages' ``produce``/``commit``:

- ``load(video_id)`` reads the stored rows it needs (this video's rows, cached captions, keyframe JPEGs)
  into plain, picklable inputs (``ingest/store_records.py``); the only step that reads the store;
- ``produce(inputs)`` turns them into records with the stage's models (captioner, summariser and text
  embedder, face encoder) and no store, session or transaction at all;
- ``commit(records)`` writes the records in one ``store.write()``, re-checking what may have changed since
  the load (a video deleted meanwhile gets nothing; entities are matched inside the semantic commit).

``run(video_id)`` is the three in order; it replaces the stage's own results atomically."""

from __future__ import annotations

import logging
from typing import Any

from memindex.errors import MemIndexError, StoreError
from memindex.store import Store

__all__ = ["BesideStore", "Captions", "Levels", "Semantic"]

log = logging.getLogger(__name__)


class BesideStore:
    """What the store stages of one ingester share: the store, its config, and models loaded once (the
    captioner of the hierarchy builder, the face encoder)."""

    def __init__(self, store: Store, cfg: Any) -> None:
        self.store, self.cfg = store, cfg
        self._hierarchy: Any = None
        self._faces: Any = None
        self._faces_tried = False

    @property
    def hierarchy(self) -> Any:
        from memindex.ingest.rebuild import HierarchyBuilder

        if self._hierarchy is None:
            self._hierarchy = HierarchyBuilder(self.store, self.cfg)
        return self._hierarchy

    def face_encoder(self) -> Any:
        """dlib's models, loaded once; None when they cannot load (the semantic stage then says why)."""
        if not self._faces_tried and self.cfg.semantic.enabled and self.cfg.semantic.faces:
            self._faces_tried = True
            from memindex.ingest.faces import FaceEncoder

            try:
                self._faces = FaceEncoder()
            except MemIndexError:
                self._faces = None
        return self._faces


class Captions:
    """Keyframe captions not cached yet (a failing captioner is recorded; the build goes on)."""

    def __init__(self, beside: BesideStore) -> None:
        self.beside = beside

    def load(self, video_id: str) -> Any:
        from memindex.ingest.captioners import load_captions

        return load_captions(self.beside.store, video_id, self.beside.hierarchy.captioner.name)

    def produce(self, inputs: Any) -> Any:
        from memindex.ingest.captioners import produce_captions

        return produce_captions(inputs, self.beside.hierarchy.captioner)

    def commit(self, records: Any) -> dict[str, Any]:
        from memindex.ingest.captioners import commit_captions

        return commit_captions(self.beside.store, records)

    def run(self, video_id: str) -> None:
        self.commit(self.produce(self.load(video_id)))


class Levels:
    """Events, chapters and the video segment, their texts and episodic docs, from the stored rows."""

    def __init__(self, beside: BesideStore) -> None:
        self.beside = beside

    def load(self, video_id: str) -> Any:
        from memindex.ingest.rebuild import load_levels

        return load_levels(self.beside.store, video_id, self.beside.hierarchy.captioner.name)

    def produce(self, inputs: Any) -> Any:
        from memindex.ingest.rebuild import produce_levels

        return produce_levels(inputs, self.beside.cfg, self.beside.store.text_embedder)

    def commit(self, records: Any) -> dict[str, int]:
        from memindex.ingest.rebuild import commit_levels

        return commit_levels(self.beside.store, records)

    def run(self, video_id: str) -> None:
        self.commit(self.produce(self.load(video_id)))


class Semantic:
    """Names, terms, faces and facts consolidated into the collection's entities; a failure is recorded and
    the video stays ingested, unless the store itself failed (that stops the batch)."""

    def __init__(self, beside: BesideStore) -> None:
        self.beside = beside

    def load(self, video_id: str) -> Any:
        from memindex.ingest.semantic import load_semantic

        return load_semantic(self.beside.store, video_id, self.beside.cfg.semantic)

    def produce(self, inputs: Any) -> Any:
        from memindex.ingest.semantic import produce_semantic

        return produce_semantic(inputs, self.beside.cfg.semantic, self.beside.face_encoder())

    def commit(self, records: Any) -> dict[str, Any]:
        from memindex.ingest.semantic import commit_semantic

        return commit_semantic(self.beside.store, records)

    def run(self, video_id: str) -> None:
        cfg = self.beside.cfg.semantic
        if not cfg.enabled:
            return
        from memindex.ingest import semantic

        store = self.beside.store
        try:  # consolidate is exactly load, produce, commit (one entry point for ingest, rebuild and tests)
            semantic.consolidate(store, video_id, cfg, self.beside.face_encoder())
        except StoreError:
            raise
        except MemIndexError as exc:
            log.error(
                "semantic stage FAILED for video %s: %s (`memindex rebuild --stage semantic` retries)", video_id, exc
            )
            from memindex.ingest.commit import record_stage

            with store.write() as txn:
                record_stage(txn, video_id, "semantic", "failed", None, str(exc))
