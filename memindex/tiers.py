"""FAISS vector tiers: ``IndexIDMap2`` over a factory chosen by size, one file per tier, saved atomically
with the encoder's name, dimension, the catalog generation it reflects, the id of the catalog it was built
from and a CRC-32 of the index bytes. A file that fails any of these checks raises ``TierDamagedError``; the
store then rebuilds the tier from the catalog, which holds every vector."""

from __future__ import annotations

import json
import logging
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from memindex.errors import CorruptStoreError, EncoderMismatchError, MissingDependencyError

__all__ = ["VectorTier", "TierDamagedError", "choose_factory", "TEXT_TIERS", "tier_names"]

log = logging.getLogger(__name__)

_MAGIC = b"MIXTIER1"


class TierDamagedError(CorruptStoreError):
    """A tier file that is truncated, fails its checksum, or was built from another catalog."""
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

    def __init__(self, path: Path, name: str, encoder: str, dim: int, *, use_gpu: bool = True,
                 catalog_id: str | None = None, load: bool = True) -> None:
        self.path, self.name, self.encoder, self.dim = path, name, encoder, dim
        self.catalog_id = catalog_id
        self.generation = -1
        self.file_generation = -1  # the generation of what is on disk
        self.factory = "Flat"
        self._use_gpu = use_gpu
        self._gpu_index = None
        self.index = self._new_index("Flat")
        if load and path.exists():
            self._load()

    # -- lifecycle -------------------------------------------------------------------------------------
    def _new_index(self, factory: str):  # type: ignore[no-untyped-def]
        faiss = _faiss()
        self.factory = factory
        return faiss.IndexIDMap2(faiss.index_factory(self.dim, factory, faiss.METRIC_INNER_PRODUCT))

    def _load(self) -> None:
        faiss = _faiss()
        raw = self.path.read_bytes()
        header, offset = self._header(raw)
        if header["encoder"] != self.encoder or int(header["dim"]) != self.dim:
            raise EncoderMismatchError(
                f"tier {self.name} holds {header['encoder']} ({header['dim']}-d) vectors, "
                f"but the store's encoder is {self.encoder} ({self.dim}-d)",
                path=str(self.path),
            )
        if self.catalog_id is not None and header.get("catalog_id") != self.catalog_id:
            raise TierDamagedError(f"tier {self.name} was built from another catalog", path=str(self.path))
        body = memoryview(raw)[offset:]
        if "crc32" not in header or zlib.crc32(body) != int(header["crc32"]):
            raise TierDamagedError(f"tier {self.name} fails its checksum", path=str(self.path))
        try:
            self.index = faiss.deserialize_index(np.frombuffer(raw, dtype=np.uint8, offset=offset))
        except RuntimeError as exc:
            raise TierDamagedError(f"tier {self.name} cannot be read by FAISS: {exc}", path=str(self.path)) from exc
        if self.index.ntotal != int(header.get("ntotal", -1)) or self.index.d != self.dim:
            raise TierDamagedError(f"tier {self.name} holds other than its header says", path=str(self.path))
        self.generation = self.file_generation = int(header["generation"])
        self.factory = header.get("factory", "Flat")
        self._gpu_index = None

    @classmethod
    def peek(cls, path: Path, name: str) -> dict:
        """The header of a tier file, without loading the index (``TierDamagedError`` when unreadable)."""
        with open(path, "rb") as fh:
            head = fh.read(12)
            hlen = struct.unpack("<I", head[8:12])[0] if len(head) == 12 else 0
            raw = head + fh.read(min(hlen, 1 << 20))
        probe = cls.__new__(cls)
        probe.name, probe.path = name, path
        return probe._header(raw)[0]

    def _header(self, raw: bytes) -> tuple[dict, int]:
        """The JSON header and where the index bytes start; damaged files raise ``TierDamagedError``."""
        if raw[:8] != _MAGIC or len(raw) < 12:
            raise TierDamagedError(f"tier {self.name}: not a memindex tier file (empty or truncated)",
                                   path=str(self.path))
        (hlen,) = struct.unpack("<I", raw[8:12])
        try:
            header = json.loads(raw[12 : 12 + hlen])
            if not isinstance(header, dict) or "generation" not in header:
                raise ValueError("no generation")
        except ValueError as exc:
            raise TierDamagedError(f"tier {self.name}: unreadable header ({exc})", path=str(self.path)) from exc
        return header, 12 + hlen

    def save(self, generation: int) -> None:
        """Write the whole tier to a temporary file, fsync it, and rename it over the old one."""
        faiss = _faiss()
        body = faiss.serialize_index(self.index)
        header = json.dumps({"encoder": self.encoder, "dim": self.dim, "generation": generation,
                             "factory": self.factory, "ntotal": int(self.index.ntotal),
                             "catalog_id": self.catalog_id, "crc32": zlib.crc32(body)}).encode()
        tmp = self.path.with_name(self.path.name + ".tmp")
        from memindex import faults

        with open(tmp, "wb") as fh:
            fh.write(_MAGIC + struct.pack("<I", len(header)) + header)
            faults.point("tier.write")
            fh.write(body.tobytes())
            fh.flush()
            os.fsync(fh.fileno())
        faults.point("tier.replace")
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

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of ``ids`` (exact for flat indexes, the codes' reconstruction for PQ)."""
        faiss = _faiss()
        inner = faiss.downcast_index(self.index.index)
        if isinstance(inner, faiss.IndexFlat):
            everything = faiss.rev_swig_ptr(inner.get_xb(), inner.ntotal * self.dim)
            flat = np.asarray(everything, dtype=np.float32).reshape(inner.ntotal, self.dim)
            known = self.ids()
            sorter = np.argsort(known)
            return flat[sorter[np.searchsorted(known, np.asarray(ids, np.int64), sorter=sorter)]].copy()
        ivf = faiss.extract_index_ivf(inner)
        ivf.make_direct_map()
        return np.stack([self.index.reconstruct(int(i)) for i in ids]) if len(ids) else \
            np.zeros((0, self.dim), np.float32)

    @property
    def exact(self) -> bool:
        """True when stored vectors equal what was added (no product quantisation)."""
        return "PQ" not in self.factory

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
        self._gpu_index = None
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
