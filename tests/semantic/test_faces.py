"""Face entities: real face photos (Debian ``opencv-doc``) cut into tiny videos with known scenes, ingested
offline; one entity per person across videos, renames that stick, and a recorded skip without dlib."""

from __future__ import annotations

import json
import logging
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

import memindex
from memindex.catalog.models import StageRun
from memindex.catalog.semantic import Entity, EntityMention
from memindex.ingest.config import AsrConfig, IngestConfig, OcrConfig
from memindex.ingest.faces import cluster_faces
from memindex.ingest.semantic import SemanticConfig, consolidate
from memindex.store import Store

PHOTOS = Path("/usr/share/doc/opencv-doc/examples/data")  # apt-get install opencv-doc (scripts/setup.sh)
MESSI, PLAYER, PLAYER_LATER = "messi5.jpg", "basketball1.png", "basketball2.png"
NO_MODELS = IngestConfig(asr=AsrConfig(enabled=False), ocr=OcrConfig(enabled=False))
SIZE = (640, 480)
SCENE = 2.0  # seconds per scene; cuts at 2 s and 4 s


def _photo(name: str | None, shift: int = 0) -> np.ndarray:
    """The photo centred on a grey canvas (shifted right by ``shift`` px), or a face-free noise frame."""
    w, h = SIZE
    rng = np.random.default_rng(len(name or "") + shift)
    if name is None:
        return rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    from PIL import Image

    with Image.open(PHOTOS / name) as im:
        img = np.asarray(im.convert("RGB"))
    canvas = np.full((h, w, 3), 90, np.uint8)
    y, x = (h - img.shape[0]) // 2, min((w - img.shape[1]) // 2 + shift, w - img.shape[1])
    canvas[y : y + img.shape[0], x : x + img.shape[1]] = img
    return canvas


def make_face_video(path: Path, scenes: list[np.ndarray], fps: int = 12) -> Path:
    """Each image held for ``SCENE`` seconds, back to back (PyAV, H.264)."""
    import av

    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        n = 0
        for img in scenes:
            for _ in range(int(SCENE * fps)):
                frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                frame.pts, frame.time_base = n, Fraction(1, fps)
                out.mux(vs.encode(frame))
                n += 1
        out.mux(vs.encode(None))
    return path


@pytest.fixture(scope="module")
def photos() -> Path:
    pytest.importorskip("dlib", reason="memindex[faces] is not installed")
    if not (PHOTOS / MESSI).exists():
        pytest.fail(f"face photos missing at {PHOTOS}: apt-get install opencv-doc (scripts/setup.sh does)")
    return PHOTOS


def _ingest(store: Store, path: Path) -> str:
    from memindex.ingest.pipeline import Ingester

    report = Ingester(store, NO_MODELS).ingest([path])
    assert report.ok and report.ingested, report.to_dict()
    return report.ingested[0]["video_id"]


def _faces(store: Store) -> dict[int, list[EntityMention]]:
    with store.Session() as s:
        ents = s.scalars(select(Entity.id).where(Entity.kind == "face", Entity.merged_into.is_(None))).all()
        return {
            e: list(
                s.scalars(
                    select(EntityMention)
                    .where(EntityMention.entity_id == e)
                    .order_by(EntityMention.video_id, EntityMention.start)
                )
            )
            for e in ents
        }


def _who(faces: dict[int, list[EntityMention]], vid: str, scene: int) -> int:
    """The one face entity seen in the scene (its keyframes lie inside the scene's time)."""
    (eid,) = {e for e, ms in faces.items() for m in ms if m.video_id == vid and _scene(m) == scene}
    return eid


def _scene(m: EntityMention) -> int:
    assert m.start <= m.end and int(m.start // SCENE) == int((m.end - 1e-6) // SCENE), (m.start, m.end)
    return int(m.start // SCENE)


def test_cluster_faces_joins_close_descriptors() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=128) * 0.12, rng.normal(size=128) * 0.12  # about 1.4 long, like dlib's
    vecs = np.stack([a + 0.005 * rng.normal(size=128) for _ in range(3)] + [b, a, b])
    labels = cluster_faces(vecs, 0.6)
    assert labels.tolist() == [0, 0, 0, 1, 0, 1]


def test_faces_become_entities_across_videos(photos, tmp_path, light_config) -> None:  # type: ignore[no-untyped-def]
    store = Store(tmp_path / "s", config=light_config)
    first = _ingest(store, make_face_video(tmp_path / "a.mp4", [_photo(MESSI), _photo(None), _photo(PLAYER)]))
    faces = _faces(store)
    assert len(faces) == 2
    assert {_scene(m) for ms in faces.values() for m in ms} == {0, 2}  # none in the noise scene
    messi, player = _who(faces, first, 0), _who(faces, first, 2)
    assert messi != player
    for eid, scene in ((messi, 0), (player, 2)):
        assert faces[eid] and all(_scene(m) == scene and m.segment_id is not None for m in faces[eid])
        box = json.loads(faces[eid][0].text)
        assert len(box["box"]) == 4 and box["frame_id"] and box["score"] > 0
    with store.Session() as s:
        detail = s.scalar(select(StageRun.detail).where(StageRun.video_id == first, StageRun.stage == "semantic"))
    assert "2 faces" in detail

    index = memindex.MemoryIndex(store)
    index.rename_entity(messi, "Lionel Messi")
    second = _ingest(store, make_face_video(tmp_path / "b.mp4", [_photo(PLAYER_LATER), _photo(MESSI, shift=40)]))
    faces = _faces(store)
    assert len(faces) == 2  # the same two people: no new entities
    assert _who(faces, second, 0) == player and _who(faces, second, 1) == messi
    ent = index.entity(messi)
    assert ent["name"] == "Lionel Messi" and ent["videos"] == 2 and ent["user_named"]
    assert {m["video_id"] for m in ent["mention_list"]} == {first, second}
    assert index.entity("Lionel Messi")["id"] == messi
    before = {e: len(ms) for e, ms in _faces(store).items()}
    consolidate(store, first, SemanticConfig(facts="none"))  # a rebuild replaces the video's sightings
    assert {e: len(ms) for e, ms in _faces(store).items()} == before


def test_missing_dlib_is_a_recorded_skip(tmp_path, light_config, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    import builtins

    real_import = builtins.__import__

    def no_dlib(name, *args, **kwargs):  # type: ignore[no-untyped-def]
        if name == "dlib":
            raise ImportError("No module named 'dlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_dlib)
    store = Store(tmp_path / "s", config=light_config)
    with caplog.at_level(logging.WARNING, logger="memindex.ingest.semantic"):
        vid = _ingest(store, make_face_video(tmp_path / "a.mp4", [_photo(None), _photo(None, shift=1)]))
    assert "faces SKIPPED" in caplog.text and "memindex[faces]" in caplog.text
    assert sum("faces SKIPPED" in r.message for r in caplog.records) == 1
    with store.Session() as s:
        run = s.scalar(select(StageRun).where(StageRun.video_id == vid, StageRun.stage == "semantic"))
    assert run.status == "done" and "faces skipped (dlib-bin missing)" in run.detail
    assert _faces(store) == {}
