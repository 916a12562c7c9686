"""The media cache: keyframe JPEGs per video, so queries and servers never need the raw video."""

from __future__ import annotations

import io
import os
import re
import shutil
from pathlib import Path

import numpy as np

from memindex.errors import NotFoundError, StoreError

__all__ = ["MediaCache", "encode_jpeg"]

_SAFE_ID = re.compile(r"^[0-9a-f]{8,64}$")


def encode_jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    """An RGB frame (H x W x 3, uint8) as JPEG bytes: what ingest workers keep in memory for the driver to
    write, so a worker never needs the store."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


class MediaCache:
    def __init__(self, root: Path, *, create: bool = True) -> None:
        self.root = root
        if create:
            root.mkdir(parents=True, exist_ok=True)

    def _video_dir(self, video_id: str) -> Path:
        if not _SAFE_ID.match(video_id):
            raise StoreError(f"invalid video id {video_id!r}")
        return self.root / video_id

    def put_jpeg(self, video_id: str, name: str, image: np.ndarray | bytes, quality: int = 85) -> str:
        """Write a JPEG atomically: encoded bytes as they are, or an RGB frame encoded here (``encode_jpeg``);
        returns its path relative to the cache root."""
        data = image if isinstance(image, bytes) else encode_jpeg(image, quality)
        folder = self._video_dir(video_id)
        folder.mkdir(exist_ok=True)
        target = folder / f"{name}.jpg"
        tmp = target.with_suffix(".jpg.tmp")
        from memindex import faults

        faults.point("media.write")
        tmp.write_bytes(data)
        os.replace(tmp, target)
        return f"{video_id}/{name}.jpg"

    def resolve(self, relpath: str) -> Path:
        """The absolute path of a cached file; refuses anything outside the cache."""
        path = (self.root / relpath).resolve()
        if self.root.resolve() not in path.parents:
            raise NotFoundError(f"no cached media {relpath!r}")
        if not path.exists():
            raise NotFoundError(f"cached media {relpath!r} is missing", path=str(path))
        return path

    def read(self, relpath: str) -> bytes:
        return self.resolve(relpath).read_bytes()

    def remove_video(self, video_id: str) -> None:
        shutil.rmtree(self._video_dir(video_id), ignore_errors=False) if self._video_dir(video_id).exists() else None

    def video_ids(self) -> set[str]:
        if not self.root.is_dir():
            return set()
        return {p.name for p in self.root.iterdir() if p.is_dir() and _SAFE_ID.match(p.name)}

    def sweep(self, known: set[str], finished: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        """Remove what a crashed writer left: folders of videos not in ``known``, and half-written files in
        the folders of ``finished`` videos (a video still being ingested may be writing its own)."""
        for orphan in self.video_ids() - known:
            self.remove_video(orphan)
        for vid in finished & self.video_ids():
            for tmp in (self.root / vid).glob("*.tmp"):
                tmp.unlink(missing_ok=True)
