"""Faces as entities: dlib's HOG detector and ResNet descriptors (128-d, weights from the
``face_recognition_models`` package) on each stored keyframe; descriptors cluster within a video at dlib's
usual 0.6 euclidean distance, and clusters join the collection's ``face`` entities by centroid distance, so
a face keeps one entity (and its user-given name) across videos.

Each keyframe a face is seen on becomes one mention (source ``face``): the keyframe's time up to the next
keyframe of its shot, the shot as segment, the descriptor as embedding and the box as JSON text."""

from __future__ import annotations

import importlib.util
import io
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from memindex.catalog.semantic import Entity, EntityMention, live_entity, normalize
from memindex.errors import MissingDependencyError, StageError
from memindex.ingest.store_records import Face, FaceGroup, FaceSighting, VideoRows

__all__ = [
    "FaceEncoder",
    "Face",
    "FaceSighting",
    "detect_faces",
    "cluster_faces",
    "group_faces",
    "write_faces",
    "faces_installed",
]

log = logging.getLogger(__name__)
_PURPOSE = "face entities"


class FaceEncoder:
    """dlib frontal face detector (HOG), 5-point landmarks and the ResNet face descriptor model.
    Images whose longer side is under ``upsample_below`` pixels are upscaled once for detection, so the
    small faces of a 640-px keyframe (down to about 40 px) are found."""

    name = "dlib-hog+resnet-v1"

    def __init__(self, upsample_below: int = 1000) -> None:
        try:
            import dlib
        except ImportError as exc:
            raise MissingDependencyError("dlib-bin", "faces", _PURPOSE) from exc
        models = _models_dir()
        self.upsample_below = upsample_below
        try:
            self._detector = dlib.get_frontal_face_detector()
            self._landmarks = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
            self._encoder = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))
        except RuntimeError as exc:  # a truncated or foreign weights file
            raise StageError(f"{self.name} could not load its models from {models}: {exc}") from exc

    def faces(self, rgb: np.ndarray) -> list[Face]:
        """Every frontal face on an RGB image (uint8, H x W x 3), best detections first."""
        img = np.ascontiguousarray(rgb, np.uint8)
        upsample = 1 if max(img.shape[:2]) < self.upsample_below else 0
        try:
            rects, scores, _ = self._detector.run(img, upsample, 0.0)
            found = sorted(zip(rects, scores, strict=True), key=lambda p: -p[1])
            vecs = [self._encoder.compute_face_descriptor(img, self._landmarks(img, r), 0) for r, _ in found]
        except RuntimeError as exc:
            raise StageError(f"{self.name} failed on a {img.shape} image: {exc}") from exc
        return [
            Face(
                (max(r.left(), 0), max(r.top(), 0), int(r.width()), int(r.height())),
                float(score),
                np.asarray(vec, np.float32),
            )
            for (r, score), vec in zip(found, vecs, strict=True)
        ]


def faces_installed() -> bool:
    """Whether dlib and its weights are installed (found, not loaded): a loader reads keyframes for faces
    only then."""
    if importlib.util.find_spec("dlib") is None:
        return False
    try:
        _models_dir()
    except MissingDependencyError:
        return False
    return True


def _models_dir() -> Path:
    """The weights folder of ``face_recognition_models``, found without importing it (its ``__init__``
    needs ``pkg_resources``, which newer setuptools no longer ship)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError("face_recognition_models", "faces", _PURPOSE)
    models = Path(next(iter(spec.submodule_search_locations))) / "models"
    if not (models / "dlib_face_recognition_resnet_model_v1.dat").is_file():
        raise MissingDependencyError("face_recognition_models", "faces", _PURPOSE)
    return models


def detect_faces(rows: VideoRows, encoder: FaceEncoder) -> list[FaceSighting]:
    """Faces on the video's keyframes (the JPEGs its loader read from the media cache); an unreadable one is
    skipped."""
    from PIL import Image

    ends = _frame_ends(rows)
    out = []
    for f in rows.frames:
        try:
            with Image.open(io.BytesIO(rows.images.read(f.path))) as im:
                rgb = np.asarray(im.convert("RGB"))
        except (OSError, ValueError) as exc:
            log.warning("keyframe %s of video %s unreadable (%s); no faces from it", f.path, rows.video_id, exc)
            continue
        try:
            faces = encoder.faces(rgb)
        except StageError as exc:
            raise StageError(exc.message, path=f.path, video_id=rows.video_id, t=f.t) from exc
        out.extend(FaceSighting(f.id, f.shot_id, f.t, ends[f.id], face) for face in faces)
    return out


def _frame_ends(rows: VideoRows) -> dict[int, float]:
    """Each keyframe stands for its time up to the next keyframe of its shot, or the shot's end."""
    shot_end = {s.id: s.end for s in rows.shots}
    frames = sorted(rows.frames, key=lambda f: f.t)
    out = {}
    for i, f in enumerate(frames):
        nxt = next((g.t for g in frames[i + 1 :] if g.shot_id == f.shot_id), None)
        out[f.id] = max(f.t, nxt if nxt is not None else shot_end.get(f.shot_id, rows.duration))
    return out


def cluster_faces(vectors: np.ndarray, threshold: float) -> np.ndarray:
    """Labels 0..k-1: each descriptor joins the nearest cluster whose mean is closer than ``threshold``
    (in order), then clusters whose means are that close join; dlib's 0.6 is its same-person distance."""
    labels = np.zeros(len(vectors), np.int64)
    means: list[np.ndarray] = []
    counts: list[int] = []
    for i, v in enumerate(vectors):
        d = [float(np.linalg.norm(m - v)) for m in means]
        k = int(np.argmin(d)) if d else -1
        if k < 0 or d[k] >= threshold:
            means.append(np.asarray(v, np.float64))
            counts.append(0)
            k = len(means) - 1
        means[k] = (means[k] * counts[k] + v) / (counts[k] + 1)
        counts[k] += 1
        labels[i] = k
    return _join_close(vectors, labels, threshold)


def _join_close(vectors: np.ndarray, labels: np.ndarray, threshold: float) -> np.ndarray:
    while True:
        ids = np.unique(labels)
        means = {k: vectors[labels == k].mean(axis=0) for k in ids}
        pairs = [(float(np.linalg.norm(means[a] - means[b])), a, b) for i, a in enumerate(ids) for b in ids[i + 1 :]]
        close = min(pairs, default=None)
        if close is None or close[0] >= threshold:
            break
        labels = np.where(labels == close[2], close[1], labels)
    _, dense = np.unique(labels, return_inverse=True)
    return dense.astype(np.int64)


def group_faces(sightings: Sequence[FaceSighting], threshold: float) -> tuple[FaceGroup, ...]:
    """The video's sightings clustered into people (``cluster_faces``), each with its mean descriptor."""
    if not sightings:
        return ()
    vecs = np.stack([x.face.descriptor for x in sightings])
    labels = cluster_faces(vecs, threshold)
    return tuple(
        FaceGroup(
            vecs[labels == k].mean(axis=0), tuple(x for x, lab in zip(sightings, labels, strict=True) if lab == k)
        )
        for k in range(int(labels.max()) + 1)
    )


def write_faces(s: Any, video_id: str, groups: Sequence[FaceGroup], threshold: float) -> int:
    """Mentions of the video's face groups on the matching (or new) face entities, in the caller's
    transaction; the video's earlier face mentions must be gone. Matching reads the face entities as they are
    in this transaction. Returns how many face entities the video has."""
    if not groups:
        return 0
    ents = _match_entities(s, [g.centroid for g in groups], threshold)
    for ent, group in zip(ents, groups, strict=True):
        for x in group.members:
            box = {"frame_id": x.frame_id, "box": list(x.face.box), "score": round(x.face.score, 3)}
            s.add(
                EntityMention(
                    entity_id=ent.id,
                    video_id=video_id,
                    start=x.start,
                    end=x.end,
                    segment_id=x.segment_id,
                    source="face",
                    text=json.dumps(box),
                    confidence=1.0,
                    embedding=x.face.descriptor.astype(np.float32).tobytes(),
                )
            )
    s.flush()
    for ent in ents:
        _recentre(s, ent)
    return len(ents)


def _match_entities(s: Any, centroids: Sequence[np.ndarray], threshold: float) -> list[Entity]:
    """One face entity per cluster: the nearest existing one under ``threshold`` (a merge tombstone leads
    to its target), each used once per video, else a new ``Face <id>``."""
    known = [
        (e, np.frombuffer(e.centroid, np.float32))
        for e in s.scalars(select(Entity).where(Entity.kind == "face", Entity.centroid.is_not(None)))
    ]
    pairs = sorted((_distance(c, vec), g, e) for g, c in enumerate(centroids) for e, vec in known if len(vec) == len(c))
    chosen: dict[int, Entity] = {}
    used: set[int] = set()
    for dist, g, e in pairs:
        target = live_entity(s, e)
        if dist >= threshold or g in chosen or target.id in used:
            continue
        chosen[g] = target
        used.add(target.id)
    out = []
    for g, c in enumerate(centroids):
        ent = chosen.get(g)
        if ent is None:
            ent = Entity(
                kind="face",
                name="face",
                key="",
                user_named=False,
                centroid=np.asarray(c, np.float32).tobytes(),
                weight=0.0,
            )
            s.add(ent)
            s.flush()
            ent.name = f"Face {ent.id}"
            ent.key = normalize(ent.name)
        out.append(ent)
    return out


def _distance(c: np.ndarray, known: np.ndarray) -> float:
    """Euclidean distance at the cluster's scale: a merge or split stores unit-length centroids, while dlib
    descriptors have a length of about 1.4, and its 0.6 threshold is meant at that length."""
    scale = float(np.linalg.norm(c)) / max(float(np.linalg.norm(known)), 1e-12)
    return float(np.linalg.norm(c - known * scale))


def _recentre(s: Any, ent: Entity) -> None:
    """The entity's centroid is the mean descriptor of all its face mentions (idempotent on re-ingest)."""
    blobs = s.scalars(
        select(EntityMention.embedding).where(
            EntityMention.entity_id == ent.id, EntityMention.source == "face", EntityMention.embedding.is_not(None)
        )
    ).all()
    if blobs:
        ent.centroid = np.mean([np.frombuffer(b, np.float32) for b in blobs], axis=0).astype(np.float32).tobytes()
        ent.weight = float(len(blobs))
