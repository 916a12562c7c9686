"""The store of one collection: SQL catalog (truth), FAISS tiers (derived, rebuilt when they lag or fail
their checks) and the media cache. All writes go through ``Store.write()``: one writer at a time (a file
lock), one SQL transaction, then the tiers catch up and are saved atomically. A store on read-only media
opens for reading; a lost, empty or damaged catalog or config is refused, never started over."""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import cast

import numpy as np
from sqlalchemy import ColumnElement, Table, delete, func, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from memindex import faults
from memindex.catalog.db import collection_schema, make_engine, migrate, sqlite_url
from memindex.catalog.models import Doc, StoreMeta, TierState, Video
from memindex.config import StoreConfig
from memindex.encoders import Encoders
from memindex.encoders.base import FrameEmbedder, TextEmbedder
from memindex.errors import (
    ConfigError,
    CorruptStoreError,
    ReadOnlyStoreError,
    StageError,
    StoreError,
    StoreFullError,
)
from memindex.media import MediaCache
from memindex.vectors import BACKENDS, VectorBackend, open_backend
from memindex.vectors.tierfile import TierDamagedError

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
        first = self._allocate(len(rows))
        vecs = None if vectors is None else np.asarray(vectors, np.float32)
        docs = [
            {
                "id": first + i,
                "video_id": row.video_id,
                "tier": tier,
                "ref_id": row.ref_id,
                "start": row.start,
                "end": row.end,
                "text": row.text,
                "vector": None if vecs is None else vecs[i].tobytes(),
            }
            for i, row in enumerate(rows)
        ]
        self.session.flush()  # rows the docs point at first
        if docs:  # one multi-row INSERT, no ORM object per doc (the write path's throughput: benchmarks/)
            self.session.execute(cast(Table, Doc.__table__).insert(), docs)
        ids = np.arange(first, first + len(docs), dtype=np.int64)
        if vectors is not None and len(ids):
            self.added.setdefault(tier, []).append((ids, np.asarray(vectors, np.float32)))
        else:
            self.added.setdefault(tier, [])
        return ids.tolist()

    def _allocate(self, n: int) -> int:
        """The first of ``n`` fresh doc ids. Ids are never reused, not even after a delete: a vector left in
        a tier file by a crash can then never be mistaken for a new doc's."""
        meta = self.session.get(StoreMeta, "next_doc_id")
        if meta is None:
            high = self.session.scalar(select(func.max(Doc.id))) or 0
            meta = StoreMeta(key="next_doc_id", value=str(high + 1))
            self.session.add(meta)
        first = int(meta.value)
        meta.value = str(first + n)
        return first

    def set_vectors(self, tier: str, ids: Sequence[int], vectors: np.ndarray) -> None:
        """Fill pending docs' vectors (backfill)."""
        for doc_id, vec in zip(ids, vectors, strict=True):
            self.session.execute(
                update(Doc).where(Doc.id == doc_id).values(vector=np.asarray(vec, np.float32).tobytes())
            )
        self.added.setdefault(tier, []).append((np.asarray(ids, np.int64), np.asarray(vectors, np.float32)))

    def remove_docs(self, where: ColumnElement[bool]) -> None:
        """Delete docs matching a SQL condition, remembering their ids per tier for the FAISS side."""
        rows = self.session.execute(select(Doc.tier, Doc.id).where(where, Doc.vector.is_not(None))).all()
        for tier, doc_id in rows:  # pending docs (no vector yet) were never in a tier file
            self.removed.setdefault(tier, []).append(np.array([doc_id], np.int64))
        self.session.execute(delete(Doc).where(where))

    def touched(self) -> set[str]:
        return set(self.added) | set(self.removed)


class Store:
    """One collection's catalog, tiers and media cache under ``root/collections/<name>``.

    ``catalog_url``: a shared catalog (PostgreSQL, one schema per collection) instead of the folder's SQLite
    file; ``tier_token``: the vector backend's token (Milvus), put into the settled ``config.tiers`` and never
    saved. ``read_only`` None opens read-only when the folder is not writable (a read-only mount or a copy on
    read-only media); writes then raise ``ReadOnlyStoreError``. Nothing here reads the environment."""

    def __init__(
        self,
        root: str | Path,
        *,
        config: StoreConfig | None = None,
        collection: str = "default",
        catalog_url: str | None = None,
        create: bool = True,
        read_only: bool | None = None,
        tier_token: str | None = None,
    ) -> None:
        if not _COLLECTION.match(collection):
            raise ConfigError(f"invalid collection name {collection!r} (letters, digits, '_', '.', '-')")
        self.root = _store_root(root)
        self.collection = collection
        self.dir = self.root / "collections" / collection
        self.read_only = (
            bool(read_only) if read_only is not None else _unwritable(self.dir if self.dir.exists() else self.root)
        )
        self._open_dir(create)
        shared = catalog_url
        self._check_catalog_file(shared)
        self.config = _with_token(self._settle_config(config), tier_token)
        BACKENDS.get(self.config.tiers.name)  # an unknown vector backend fails here, listing the valid ones
        catalog = self.dir / "catalog.sqlite"
        self.catalog_url = shared or sqlite_url(
            catalog, read_only=self.read_only, immutable=self.read_only and _unwritable(self.dir)
        )
        schema = collection_schema(collection) if shared and not shared.startswith("sqlite") else None
        self.engine = make_engine(self.catalog_url, schema=schema, read_only=self.read_only)
        where = str(catalog) if not shared else f"{_redact(shared)} (collection {collection})"
        migrate(self.engine, where, read_only=self.read_only)
        self.Session = sessionmaker(self.engine, expire_on_commit=False)
        self.catalog_id = self._claim_catalog(where)
        self.media = MediaCache(self.dir / "media", create=not self.read_only)
        self._tiers: dict[str, VectorBackend] = {}
        self._tier_lock = threading.RLock()
        self.encoders = Encoders(self.config)
        if not self.read_only:
            self._sweep()

    # -- opening -----------------------------------------------------------------------------------------
    def _open_dir(self, create: bool) -> None:
        if not self.dir.exists():
            if not create:
                raise StoreError(f"no collection {self.collection!r} in this store", path=str(self.root))
            if self.read_only:
                raise ReadOnlyStoreError(
                    f"no collection {self.collection!r} in this read-only store", path=str(self.root)
                )
            try:
                self.dir.mkdir(parents=True)
            except OSError as exc:
                raise StoreError(f"cannot create the store: {exc.strerror}", path=str(self.dir)) from exc
        if not self.read_only:
            (self.dir / "tiers").mkdir(exist_ok=True)

    def _check_catalog_file(self, shared: str | None) -> None:
        """A missing or empty catalog beside tiers or media means the store's truth is lost: refuse."""
        if shared:
            return
        catalog = self.dir / "catalog.sqlite"
        empty = not catalog.exists() or catalog.stat().st_size == 0
        media = self.dir / "media"
        has_data = any((self.dir / "tiers").glob("*.faiss")) or (
            media.is_dir() and any(p.is_dir() for p in media.iterdir())
        )
        if empty and has_data:
            state = "missing" if not catalog.exists() else "empty (0 bytes)"
            raise CorruptStoreError(
                f"the catalog is {state} but this collection still has tier files and keyframes: its records "
                "are lost. Restore catalog.sqlite from a backup, or move this collection folder away and "
                "ingest again",
                path=str(catalog),
            )
        if empty and self.read_only:
            raise ReadOnlyStoreError("no catalog in this read-only store", path=str(catalog))

    def _claim_catalog(self, where: str) -> str:
        """This catalog's id (tier files carry it) after checking it belongs to this collection."""
        with self.Session.begin() as s:
            meta = {m.key: m.value for m in s.scalars(select(StoreMeta))}
            owner = meta.get("collection")
            if owner is not None and owner != self.collection:
                raise ConfigError(f"this catalog belongs to collection {owner!r}, not {self.collection!r}", path=where)
            if owner is None and not self.read_only:
                s.add(StoreMeta(key="collection", value=self.collection))
        return meta.get("catalog_id", "")

    def _sweep(self) -> None:
        """Leftovers of a crashed writer, cleaned on open when no writer is active: temporary tier and
        media files, and the keyframe folders of videos the catalog no longer holds."""
        with self.write_lock(blocking=False) as held:
            if not held:
                return
            for tmp in (self.dir / "tiers").glob("*.tmp"):
                tmp.unlink(missing_ok=True)
            self._sweep_media()

    def _sweep_media(self) -> None:
        with self.Session() as s:
            status = dict(s.execute(select(Video.id, Video.status)).all())
        self.media.sweep(set(status), {v for v, st in status.items() if st == "ready"})

    def _settle_config(self, asked: StoreConfig | None) -> StoreConfig:
        path = self.dir / "config.json"
        if path.exists():
            try:
                saved = StoreConfig.from_dict(json.loads(path.read_text()))
            except (ValueError, TypeError, AttributeError, OSError) as exc:
                raise CorruptStoreError(
                    f"the store's config cannot be read ({exc}); restore it, or write it again with the "
                    "encoders the store was built with (docs/architecture.md, 'Store config')",
                    path=str(path),
                ) from exc
            if asked is not None:
                asked.check_compatible(saved)
                return asked
            return saved
        cfg = asked or StoreConfig()
        if self.read_only:
            return cfg
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(cfg.to_dict(), indent=2))
        os.replace(tmp, path)
        return cfg

    @property
    def text_embedder(self) -> TextEmbedder:
        return self.encoders.text_embedder

    @property
    def frame_embedder(self) -> FrameEmbedder:
        """Raises StageError when the CLIP weights cannot be loaded; callers decide what that means."""
        return self.encoders.frame_embedder

    def set_encoders(self, text: TextEmbedder | None = None, frame: FrameEmbedder | None = None) -> None:
        """Use already-built encoders (shared across stores, or test doubles)."""
        self.encoders.text = text or self.encoders.text
        self.encoders.frame = frame or self.encoders.frame

    def encoder_for(self, tier: str) -> TextEmbedder | FrameEmbedder:
        return self.frame_embedder if tier == "visual" else self.text_embedder

    # -- tiers -----------------------------------------------------------------------------------------
    def _generation(self, session: Session, tier: str) -> int:
        gen = session.scalar(select(TierState.generation).where(TierState.tier == tier))
        return int(gen or 0)

    def tier(self, name: str, *, save: bool = False) -> VectorBackend:
        """The tier, loaded and caught up with the catalog (reloaded or reconciled when it lags; rebuilt from
        the catalog when its file is damaged or was written against another catalog). The encoder identity
        it is checked against comes from the config where it can (no model weights load to open a tier)."""
        encoder, dim = self.encoders.identity(name)
        with self._tier_lock:
            with self.Session() as s:
                gen = self._generation(s, name)
            tier = self._tiers.get(name)
            if tier is not None and tier.generation == gen:
                if save and tier.file_generation != gen and not self.read_only:
                    tier.save(gen)
                return tier
            # Catch up on a fresh copy and swap it in: threads searching the old one are never disturbed.
            tier = self._load_tier(name, encoder, dim)
            if tier.generation != gen:
                self._reconcile(tier)
                tier.generation = gen
                if save and not self.read_only:
                    tier.save(gen)
                elif tier.file_generation == -1 and tier.ntotal and not self.read_only:
                    self._save_if_idle(tier, gen)  # a rebuilt file is written back when no writer is busy
            self._tiers[name] = tier
            return tier

    def _load_tier(self, name: str, encoder: str, dim: int) -> VectorBackend:
        try:
            return self._open_tier(name, encoder, dim, load=True)
        except TierDamagedError as exc:
            log.warning("%s; rebuilding it from the catalog", exc)
            return self._open_tier(name, encoder, dim, load=False)

    def _open_tier(self, name: str, encoder: str, dim: int, *, load: bool) -> VectorBackend:
        """The tier in the configured backend; huge files are checked quickly here, in full by ``check``."""
        return open_backend(
            self.config.tiers,
            self.dir / "tiers",
            name,
            encoder,
            dim,
            catalog_id=self.catalog_id,
            load=load,
            verify="quick",
            source=lambda ids: self._exact_vectors(ids, dim),
        )

    def _exact_vectors(self, ids: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """Catalog vectors of ``ids`` (for exact re-ranking of quantised candidates); deleted ids drop out."""
        with self.Session() as s:
            return _catalog_vectors(s, np.asarray(ids, np.int64), dim)

    def _save_if_idle(self, tier: VectorBackend, gen: int) -> None:
        with self.write_lock(blocking=False) as held:
            if held:
                with self.Session() as s:
                    if self._generation(s, tier.name) == gen:
                        tier.save(gen)

    def _reconcile(self, tier: VectorBackend) -> None:
        """Make the tier hold exactly the catalog's vectors: membership first, then content (a vector whose
        bytes differ from its catalog row is replaced)."""
        with self.Session() as s:
            want = np.array(
                s.scalars(select(Doc.id).where(Doc.tier == tier.name, Doc.vector.is_not(None))).all(), dtype=np.int64
            )
            have = tier.ids()
            stale = np.setdiff1d(have, want)
            tier.remove(stale)
            wrong = self._differing(s, tier, np.intersect1d(have, want))
            tier.remove(wrong)
            missing = np.union1d(np.setdiff1d(want, have), wrong)
            for chunk in _chunks(missing, 4096):
                ids, vecs = _catalog_vectors(s, chunk, tier.dim)
                tier.add(ids, vecs)
        if len(stale) or len(missing):
            log.info(
                "tier %s reconciled with the catalog: -%d +%d (%d with other content)",
                tier.name,
                len(stale),
                len(missing),
                len(wrong),
            )

    def _differing(self, s: Session, tier: VectorBackend, common: np.ndarray) -> np.ndarray:
        """Ids among ``common`` whose tier vector is not their catalog vector."""
        bad = []
        for chunk in _chunks(common, 32768):
            ids, want = _catalog_vectors(s, chunk, tier.dim)
            have = tier.vectors(ids)
            if tier.exact:
                same = np.all(have == want, axis=1)
            else:  # product quantisation keeps an approximation; a crossed vector is far from it
                norm = np.linalg.norm(have, axis=1) * np.linalg.norm(want, axis=1) + 1e-9
                same = np.sum(have * want, axis=1) / norm >= 0.8
            bad.append(ids[~same])
        return np.concatenate(bad) if bad else np.zeros(0, np.int64)

    # -- writes ----------------------------------------------------------------------------------------
    @contextmanager
    def write_lock(self, *, blocking: bool = True) -> Iterator[bool]:
        """The single-writer lock of this collection (across processes); yields False when ``blocking`` is
        off and another writer holds it."""
        if self.read_only:
            raise ReadOnlyStoreError("this store is open read-only", path=str(self.dir))
        with open(self.dir / "write.lock", "a+") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    @contextmanager
    def write(self) -> Iterator[WriteTxn]:
        """One atomic change: SQL rows commit together with the tier generations; tiers follow. Disk full or
        an I/O error while committing is a ``StoreFullError`` (a store-wide fault: stop the batch)."""
        with self.write_lock(), _store_faults(str(self.dir)):
            with self.Session.begin() as session:
                txn = WriteTxn(session)
                yield txn
                for name in txn.touched():
                    self._bump(session, name)
                faults.point("catalog.commit")
            faults.point("catalog.committed")
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
            if tier.outgrown():
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

    def _refactor(self, name: str, tier: VectorBackend) -> VectorBackend:
        """The tier outgrew its factory (e.g. exact search past 100k vectors): rebuild it from the catalog's
        vectors with the factory for its size, trained on a sample, streamed in chunks (a 10M-vector tier
        never holds the catalog's 15 GB of vectors in memory at once), and swap it in."""
        fresh = self._open_tier(name, tier.encoder, tier.dim, load=False)
        with self.Session() as s:
            total = int(s.scalar(select(func.count(Doc.id)).where(Doc.tier == name, Doc.vector.is_not(None))) or 0)
            fresh.rebuild_from(total, _tier_chunks(s, name, tier.dim), _tier_sample(s, name, tier.dim, total))
        log.info("tier %s: %d vectors, index %s -> %s", name, total, tier.factory, fresh.factory)
        self._tiers[name] = fresh
        return fresh

    def delete_video(self, video_id: str) -> None:
        """Remove a video and everything derived from it: rows, vectors in every tier, cached JPEGs."""
        from memindex.catalog.semantic import prune_video

        with self.write() as txn:
            txn.remove_docs(Doc.video_id == video_id)
            prune_video(txn.session, video_id)  # entities and facts only this video supported
            txn.session.execute(delete(Video).where(Video.id == video_id))
        try:
            faults.point("media.remove")
            self.media.remove_video(video_id)
        except OSError as exc:  # the delete is committed; the next open or check sweeps the orphan folder
            log.warning(
                "video %s deleted, but its keyframes could not be removed yet (%s); they are removed "
                "when the store is next opened",
                video_id,
                exc.strerror or exc,
            )

    def collect_garbage(self) -> None:
        """Recovery after a crash: drop cached media of videos the catalog no longer holds (a delete killed
        after its commit) and rewrite tier files that lag the catalog (a write killed before its save)."""
        with self.write_lock():
            with self.Session() as s:
                states = dict(s.execute(select(TierState.tier, TierState.generation)).all())
            self._sweep_media()
            for name in sorted(states):
                try:
                    self.tier(name, save=True)
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


def _with_token(config: StoreConfig, token: str | None) -> StoreConfig:
    """``config`` with the vector backend's token set (a secret field: ``config.json`` never holds it)."""
    return config if token is None else replace(config, tiers=replace(config.tiers, token=token))


def _store_root(root: str | Path) -> Path:
    """The store folder, refusing an empty path and a path that is a file."""
    if not str(root).strip():
        raise ConfigError("no store path given (an empty path would put a store in the working directory)")
    path = Path(root).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise ConfigError("the store path is a file, not a store folder", path=str(path))
    return path


def _unwritable(path: Path) -> bool:
    """True when ``path`` (or its nearest existing parent) cannot be written by this process."""
    while not path.exists() and path != path.parent:
        path = path.parent
    if not os.access(path, os.W_OK):
        return True
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _redact(url: str) -> str:
    """A catalog URL fit for messages: the password replaced."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def _chunks(ids: np.ndarray, size: int) -> Iterator[np.ndarray]:
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


def _tier_chunks(s: Session, tier: str, dim: int, size: int = 65536) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """A tier's catalog vectors in id order, ``size`` at a time (keyset pagination on the primary key)."""
    last = 0
    while True:
        rows = s.execute(
            select(Doc.id, Doc.vector)
            .where(Doc.tier == tier, Doc.vector.is_not(None), Doc.id > last)
            .order_by(Doc.id)
            .limit(size)
        ).all()
        if not rows:
            return
        last = rows[-1][0]
        yield (
            np.array([r[0] for r in rows], np.int64),
            np.frombuffer(b"".join(bytes(r[1] or b"") for r in rows), np.float32).reshape(len(rows), dim),
        )


def _tier_sample(s: Session, tier: str, dim: int, total: int, want: int = 262144) -> np.ndarray:
    """About ``want`` of a tier's catalog vectors, spread over it (every n-th id), to train an index on."""
    step = max(1, total // want)
    rows = s.scalars(
        select(Doc.vector).where(Doc.tier == tier, Doc.vector.is_not(None), Doc.id % step == 0).limit(want)
    ).all()
    if len(rows) < min(total, want) // 2:  # the tier's ids fall on few multiples of step: take the first ones
        rows = s.scalars(select(Doc.vector).where(Doc.tier == tier, Doc.vector.is_not(None)).limit(want)).all()
    return np.frombuffer(b"".join(bytes(r) for r in rows if r), np.float32).reshape(len(rows), dim)


def _catalog_vectors(s: Session, ids: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors) of the catalog rows ``ids``, in id order."""
    rows = s.execute(select(Doc.id, Doc.vector).where(Doc.id.in_(ids.tolist())).order_by(Doc.id)).all()
    out = np.array([r[0] for r in rows], np.int64)
    vecs = np.frombuffer(b"".join(cast(bytes, r[1]) for r in rows), np.float32).reshape(len(rows), dim)
    return out, vecs


_FULL = (errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EROFS)


@contextmanager
def _store_faults(where: str) -> Iterator[None]:
    """Disk full, quota, I/O and read-only errors inside a write become one ``StoreFullError``."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in _FULL:
            raise
        raise StoreFullError(f"the store cannot be written: {exc.strerror or exc}", path=where) from exc
    except DBAPIError as exc:
        orig = exc.orig
        text = str(orig).lower()
        if isinstance(orig, sqlite3.OperationalError) and ("full" in text or "disk i/o" in text):
            raise StoreFullError(f"the catalog cannot be written: {orig}", path=where) from exc
        if "readonly" in text.replace(" ", "") or "read-only" in text:
            raise ReadOnlyStoreError(f"the catalog cannot be written: {orig}", path=where) from exc
        raise
