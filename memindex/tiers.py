"""FAISS vector tiers (the default ``faiss`` backend): one file per tier in FAISS's own format with a
memindex trailer (``memindex.vectors.tierfile``: encoder, dimension, catalog generation, catalog id,
CRC-32). IVF tiers are memory-mapped on open, so a store opens in milliseconds whatever its size and the
page cache holds what searches touch; the first write copies the index into memory. Past ``PQ_MIN``
vectors a tier is IVF-PQ (48 bytes a 384-d vector) and its candidates are re-ranked with the exact vectors
from the catalog. A file that fails any check raises ``TierDamagedError``; the store then rebuilds the
tier from the catalog, which holds every vector."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from memindex.errors import EncoderMismatchError, MissingDependencyError
from memindex.vectors.base import Chunks, VectorSource
from memindex.vectors.tierfile import EAGER_CRC_BYTES, TierDamagedError, check_body, read_trailer, write_tier_file

if TYPE_CHECKING:
    from memindex.config import TierBackendConfig

__all__ = [
    "VectorTier",
    "TierDamagedError",
    "choose_factory",
    "factory_rank",
    "TEXT_TIERS",
    "tier_names",
    "open_file_tier",
]

log = logging.getLogger(__name__)

TEXT_TIERS = ("speech", "screen", "episodic.shot", "episodic.event", "episodic.chapter", "episodic.video", "semantic")


def factory_rank(factory: str) -> int:
    """0 exact, 1 IVF, 2 IVF-PQ: a tier only ever moves up as it grows."""
    return 2 if "PQ" in factory else 1 if "IVF" in factory else 0


def tier_names() -> tuple[str, ...]:
    return ("visual", *TEXT_TIERS)


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:
        raise MissingDependencyError("faiss-cpu", "cpu", "vector search (or memindex[gpu] for faiss-gpu)") from exc
    return faiss


FLAT_MAX = 100_000  # exact search up to here
PQ_MIN = 1_000_000  # IVF with full vectors below this; IVF-PQ from here on (memory: 1.5 GB vs 56 MB a 1M)
NLIST_MAX = 4096  # k-means on 2 cores: 4096 lists train in minutes, 16k in an hour
NPROBE = 32
RERANK = 2  # PQ tiers: exact re-ranking of RERANK x k candidates
TRAIN_PER_LIST = 64  # training points per inverted list (FAISS warns under 39)


def choose_factory(n: int, dim: int) -> str:
    """Exact search while it is cheap; IVF past 100k vectors; IVF-PQ past 1M (memory)."""
    if n < FLAT_MAX:
        return "Flat"
    nlist = int(4 * math.sqrt(n))
    if n < PQ_MIN:
        return f"IVF{nlist},Flat"
    m = max(8, dim // 8)
    while dim % m:
        m -= 1
    return f"IVF{min(nlist, NLIST_MAX)},PQ{m}np"  # np: no polysemous training (minutes, and unused here)


class VectorTier:
    """One FAISS index of a tier, kept on disk at ``path``; ids are catalog ``docs.id``.

    ``verify`` is how much of the file is checked on open (``"full"`` CRC, or ``"quick"``: see
    ``memindex.vectors.tierfile``); ``source`` gives exact catalog vectors for re-ranking PQ candidates.
    ``use_gpu`` is accepted for older callers; GPU search is the ``faiss-gpu`` backend."""

    def __init__(
        self,
        path: Path,
        name: str,
        encoder: str,
        dim: int,
        *,
        use_gpu: bool = False,
        catalog_id: str | None = None,
        load: bool = True,
        verify: str = "full",
        source: VectorSource | None = None,
        nprobe: int = NPROBE,
        rerank: int = RERANK,
    ) -> None:
        self.path, self.name, self.encoder, self.dim = path, name, encoder, dim
        self.catalog_id = catalog_id
        self.generation = -1
        self.file_generation = -1  # the generation of what is on disk
        self.factory = "Flat"
        self.source, self.nprobe, self.rerank = source, nprobe, rerank
        self._use_gpu = use_gpu
        self._file: BinaryIO | None = None  # the mapped file, kept open: a later write copies it to memory
        self.index = self._new_index("Flat")
        if load and path.exists():
            self._load(verify)

    # -- lifecycle -------------------------------------------------------------------------------------
    def _new_index(self, factory: str) -> Any:
        """IDMap2 over Flat (ids mapped in memory); IVF indexes hold the doc ids in their lists."""
        faiss = _faiss()
        self.factory = factory
        index = faiss.index_factory(self.dim, factory, faiss.METRIC_INNER_PRODUCT)
        if "IVF" in factory:
            ivf = faiss.extract_index_ivf(index)
            ivf.cp.niter, ivf.cp.max_points_per_centroid = 10, TRAIN_PER_LIST
            if "PQ" in factory:  # 256 codes a sub-quantizer: 16k points train them about as well as 65k
                pq = faiss.downcast_index(ivf).pq
                pq.cp.niter, pq.cp.max_points_per_centroid = 10, 64
            return index
        return faiss.IndexIDMap2(index)

    def _load(self, verify: str) -> None:
        where = str(self.path)
        fh = open(self.path, "rb")
        try:
            header = read_trailer(fh, where, self.name)
            self._check_identity(header)
            full = verify == "full" or int(header["body_bytes"]) <= EAGER_CRC_BYTES
            check_body(fh, header, where, self.name, full=full)
            index, mapped = self._read_index(fh, header)
        except BaseException:
            fh.close()
            raise
        if index.ntotal != int(header.get("ntotal", -1)) or index.d != self.dim:
            fh.close()
            raise TierDamagedError(f"tier {self.name} holds other than its header says", path=where)
        self.close()
        self.index, self._file = index, (fh if mapped else None)
        if not mapped:
            fh.close()
        self.generation = self.file_generation = int(header["generation"])
        self.factory = header.get("factory", "Flat")

    def _check_identity(self, header: dict[str, Any]) -> None:
        if header["encoder"] != self.encoder or int(header["dim"]) != self.dim:
            raise EncoderMismatchError(
                f"tier {self.name} holds {header['encoder']} ({header['dim']}-d) vectors, "
                f"but the store's encoder is {self.encoder} ({self.dim}-d)",
                path=str(self.path),
            )
        if self.catalog_id is not None and header.get("catalog_id") != self.catalog_id:
            raise TierDamagedError(f"tier {self.name} was built from another catalog", path=str(self.path))

    def _read_index(self, fh: BinaryIO, header: dict[str, Any]) -> tuple[Any, bool]:
        """(index, mapped): IVF files are memory-mapped, the rest read into memory."""
        faiss = _faiss()
        offset = int(header["body_offset"])
        try:
            if offset:  # the first format: header, then the serialized index
                fh.seek(offset)
                return faiss.deserialize_index(np.frombuffer(fh.read(), dtype=np.uint8)), False
            if "IVF" in str(header.get("factory", "")):
                return faiss.read_index(_fd_path(fh, self.path), faiss.IO_FLAG_MMAP), True
            fh.seek(0)
            return faiss.read_index(faiss.PyCallbackIOReader(fh.read)), False
        except RuntimeError as exc:
            raise TierDamagedError(f"tier {self.name} cannot be read by FAISS: {exc}", path=str(self.path)) from exc

    def _thaw(self) -> None:
        """Before a write: copy a mapped index into memory, from the very file it was mapped from."""
        if self._file is None:
            return
        faiss = _faiss()
        self._file.seek(0)
        self.index = faiss.read_index(faiss.PyCallbackIOReader(self._file.read))
        self.close()
        log.info("tier %s copied into memory for writing (%d vectors)", self.name, self.ntotal)

    @property
    def mapped(self) -> bool:
        return self._file is not None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    @classmethod
    def peek(cls, path: Path, name: str) -> dict[str, Any]:
        """The header of a tier file, without loading the index (``TierDamagedError`` when unreadable)."""
        with open(path, "rb") as fh:
            return read_trailer(fh, str(path), name)

    def verify(self) -> None:
        """Check the whole file against its CRC-32 (what ``memindex check`` does for huge tiers)."""
        with open(self.path, "rb") as fh:
            check_body(fh, read_trailer(fh, str(self.path), self.name), str(self.path), self.name, full=True)

    def save(self, generation: int) -> None:
        """Write the whole tier to a temporary file, fsync it, and rename it over the old one."""
        self._thaw()  # a mapped index would be written as a reference to its file
        header = {
            "encoder": self.encoder,
            "dim": self.dim,
            "generation": generation,
            "factory": self.factory,
            "ntotal": self.ntotal,
            "catalog_id": self.catalog_id,
        }
        write_tier_file(self.path, self._cpu_index(), header)
        self.generation = self.file_generation = generation

    def _cpu_index(self) -> Any:
        return self.index

    # -- contents --------------------------------------------------------------------------------------
    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    def _ivf(self) -> Any:
        """The IVF index when this tier is one (holding doc ids itself), else None."""
        faiss = _faiss()
        return None if isinstance(self.index, faiss.IndexIDMap) else faiss.extract_index_ivf(self.index)

    def ids(self) -> np.ndarray:
        faiss = _faiss()
        ivf = self._ivf()
        if ivf is None:
            return np.asarray(faiss.vector_to_array(self.index.id_map), np.int64)
        lists = ivf.invlists
        parts = [
            faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
            for i in range(ivf.nlist)
            if lists.list_size(i)
        ]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of ``ids`` (exact for flat indexes, the codes' reconstruction for PQ)."""
        faiss = _faiss()
        ids = np.ascontiguousarray(ids, np.int64)
        if len(ids) == 0:
            return np.zeros((0, self.dim), np.float32)
        ivf = self._ivf()
        if ivf is not None:
            if ivf.direct_map.type != faiss.DirectMap.Hashtable:
                ivf.set_direct_map_type(faiss.DirectMap.Hashtable)
            return np.asarray(self.index.reconstruct_batch(ids), np.float32)
        inner = faiss.downcast_index(self.index.index)
        if isinstance(inner, faiss.IndexFlat):
            everything = faiss.rev_swig_ptr(inner.get_xb(), inner.ntotal * self.dim)
            flat = np.asarray(everything, dtype=np.float32).reshape(inner.ntotal, self.dim)
            known = self.ids()
            sorter = np.argsort(known)
            return flat[sorter[np.searchsorted(known, ids, sorter=sorter)]].copy()
        faiss.extract_index_ivf(inner).make_direct_map()  # a first-format IVF tier under an IDMap2
        return np.stack([self.index.reconstruct(int(i)) for i in ids])

    @property
    def exact(self) -> bool:
        """True when stored vectors equal what was added (no product quantisation)."""
        return "PQ" not in self.factory

    def add(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        if len(ids) == 0:
            return
        self._thaw()
        vecs = np.ascontiguousarray(vecs, dtype=np.float32).reshape(len(ids), self.dim)
        if not self.index.is_trained:
            self._train(vecs)
        self.index.add_with_ids(vecs, np.ascontiguousarray(ids, dtype=np.int64))
        self._changed()

    def remove(self, ids: np.ndarray) -> int:
        if len(ids) == 0:
            return 0
        faiss = _faiss()
        self._thaw()
        removed = int(self.index.remove_ids(faiss.IDSelectorBatch(np.ascontiguousarray(ids, np.int64))))
        self._changed()
        return removed

    def _changed(self) -> None:
        """Hook for copies of the index elsewhere (the GPU backend drops its GPU copy)."""

    def _train(self, sample: np.ndarray) -> None:
        ivf = _faiss().extract_index_ivf(self.index)
        cap = ivf.nlist * TRAIN_PER_LIST
        if len(sample) > cap:
            sample = sample[np.sort(np.random.default_rng(0).choice(len(sample), cap, replace=False))]
        self.index.train(np.ascontiguousarray(sample, dtype=np.float32))

    def rebuild(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        """Start over from catalog vectors, re-choosing the factory for the current size."""
        self.rebuild_from(len(ids), [(ids, vecs)], vecs)

    def rebuild_from(self, total: int, chunks: Chunks, sample: np.ndarray) -> None:
        """Start over from a stream of catalog vectors: the factory for ``total``, trained on ``sample``."""
        self.close()
        self.index = self._new_index(choose_factory(total, self.dim))
        if not self.index.is_trained:
            self._train(sample)
        for ids, vecs in chunks:
            self.add(ids, vecs)
        self._changed()

    def outgrown(self) -> bool:
        return factory_rank(choose_factory(self.ntotal, self.dim)) > factory_rank(self.factory)

    # -- search ----------------------------------------------------------------------------------------
    def search(self, query: np.ndarray, k: int, subset: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (scores, ids) for one query vector, optionally restricted to the ids in ``subset``."""
        if self.ntotal == 0 or k <= 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, self.dim)
        rerank = self.source is not None and not self.exact and self.rerank > 0
        want = min(max(k * self.rerank, k) if rerank else k, self.ntotal)
        scores, ids = self._search(q, want, subset)
        keep = ids[0] >= 0
        scores, ids = scores[0][keep], ids[0][keep]
        if rerank:
            scores, ids = self._exact(q[0], ids)
        return scores[:k], ids[:k]

    def _search(self, q: np.ndarray, k: int, subset: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        faiss = _faiss()
        sel = None if subset is None else faiss.IDSelectorBatch(np.ascontiguousarray(subset, dtype=np.int64))
        if "IVF" in self.factory:
            params = (
                faiss.SearchParametersIVF(nprobe=self.nprobe)
                if sel is None
                else faiss.SearchParametersIVF(sel=sel, nprobe=self.nprobe)
            )
        else:
            params = None if sel is None else faiss.SearchParameters(sel=sel)
        scores, ids = self.index.search(q, k, params=params)
        return scores, ids

    def _exact(self, q: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Candidates re-scored with their catalog vectors, best first (ids gone from the catalog drop)."""
        assert self.source is not None
        found, vecs = self.source(ids)
        if len(found) == 0:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        exact = vecs @ q
        order = np.argsort(-exact, kind="stable")
        return exact[order].astype(np.float32), found[order]

    @property
    def on_gpu(self) -> bool:
        return False


def _fd_path(fh: BinaryIO, path: Path) -> str:
    """A name for the open file itself, so FAISS maps the inode we checked even if it was replaced since."""
    proc = f"/proc/self/fd/{fh.fileno()}"
    return proc if os.path.exists(proc) else str(path)


def open_file_tier(
    tiers_dir: Path,
    name: str,
    encoder: str,
    dim: int,
    *,
    config: TierBackendConfig,
    catalog_id: str | None,
    load: bool = True,
    verify: str = "quick",
    source: VectorSource | None = None,
) -> VectorTier:
    """The ``faiss`` backend: ``<tiers_dir>/<name>.faiss``, searched on the CPU."""
    return VectorTier(
        tiers_dir / f"{name}.faiss",
        name,
        encoder,
        dim,
        catalog_id=catalog_id,
        load=load,
        verify=verify,
        source=source,
        nprobe=config.nprobe,
        rerank=config.rerank,
    )
