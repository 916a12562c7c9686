"""Consistency checks over a store's three parts: catalog, FAISS tier files and the media cache."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
from sqlalchemy import func, select, text

from memindex.catalog.models import Doc, Frame, OcrLine, Segment, StageRun, Video
from memindex.store import Store
from memindex.tiers import VectorTier

VIDEO_TABLES = ("videos", "stage_runs", "segments", "frames", "utterances", "words", "ocr_lines", "docs")


def check_consistent(store: Store) -> dict[str, dict]:
    """Every ready video complete; no duplicate rows; every tier agrees with the catalog. Returns counts."""
    counts: dict[str, dict] = {}
    with store.Session() as s:
        for v in s.scalars(select(Video)).all():
            stages = {r.stage: r.status for r in s.scalars(select(StageRun).where(StageRun.video_id == v.id))}
            levels = Counter(s.scalars(select(Segment.level).where(Segment.video_id == v.id)).all())
            frames = s.scalars(select(Frame).where(Frame.video_id == v.id)).all()
            n_ocr = s.scalar(select(func.count(OcrLine.id)).where(OcrLine.video_id == v.id))
            docs = Counter(s.scalars(select(Doc.tier).where(Doc.video_id == v.id)).all())
            if v.status == "ready":
                assert {"shots", "keyframes", "levels"} <= {k for k, st in stages.items() if st == "done"}, stages
                assert levels["shot"] >= 1 and levels["video"] == 1, levels
                assert frames and docs["visual"] == len(frames), (docs, len(frames))
                assert docs["screen"] == n_ocr, (docs, n_ocr)
                for f in frames:
                    assert (store.media.root / f.path).is_file(), f.path
            counts[v.id] = {
                "status": v.status,
                "levels": dict(levels),
                "frames": len(frames),
                "ocr": n_ocr,
                "docs": dict(docs),
            }
        for table, cols in (
            ("segments", "video_id, level, idx"),
            ("frames", "video_id, t"),
            ("docs", "tier, ref_id"),
            ("stage_runs", "video_id, stage"),
        ):
            dup = s.execute(text(f"SELECT {cols}, count(*) FROM {table} GROUP BY {cols} HAVING count(*) > 1"))
            assert dup.all() == [], f"duplicate rows in {table}"
        tiers = [t for (t,) in s.execute(select(Doc.tier).where(Doc.vector.is_not(None)).distinct())]
    for name in tiers:
        tier = store.tier(name)  # reconciles a lagging file with the catalog
        with store.Session() as s:
            want = set(s.scalars(select(Doc.id).where(Doc.tier == name, Doc.vector.is_not(None))).all())
        have = tier.ids().tolist()
        assert len(have) == len(set(have)), f"duplicate FAISS ids in {name}"
        assert set(have) == want, f"tier {name}: faiss {len(have)} vs catalog {len(want)}"
    return counts


def doc_ids(store: Store, video_id: str) -> list[int]:
    with store.Session() as s:
        return list(s.scalars(select(Doc.id).where(Doc.video_id == video_id)).all())


def assert_no_trace(store: Store, video_id: str, ids: list[int]) -> None:
    """Scan all three parts: no catalog row, no FTS row, no vector in any tier file, no cached media."""
    with store.engine.connect() as conn:
        for table in VIDEO_TABLES:
            col = "id" if table == "videos" else "video_id"
            n = conn.execute(text(f"SELECT count(*) FROM {table} WHERE {col} = :v"), {"v": video_id}).scalar()
            assert n == 0, f"{n} rows of {video_id} left in {table}"
        if ids:
            marks = ",".join(str(int(i)) for i in ids)
            n = conn.execute(text(f"SELECT count(*) FROM docs_fts WHERE rowid IN ({marks})")).scalar()
            assert n == 0, "keyword index still holds the video's docs"
    for path in sorted((store.dir / "tiers").glob("*.faiss")):
        name = path.name[: -len(".faiss")]
        enc = store.encoder_for(name)
        on_disk = VectorTier(path, name, enc.name, enc.dim, use_gpu=False).ids()
        assert not np.isin(on_disk, ids).any(), f"tier file {path.name} still holds vectors of {video_id}"
        live = store.tier(name).ids()
        assert not np.isin(live, ids).any()
    leftovers = [p for p in Path(store.media.root).rglob("*") if video_id in str(p)]
    assert leftovers == [], leftovers
