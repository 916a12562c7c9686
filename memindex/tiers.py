"""FAISS vector tiers: ``IndexIDMap2`` over a factory chosen by size, one file per tier, saved atomically
with the encoder's name, dimension and the catalog generation it reflects."""

from __future__ import annotations

import json
import logging
import math
import os
import struct
from pathlib import Path

import numpy as np

from memindex.errors import EncoderMismatchError, MissingDependencyError, StoreError

__all__ = ["VectorTier", "choose_factory", "TEXT_TIERS", "tier_names"]

log = logging.getLogger(__name__)

_MAGIC = b"MIXTIER1"
TEXT_TIERS = ("speech", "screen", "episodic.shot", "episodic.event", "episodic.chapter", "episodic.video",
              "semantic")


def factory_rank(factory: str) -> int:
    """0 exact, 1 IVF, 2 IVF-PQ: a tier only ever moves up as it grows."""
    return 2 if "PQ" in factory else 1 if "IVF" in factory else 0


def tier_names() -> tuple[str, ...]:
    return ("visual", *TEXT_TIERS)


def _faiss():  # type: ignore[no-untyped-def]
    try:
        import faiss
    except ImportError as exc:
        raise MissingDependencyError("faiss-cpu", "cpu", "vector search (or memindex[gpu] for faiss-gpu)") from exc
    return faiss


FLAT_MAX = 100_000  # exact search up to here
IVF_FLAT_MAX = 5_000_000  # then IVF with full vectors; past this, IVF-PQ (memory)
NPROBE = 32


def choose_factory(n: int, dim: int) -> str:
    """Exact search while it is cheap; IVF past 100k vectors; IVF-PQ past 5M (memory)."""
    if n < FLAT_MAX:
        return "Flat"
    nlist = int(4 * math.sqrt(n))
    if n < IVF_FLAT_MAX:
        return f"IVF{nlist},Flat"
    m = max(8, dim // 8)
    while dim % m:
        m -= 1
    return f"IVF{nlist},PQ{m}"


class VectorTier:
    """One FAISS index of a tier, kept on disk at ``path``; ids are catalog ``docs.id``."""

    def __init__(self, path: Path, name: str, encoder: str, dim: int, *, use_gpu: bool = True) -> None:
        self.path, self.name, self.encoder, self.dim = path, name, encoder, dim
        self.generation = -1
        self.file_generation = -1  # the generation of what is on disk
        self.factory = "Flat"
        self._use_gpu = use_gpu
        self._gpu_index = None
        self.index = self._new_index("Flat")
        if path.exists():
            self._load()

    # -- lifecycle -------------------------------------------------------------------------------------
    def _new_index(self, factory: str):  # type: ignore[no-untyped-def]
        faiss = _faiss()
        self.factory = factory
        return faiss.IndexIDMap2(faiss.index_factory(self.dim, factory, faiss.METRIC_INNER_PRODUCT))

    def _load(self) -> None:
        faiss = _faiss()
        raw = self.path.read_bytes()
        if raw[:8] != _MAGIC:
            raise StoreError("not a memindex tier file", path=str(self.path))
        (hlen,) = struct.unpack("<I", raw[8:12])
        header = json.loads(raw[12 : 12 + hlen])
        if header["encoder"] != self.encoder or int(header["dim"]) != self.dim:
            raise EncoderMismatchError(
                f"tier {self.name} holds {header['encoder']} ({header['dim']}-d) vectors, "
                f"but the store's encoder is {self.encoder} ({self.dim}-d)",
                path=str(self.path),
            )
        blob = np.frombuffer(raw, dtype=np.uint8, offset=12 + hlen)
        self.index = faiss.deserialize_index(blob)
        self.generation = self.file_generation = int(header["generation"])
        self.factory = header.get("factory", "Flat")
        self._gpu_index = None

    def save(self, generation: int) -> None:
        """Write the whole tier to a temporary file, fsync it, and rename it over the old one."""
        faiss = _faiss()
        header = json.dumps({"encoder": self.encoder, "dim": self.dim, "generation": generation,
                             "factory": self.factory, "ntotal": int(self.index.ntotal)}).encode()
        body = faiss.serialize_index(self.index)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(_MAGIC + struct.pack("<I", len(header)) + header)
            fh.write(body.tobytes())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)
        self.generation = self.file_generation = generation

    # -- contents --------------------------------------------------------------------------------------
    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    def ids(self) -> np.ndarray:
        faiss = _faiss()
        return faiss.vector_to_array(self.index.id_map).astype(np.int64)

    def add(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        if len(ids) == 0:
            return
        vecs = np.ascontiguousarray(vecs, dtype=np.float32).reshape(len(ids), self.dim)
        if not self.index.is_trained:
            self.index.train(vecs)
        self.index.add_with_ids(vecs, np.ascontiguousarray(ids, dtype=np.int64))
        self._gpu_index = None

    def remove(self, ids: np.ndarray) -> int:
        if len(ids) == 0:
            return 0
        faiss = _faiss()
        removed = int(self.index.remove_ids(faiss.IDSelectorBatch(np.ascontiguousarray(ids, np.int64))))
        self._gpu_index = None
        return removed

    def rebuild(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        """Start over from catalog vectors, re-choosing the factory for the current size."""
        self.index = self._new_index(choose_factory(len(ids), self.dim))
        self.add(ids, vecs)

    # -- search ----------------------------------------------------------------------------------------
    def search(self, query: np.ndarray, k: int, subset: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (scores, ids) for one query vector, optionally restricted to the ids in ``subset``."""
        faiss = _faiss()
        if self.ntotal == 0 or k <= 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, self.dim)
        k = min(k, self.ntotal)
        if subset is not None:
            sel = faiss.IDSelectorBatch(np.ascontiguousarray(subset, dtype=np.int64))
            params = faiss.SearchParametersIVF(sel=sel, nprobe=NPROBE) if "IVF" in self.factory else \
                faiss.SearchParameters(sel=sel)
            scores, ids = self.index.search(q, k, params=params)
        elif "IVF" in self.factory and not self.on_gpu:
            scores, ids = self.index.search(q, k, params=faiss.SearchParametersIVF(nprobe=NPROBE))
        else:
            scores, ids = self._search_index().search(q, k)
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep]

    def _search_index(self):  # type: ignore[no-untyped-def]
        """The GPU copy when FAISS sees a GPU (faiss-gpu), else the CPU index."""
        faiss = _faiss()
        if not self._use_gpu or not hasattr(faiss, "get_num_gpus") or faiss.get_num_gpus() == 0:
            return self.index
        if self._gpu_index is None:
            res = faiss.StandardGpuResources()
            self._gpu_index = faiss.index_cpu_to_gpu(res, 0, self.index)
            self._gpu_res = res
            log.info("tier %s moved to GPU 0 (%d vectors)", self.name, self.ntotal)
        return self._gpu_index

    @property
    def on_gpu(self) -> bool:
        return self._gpu_index is not None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
