"""The store of one collection: SQL catalog (truth), FAISS tiers (derived, rebuilt when they lag) and the
media cache. All writes go through ``Store.write()``: one writer at a time (a file lock), one SQL
transaction, then the tiers catch up and are saved atomically."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from memindex.catalog.db import make_engine, migrate, sqlite_url
from memindex.catalog.models import Doc, TierState, Video
from memindex.config import StoreConfig
from memindex.encoders import make_frame_embedder, make_text_embedder
from memindex.encoders.base import FrameEmbedder, TextEmbedder
from memindex.errors import ConfigError, StageError, StoreError
from memindex.media import MediaCache
from memindex.tiers import VectorTier, choose_factory, factory_rank

__all__ = ["Store", "WriteTxn", "DocRow"]

log = logging.getLogger(__name__)
_COLLECTION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass
class DocRow:
    video_id: str
    ref_id: int
    start: float
    end: float
    text: str = ""


@dataclass
class WriteTxn:
    """What one write changes: SQL through ``session``, tier deltas applied after the commit."""

    session: Session
    added: dict[str, list[tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)
    removed: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add_docs(self, tier: str, rows: Sequence[DocRow], vectors: np.ndarray | None) -> list[int]:
        """Insert searchable docs; ``vectors`` None leaves them pending (e.g. no CLIP weights yet)."""
        docs = []
        for i, row in enumerate(rows):
            blob = None if vectors is None else np.asarray(vectors[i], np.float32).tobytes()
            docs.append(Doc(video_id=row.video_id, tier=tier, ref_id=row.ref_id, start=row.start,
                            end=row.end, text=row.text, vector=blob))
        self.session.add_all(docs)
        self.session.flush()
        ids = np.array([d.id for d in docs], dtype=np.int64)
        if vectors is not None and len(ids):
            self.added.setdefault(tier, []).append((ids, np.asarray(vectors, np.float32)))
        else:
            self.added.setdefault(tier, [])
        return ids.tolist()

    def set_vectors(self, tier: str, ids: Sequence[int], vectors: np.ndarray) -> None:
        """Fill pending docs' vectors (backfill)."""
        for doc_id, vec in zip(ids, vectors, strict=True):
            self.session.execute(update(Doc).where(Doc.id == doc_id).values(
                vector=np.asarray(vec, np.float32).tobytes()))
        self.added.setdefault(tier, []).append((np.asarray(ids, np.int64), np.asarray(vectors, np.float32)))

    def remove_docs(self, where: object) -> None:
        """Delete docs matching a SQL condition, remembering their ids per tier for the FAISS side."""
        for tier, doc_id in self.session.execute(select(Doc.tier, Doc.id).where(where)).all():
            self.removed.setdefault(tier, []).append(np.array([doc_id], np.int64))
        self.session.execute(delete(Doc).where(where))

    def touched(self) -> set[str]:
        return set(self.added) | set(self.removed)


class Store:
    """One collection's catalog, tiers and media cache under ``root/collections/<name>``."""

    def __init__(self, root: str | Path, *, config: StoreConfig | None = None, collection: str = "default",
                 catalog_url: str | None = None, create: bool = True) -> None:
        if not _COLLECTION.match(collection):
            raise ConfigError(f"invalid collection name {collection!r} (letters, digits, '_', '.', '-')")
        self.root = Path(root).expanduser().resolve()
        self.collection = collection
        self.dir = self.root / "collections" / collection
        if not self.dir.exists():
            if not create:
                raise StoreError(f"no collection {collection!r} in this store", path=str(self.root))
            self.dir.mkdir(parents=True)
        (self.dir / "tiers").mkdir(exist_ok=True)
        self.config = self._settle_config(config)
        self.catalog_url = catalog_url or os.environ.get("MEMINDEX_CATALOG_URL") or sqlite_url(
            self.dir / "catalog.sqlite")
        self.engine = make_engine(self.catalog_url)
        migrate(self.engine, str(self.dir))
        self.Session = sessionmaker(self.engine, expire_on_commit=False)
        self.media = MediaCache(self.dir / "media")
        self._tiers: dict[str, VectorTier] = {}
        self._tier_lock = threading.RLock()
        self._text: TextEmbedder | None = None
        self._frame: FrameEmbedder | None = None
        self._frame_error: StageError | None = None

    # -- config and encoders ---------------------------------------------------------------------------
    def _settle_config(self, asked: StoreConfig | None) -> StoreConfig:
        path = self.dir / "config.json"
        if path.exists():
            saved = StoreConfig.from_dict(json.loads(path.read_text()))
            if asked is not None:
                asked.check_compatible(saved)
                return asked
            return saved
        cfg = asked or StoreConfig()
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(cfg.to_dict(), indent=2))
        os.replace(tmp, path)
        return cfg

    @property
    def text_embedder(self) -> TextEmbedder:
        if self._text is None:
            self._text = make_text_embedder(self.config.text)
        return self._text

    @property
    def frame_embedder(self) -> FrameEmbedder:
        """Raises StageError when the CLIP weights cannot be loaded; callers decide what that means."""
        if self._frame is None:
            if self._frame_error is not None:
                raise self._frame_error
            if not self.config.frame.enabled:
                self._frame_error = StageError("frame embeddings are disabled in this store's config")
                raise self._frame_error
            try:
                self._frame = make_frame_embedder(self.config.frame)
            except StageError as exc:
                self._frame_error = exc  # remembered: a missing checkpoint is not retried on every query
                raise
        return self._frame

    def set_encoders(self, text: TextEmbedder | None = None, frame: FrameEmbedder | None = None) -> None:
        """Use already-built encoders (shared across stores, or test doubles)."""
        self._text = text or self._text
        self._frame = frame or self._frame

    def encoder_for(self, tier: str) -> TextEmbedder | FrameEmbedder:
        return self.frame_embedder if tier == "visual" else self.text_embedder

    # -- tiers -----------------------------------------------------------------------------------------
    def _generation(self, session: Session, tier: str) -> int:
        gen = session.scalar(select(TierState.generation).where(TierState.tier == tier))
        return int(gen or 0)

    def tier(self, name: str, *, save: bool = False) -> VectorTier:
        """The tier, loaded and caught up with the catalog (reloaded or reconciled when it lags)."""
        enc = self.encoder_for(name)
        with self._tier_lock:
            with self.Session() as s:
                gen = self._generation(s, name)
            tier = self._tiers.get(name)
            if tier is not None and tier.generation == gen:
                if save and tier.file_generation != gen:
                    tier.save(gen)
                return tier
            # Catch up on a fresh copy and swap it in: threads searching the old one are never disturbed.
            tier = VectorTier(self.dir / "tiers" / f"{name}.faiss", name, enc.name, enc.dim)
            if tier.generation != gen:
                self._reconcile(tier)
                tier.generation = gen
                if save:
                    tier.save(gen)
            self._tiers[name] = tier
            return tier

    def _reconcile(self, tier: VectorTier) -> None:
        with self.Session() as s:
            want = np.array(s.scalars(select(Doc.id).where(Doc.tier == tier.name, Doc.vector.is_not(None))).all(),
                            dtype=np.int64)
            have = tier.ids()
            stale = np.setdiff1d(have, want)
            missing = np.setdiff1d(want, have)
            tier.remove(stale)
            for chunk in np.array_split(missing, max(1, len(missing) // 4096 + 1)):
                if len(chunk) == 0:
                    continue
                rows = s.execute(select(Doc.id, Doc.vector).where(Doc.id.in_(chunk.tolist()))).all()
                vecs = np.stack([np.frombuffer(v, np.float32) for _, v in rows])
                tier.add(np.array([i for i, _ in rows], np.int64), vecs)
        if len(stale) or len(missing):
            log.info("tier %s reconciled with the catalog: -%d +%d", tier.name, len(stale), len(missing))

    # -- writes ----------------------------------------------------------------------------------------
    @contextmanager
    def write_lock(self) -> Iterator[None]:
        """The single-writer lock of this collection (across processes)."""
        with open(self.dir / "write.lock", "a+") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    @contextmanager
    def write(self) -> Iterator[WriteTxn]:
        """One atomic change: SQL rows commit together with the tier generations; tiers follow."""
        with self.write_lock():
            with self.Session.begin() as session:
                txn = WriteTxn(session)
                yield txn
                for name in txn.touched():
                    self._bump(session, name)
            for name in txn.touched():
                self._apply(name, txn)

    def _bump(self, session: Session, name: str) -> None:
        state = session.get(TierState, name)
        if state is None:
            session.add(TierState(tier=name, generation=1, encoder="", dim=0))
        else:
            state.generation += 1

    def _apply(self, name: str, txn: WriteTxn) -> None:
        with self._tier_lock:
            self._apply_locked(name, txn)

    def _apply_locked(self, name: str, txn: WriteTxn) -> None:
        tier = self._tiers.get(name)
        with self.Session() as s:
            gen = self._generation(s, name)
        if tier is not None and tier.generation == gen - 1:
            for ids in txn.removed.get(name, []):
                tier.remove(ids)
            for ids, vecs in txn.added.get(name, []):
                tier.add(ids, vecs)
            if factory_rank(choose_factory(tier.ntotal, tier.dim)) > factory_rank(tier.factory):
                tier = self._refactor(name, tier)
            tier.save(gen)
            return
        if not txn.added.get(name) and not txn.removed.get(name):
            return  # only pending docs: nothing to index yet; the tier catches up when next loaded
        try:
            self.tier(name, save=True)
        except StageError as exc:
            # Searches join hits against the catalog, so a lagging tier never shows deleted rows.
            log.warning("tier %s not updated now (%s); it is reconciled when its encoder loads", name, exc)

    def _refactor(self, name: str, tier: VectorTier) -> VectorTier:
        """The tier outgrew its factory (e.g. exact search past 100k vectors): rebuild it from the catalog's
        vectors with the factory for its size (IVF is trained on them), and swap it in."""
        with self.Session() as s:
            rows = s.execute(select(Doc.id, Doc.vector).where(Doc.tier == name, Doc.vector.is_not(None))).all()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), tier.dim)
        fresh = VectorTier(tier.path, name, tier.encoder, tier.dim)
        fresh.rebuild(ids, vecs)
        log.info("tier %s: %d vectors, index %s -> %s", name, len(ids), tier.factory, fresh.factory)
        self._tiers[name] = fresh
        return fresh

    def delete_video(self, video_id: str) -> None:
        """Remove a video and everything derived from it: rows, vectors in every tier, cached JPEGs."""
        from memindex.catalog.semantic import prune_video

        with self.write() as txn:
            txn.remove_docs(Doc.video_id == video_id)
            prune_video(txn.session, video_id)  # entities and facts only this video supported
            txn.session.execute(delete(Video).where(Video.id == video_id))
        self.media.remove_video(video_id)

    def collect_garbage(self) -> None:
        """Recovery after a crash: drop cached media of videos the catalog no longer holds (a delete killed
        after its commit) and rewrite tier files that lag the catalog (a write killed before its save)."""
        with self.write_lock():
            with self.Session() as s:
                known = set(s.scalars(select(Video.id)).all())
                states = dict(s.execute(select(TierState.tier, TierState.generation)).all())
            for orphan in self.media.video_ids() - known:
                self.media.remove_video(orphan)
            for path in sorted((self.dir / "tiers").glob("*.faiss")):
                name = path.name[: -len(".faiss")]
                try:
                    self.tier(name, save=True) if name in states else None
                except StageError as exc:
                    log.warning("tier %s left as is until its encoder loads: %s", name, exc)

    def has_vectors(self, tier: str) -> bool:
        with self.Session() as s:
            return s.scalar(select(Doc.id).where(Doc.tier == tier, Doc.vector.is_not(None)).limit(1)) is not None

    def tier_counts(self) -> dict[str, dict[str, int]]:
        with self.Session() as s:
            rows = s.execute(select(Doc.tier, func.count(Doc.id), func.count(Doc.vector)).group_by(Doc.tier))
            return {t: {"rows": int(n), "embedded": int(v), "pending": int(n - v)} for t, n, v in rows}

    def close(self) -> None:
        self.engine.dispose()
