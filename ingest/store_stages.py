"""The stages that run beside the store, on the driver, once a video's worker groups are committed: they read
the rows of this video and of earlier ones (captions and the hierarchy from committed rows; names, faces and
facts matched against the collection's entities) and replace their own results atomically."""

from __future__ import annotations

import logging
from typing import Any

from memindex.errors import MemIndexError, StoreError
from memindex.store import Store

__all__ = ["BesideStore", "Captions", "Levels", "Semantic"]

log = logging.getLogger(__name__)


class BesideStore:
    """What the store stages of one ingester share: the store, its config, and models loaded once (the
    captioner and summariser of the hierarchy builder, the face encoder)."""

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

    def run(self, video_id: str) -> None:
        self.beside.hierarchy.caption(video_id)


class Levels:
    """Events, chapters and the video segment, their texts and episodic docs, from the stored rows."""

    def __init__(self, beside: BesideStore) -> None:
        self.beside = beside

    def run(self, video_id: str) -> None:
        self.beside.hierarchy.build(video_id)


class Semantic:
    """Names, terms, faces and facts consolidated into the collection's entities; a failure is recorded and
    the video stays ingested, unless the store itself failed (that stops the batch)."""

    def __init__(self, beside: BesideStore) -> None:
        self.beside = beside

    def run(self, video_id: str) -> None:
        cfg = self.beside.cfg.semantic
        if not cfg.enabled:
            return
        from memindex.ingest import semantic

        store = self.beside.store
        try:
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
