"""Fill the visual tier for keyframes that were stored without vectors (CLIP weights were missing)."""

from __future__ import annotations

import io
import logging

import numpy as np
from sqlalchemy import select

from memindex.catalog.models import Doc, Frame
from memindex.encoders.base import FrameEmbedder
from memindex.errors import StageError
from memindex.ingest.commit import record_stage
from memindex.store import Store

__all__ = ["backfill_visual"]

log = logging.getLogger(__name__)


def backfill_visual(store: Store, embedder: FrameEmbedder | None, why: str | None, batch: int = 64) -> dict:
    if embedder is None:
        raise StageError(f"cannot backfill the visual tier: {why or 'frame embeddings are disabled'}")
    from PIL import Image

    filled, videos = 0, set()
    while True:
        with store.Session() as s:
            rows = s.execute(
                select(Doc.id, Doc.video_id, Frame.path)
                .join(Frame, Frame.id == Doc.ref_id)
                .where(Doc.tier == "visual", Doc.vector.is_(None))
                .limit(batch)
            ).all()
        if not rows:
            break
        images = [np.asarray(Image.open(io.BytesIO(store.media.read(p))).convert("RGB")) for _, _, p in rows]
        vecs = embedder.embed_images(images)
        with store.write() as txn:
            txn.set_vectors("visual", [r[0] for r in rows], vecs)
            for vid in {r[1] for r in rows}:
                record_stage(txn, vid, "visual", "done", embedder.name, "backfilled")
        filled += len(rows)
        videos |= {r[1] for r in rows}
    log.info("visual tier backfilled: %d keyframes in %d videos", filled, len(videos))
    return {"stage": "visual", "filled": filled, "videos": sorted(videos)}
