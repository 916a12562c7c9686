"""``memindex check``: verify a store's three parts against each other, and repair what the catalog can
rebuild.

Checked: the catalog's own integrity (SQLite ``quick_check`` and foreign keys, the keyword index against its
rows), every tier file (header, checksum, catalog id, generation) or, on a backend without files (``milvus``),
every tier through the backend's own API (catalog id, encoder, generation, count), that each tier holds
exactly the catalog's vectors (ids both ways, and every vector equal to its catalog row), media folders of
videos the catalog does not hold, keyframes the catalog names but the cache lacks, and temporary files a
crashed writer left. ``repair`` rebuilds tiers (in their own backend) and the keyword index from the catalog
and removes orphan and temporary files; the catalog itself is never rewritten (it is the truth; a damaged
catalog is restored from a backup).
"""

from __future__ import annotations

import logging
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from memindex.catalog.models import Doc, Frame, TierState, Video
from memindex.errors import EncoderMismatchError, ReadOnlyStoreError
from memindex.store import Store
from memindex.tiers import TierDamagedError, VectorTier
from memindex.vectors import VectorBackend, open_backend

__all__ = ["check_store"]

log = logging.getLogger(__name__)

FILE_BACKENDS = ("faiss", "faiss-gpu")  # tiers kept as files in tiers/; any other backend is asked through its API
_CHUNK = 65_536  # catalog vectors per batch when a backend tier is rebuilt


@dataclass
class _Report:
    repair: bool
    problems: list[dict[str, Any]] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, where: str, detail: str, repaired: bool = False) -> None:
        self.problems.append({"kind": kind, "where": where, "detail": detail, "repaired": repaired})

    def to_dict(self) -> dict[str, Any]:
        ok = all(p["repaired"] for p in self.problems)
        return {"ok": ok, "problems": self.problems, "checked": self.checked}


def check_store(store: Store, *, repair: bool = False) -> dict[str, Any]:
    """A report ``{ok, problems: [{kind, where, detail, repaired}], checked: {...}}``; ``ok`` is True when
    nothing is wrong (or everything found was repaired)."""
    if repair and store.read_only:
        raise ReadOnlyStoreError("cannot repair a store opened read-only", path=str(store.dir))
    report = _Report(repair)
    _check_catalog(store, report)
    if repair:
        with store.write_lock():
            _check_tiers(store, report)
            _check_media(store, report)
    else:
        _check_tiers(store, report)
        _check_media(store, report)
    return report.to_dict()


# -- catalog -------------------------------------------------------------------------------------------------
def _check_catalog(store: Store, report: _Report) -> None:
    where = "catalog"
    with store.engine.connect() as conn:
        report.checked["videos"] = int(conn.execute(select(func.count(Video.id))).scalar() or 0)
        report.checked["docs"] = int(conn.execute(select(func.count(Doc.id))).scalar() or 0)
        if store.engine.dialect.name != "sqlite":
            return
        verdict = [r[0] for r in conn.execute(text("PRAGMA quick_check")).all()]
        if verdict != ["ok"]:
            report.add("catalog", where, "; ".join(verdict[:5]))
        broken = conn.execute(text("PRAGMA foreign_key_check")).all()
        if broken:
            report.add("catalog", where, f"{len(broken)} rows point at rows that do not exist")
        fts_ok = store.read_only or _fts_ok(conn)  # FTS5's check is an INSERT: not possible read-only
    if not fts_ok:
        fixed = False
        if report.repair:
            with store.engine.begin() as conn:
                conn.execute(text("INSERT INTO docs_fts(docs_fts) VALUES ('rebuild')"))
            fixed = True
        report.add("keyword_index", "docs_fts", "the keyword index disagrees with the docs", fixed)


def _fts_ok(conn) -> bool:  # type: ignore[no-untyped-def]
    try:
        conn.execute(text("INSERT INTO docs_fts(docs_fts, rank) VALUES ('integrity-check', 1)"))
    except Exception as exc:  # SQLite reports a damaged FTS index as a generic database error
        log.debug("fts integrity-check: %s", exc)
        return False
    return True


# -- tiers ---------------------------------------------------------------------------------------------------
def _check_tiers(store: Store, report: _Report) -> None:
    tiers_dir = store.dir / "tiers"
    for tmp in sorted(tiers_dir.glob("*.tmp")):
        report.add("temp_file", str(tmp), "left by an interrupted tier save", _unlink(tmp, report.repair))
    with store.Session() as s:
        states = dict(s.execute(select(TierState.tier, TierState.generation)).all())
        with_vectors = set(s.scalars(select(Doc.tier).where(Doc.vector.is_not(None)).distinct()).all())
        if store.config.tiers.name not in FILE_BACKENDS:
            for name in sorted(set(states) | with_vectors):
                report.checked["tiers"] = report.checked.get("tiers", 0) + 1
                _check_backend_tier(store, s, report, name, int(states.get(name, 0)))
            return
        names = sorted(set(states) | with_vectors | {p.name[: -len(".faiss")] for p in tiers_dir.glob("*.faiss")})
        for name in names:
            report.checked["tiers"] = report.checked.get("tiers", 0) + 1
            problem = _tier_problem(store, s, name, int(states.get(name, 0)))
            if problem is None:
                continue
            fixed = _rebuild_tier(store, s, name, int(states.get(name, 0))) if report.repair else False
            report.add("tier", str(tiers_dir / f"{name}.faiss"), problem, fixed)


def _tier_problem(store: Store, s: Session, name: str, generation: int) -> str | None:
    """What is wrong with one tier file, or None."""
    path = store.dir / "tiers" / f"{name}.faiss"
    ids, vecs = _catalog_tier(s, name)
    if not path.exists():
        return f"missing ({len(ids)} vectors in the catalog)" if len(ids) else None
    try:
        header = VectorTier.peek(path, name)
        tier = VectorTier(
            path, name, str(header["encoder"]), int(header["dim"]), use_gpu=False, catalog_id=store.catalog_id
        )
    except TierDamagedError as exc:
        return exc.message
    return _contents_problem(tier, generation, ids, vecs, "the file")


def _contents_problem(
    tier: VectorBackend, generation: int, ids: np.ndarray, vecs: np.ndarray, holder: str
) -> str | None:
    """What differs between a tier and the catalog's vectors of it (generation, ids both ways, count,
    content), or None."""
    if tier.file_generation != generation:
        return f"at generation {tier.file_generation}, the catalog at {generation}"
    have = tier.ids()
    if len(np.unique(have)) != len(have):
        return "holds an id twice"
    stray, missing = np.setdiff1d(have, ids), np.setdiff1d(ids, have)
    if len(stray) or len(missing):
        return f"{len(stray)} vectors without a catalog row, {len(missing)} catalog vectors not in {holder}"
    if tier.ntotal != len(have):
        return f"counts {tier.ntotal} vectors but holds {len(have)}"
    if len(ids) and tier.exact and not np.array_equal(tier.vectors(ids), vecs):
        return "vectors differ from the catalog's"
    return None


def _check_backend_tier(store: Store, s: Session, report: _Report, name: str, generation: int) -> None:
    """One tier of a backend without files (e.g. a Milvus collection), checked and rebuilt through its API."""
    where = f"{store.config.tiers.name}:{name}"
    ids, vecs = _catalog_tier(s, name)
    encoder = _encoder_name(store, None, name)
    if encoder is None:
        report.add("tier", where, "cannot be checked: its encoder does not load")
        return
    dim = vecs.shape[1] if len(ids) else store.encoders.identity(name)[1]
    try:
        tier = _open_backend_tier(store, name, encoder, dim, load=True)
        where = _backend_where(tier, where)
        problem = _contents_problem(tier, generation, ids, vecs, "the backend")
    except (TierDamagedError, EncoderMismatchError) as exc:
        problem = exc.message
    if problem is None:
        return
    fixed = False
    if report.repair:
        fresh = _open_backend_tier(store, name, encoder, dim, load=False)  # starts the tier over, empty
        fresh.rebuild_from(len(ids), _batches(ids, vecs), vecs[:262_144])
        fresh.save(generation)
        store._tiers.pop(name, None)  # the next search loads the rebuilt tier
        fixed = True
    report.add("tier", where, problem, fixed)


def _open_backend_tier(store: Store, name: str, encoder: str, dim: int, *, load: bool) -> VectorBackend:
    return open_backend(
        store.config.tiers, store.dir / "tiers", name, encoder, dim, catalog_id=store.catalog_id, load=load
    )


def _backend_where(tier: VectorBackend, fallback: str) -> str:
    """Where a backend keeps the tier: ``<uri> (<collection>)`` for Milvus."""
    uri, collection = getattr(tier, "uri", None), getattr(tier, "collection", None)
    return f"{uri} ({collection})" if uri and collection else fallback


def _batches(ids: np.ndarray, vecs: np.ndarray):  # type: ignore[no-untyped-def]
    for lo in range(0, len(ids), _CHUNK):
        yield ids[lo : lo + _CHUNK], vecs[lo : lo + _CHUNK]


def _catalog_tier(s: Session, name: str) -> tuple[np.ndarray, np.ndarray]:
    rows = s.execute(select(Doc.id, Doc.vector).where(Doc.tier == name, Doc.vector.is_not(None)).order_by(Doc.id)).all()
    ids = np.array([r[0] for r in rows], np.int64)
    if not rows:
        return ids, np.zeros((0, 0), np.float32)
    vecs = np.frombuffer(b"".join(cast(bytes, r[1]) for r in rows), np.float32).reshape(len(rows), -1)
    return ids, vecs


def _rebuild_tier(store: Store, s: Session, name: str, generation: int) -> bool:
    """Write the tier afresh from the catalog's vectors (without loading its encoder)."""
    ids, vecs = _catalog_tier(s, name)
    path = store.dir / "tiers" / f"{name}.faiss"
    encoder = _encoder_name(store, path, name)
    if encoder is None:
        return False
    dim = vecs.shape[1] if len(ids) else store.text_embedder.dim
    tier = VectorTier(path, name, encoder, dim, use_gpu=False, catalog_id=store.catalog_id, load=False)
    tier.rebuild(ids, vecs)
    tier.save(generation)
    store._tiers.pop(name, None)  # the next search loads the rebuilt file
    return True


def _encoder_name(store: Store, path, name: str) -> str | None:  # type: ignore[no-untyped-def]
    """The encoder a tier's vectors come from: the file's header when readable, else the store's encoder."""
    if path is not None:
        with suppress(TierDamagedError, OSError):  # unreadable header: fall back to the store's encoder
            return str(VectorTier.peek(path, name)["encoder"])
    try:
        return store.encoders.identity(name)[0]
    except Exception as exc:  # e.g. CLIP weights missing: the tier is rebuilt once they load
        log.warning("tier %s cannot be rebuilt now: %s", name, exc)
        return None


# -- media ---------------------------------------------------------------------------------------------------
def _check_media(store: Store, report: _Report) -> None:
    with store.Session() as s:
        status = dict(s.execute(select(Video.id, Video.status)).all())
        frames = s.execute(select(Frame.video_id, Frame.path)).all()
    report.checked["keyframes"] = len(frames)
    for orphan in sorted(store.media.video_ids() - set(status)):
        fixed = False
        if report.repair:
            store.media.remove_video(orphan)
            fixed = True
        report.add("orphan_media", str(store.media.root / orphan), "keyframes of a video not in the catalog", fixed)
    for vid in sorted(v for v, st in status.items() if st == "ready"):
        for tmp in sorted((store.media.root / vid).glob("*.tmp")):
            report.add("temp_file", str(tmp), "left by an interrupted keyframe write", _unlink(tmp, report.repair))
    lost = [p for v, p in frames if status.get(v) == "ready" and not (store.media.root / p).is_file()]
    if lost:
        report.add(
            "missing_media",
            str(store.media.root),
            f"{len(lost)} keyframes named by the catalog are "
            f"missing (first: {lost[0]}); re-ingest the video to restore them",
        )


def _unlink(path, repair: bool) -> bool:  # type: ignore[no-untyped-def]
    if repair:
        path.unlink(missing_ok=True)
    return repair
