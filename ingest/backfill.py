"""Fill the visual tier for keyframes that were stored without vectors (CLIP weights were missing).

Batch by batch, in the same three steps as the store stages: ``load_pending`` reads the pending visual docs
and their keyframe JPEGs, ``embed_pending`` embeds them with the frame embedder (no store), and
``commit_vectors`` sets the vectors in one ``store.write()`` of the docs that are still there and still
pending (a video deleted meanwhile, or another backfill that got there first, gets nothing)."""

from __future__ import annotations

import io
import logging

import numpy as np
from sqlalchemy import select

from memindex.catalog.models import Doc, Frame
from memindex.encoders.base import FrameEmbedder
from memindex.errors import StageError
from memindex.ingest.commit import record_stage
from memindex.ingest.store_records import KeyframeVectors, PendingKeyframes
from memindex.ingest.stored import read_images
from memindex.ingest.work import analysis_threads
from memindex.store import Store

__all__ = ["backfill_visual", "load_pending", "embed_pending", "commit_vectors"]

log = logging.getLogger(__name__)


def backfill_visual(store: Store, embedder: FrameEmbedder | None, why: str | None, batch: int = 64) -> dict:
    if embedder is None:
        raise StageError(f"cannot backfill the visual tier: {why or 'frame embeddings are disabled'}")
    filled, videos = 0, set()
    while (pending := load_pending(store, batch)).doc_ids:
        with analysis_threads():
            vectors = embed_pending(pending, embedder)
        done = commit_vectors(store, vectors)
        if not done:
            continue  # all of this batch went meanwhile; the next load no longer sees it
        filled += len(done)
        videos |= {vid for doc, vid in zip(pending.doc_ids, pending.video_ids, strict=True) if doc in done}
    log.info("visual tier backfilled: %d keyframes in %d videos", filled, len(videos))
    return {"stage": "visual", "filled": filled, "videos": sorted(videos)}


def load_pending(store: Store, batch: int) -> PendingKeyframes:
    """Up to ``batch`` visual docs without vectors, with their keyframe JPEGs."""
    with store.Session() as s:
        rows = s.execute(
            select(Doc.id, Doc.video_id, Frame.path)
            .join(Frame, Frame.id == Doc.ref_id)
            .where(Doc.tier == "visual", Doc.vector.is_(None))
            .limit(batch)
        ).all()
    paths = tuple(p for _, _, p in rows)
    return PendingKeyframes(tuple(r[0] for r in rows), tuple(r[1] for r in rows), paths, read_images(store, paths))


def embed_pending(pending: PendingKeyframes, embedder: FrameEmbedder) -> KeyframeVectors:
    """The keyframes' vectors (no store)."""
    from PIL import Image

    images = [np.asarray(Image.open(io.BytesIO(pending.images.read(p))).convert("RGB")) for p in pending.paths]
    return KeyframeVectors(pending.doc_ids, pending.video_ids, embedder.embed_images(images), embedder.name)


def commit_vectors(store: Store, records: KeyframeVectors) -> set[int]:
    """Set the vectors of the docs still pending, and each of their videos' ``visual`` stage row, in one
    transaction; returns the doc ids filled."""
    with store.write() as txn:
        q = select(Doc.id).where(Doc.id.in_(records.doc_ids), Doc.tier == "visual", Doc.vector.is_(None))
        live = set(txn.session.scalars(q).all())
        keep = [i for i, doc in enumerate(records.doc_ids) if doc in live]
        if not keep:
            return set()
        txn.set_vectors("visual", [records.doc_ids[i] for i in keep], records.vectors[keep])
        for vid in sorted({records.video_ids[i] for i in keep}):
            record_stage(txn, vid, "visual", "done", records.model, "backfilled")
    return {records.doc_ids[i] for i in keep}
