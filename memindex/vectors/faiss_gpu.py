"""The ``faiss-gpu`` backend: the ``faiss`` tier files, searched on the node's GPUs.

The CPU index stays the durable copy (saved, reconciled, memory-mapped on open); searches go to a copy
sharded over ``gpus`` GPUs (every visible one by default: each holds 1/n of an IVF tier's lists' contents,
queries go to all and the results are merged), made on the first search after each change. Searches
restricted to a subset of ids run on the CPU index (GPU indexes take no id selector). Needs faiss-gpu
(``memindex[gpu]``) and a CUDA GPU; tests: ``pytest -m gpu``."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from memindex.errors import ConfigError, MissingDependencyError
from memindex.tiers import VectorTier, _faiss
from memindex.vectors.base import VectorSource

if TYPE_CHECKING:
    from memindex.config import TierBackendConfig

__all__ = ["GpuVectorTier", "open_gpu_tier", "visible_gpus"]

log = logging.getLogger(__name__)


def visible_gpus() -> int:
    """GPUs FAISS can use here (0 with faiss-cpu, or faiss-gpu on a machine without a GPU)."""
    faiss = _faiss()
    return int(faiss.get_num_gpus()) if hasattr(faiss, "get_num_gpus") else 0


class GpuVectorTier(VectorTier):
    """A FAISS file tier whose searches run on GPUs (see the module docstring)."""

    def __init__(
        self, path: Path, name: str, encoder: str, dim: int, *, gpus: int | None = None, **options: Any
    ) -> None:
        faiss = _faiss()
        if not hasattr(faiss, "StandardGpuResources"):
            raise MissingDependencyError("faiss-gpu", "gpu", "the faiss-gpu vector backend")
        found = visible_gpus()
        if found == 0:
            raise ConfigError(
                "the faiss-gpu vector backend needs a CUDA GPU, and FAISS sees none here; "
                "use the 'faiss' backend on this machine",
                path=str(path),
            )
        self.gpus = found if gpus is None else max(1, min(gpus, found))
        self._gpu_index: Any = None
        self._gpu_lock = threading.Lock()
        super().__init__(path, name, encoder, dim, **options)

    def _changed(self) -> None:
        self._gpu_index = None

    def _load(self, verify: str) -> None:
        super()._load(verify)
        self._gpu_index = None

    def _search(self, q: np.ndarray, k: int, subset: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        if subset is not None:
            return super()._search(q, k, subset)
        scores, ids = self._to_gpu().search(q, k)
        return scores, ids

    def _to_gpu(self) -> Any:
        with self._gpu_lock:
            if self._gpu_index is None:
                self._gpu_index = self._clone()
                log.info("tier %s on %d GPU(s) (%d vectors, %s)", self.name, self.gpus, self.ntotal, self.factory)
            return self._gpu_index

    def _clone(self) -> Any:
        """IVF tiers sharded over the GPUs; small exact tiers copied to GPU 0 whole."""
        faiss = _faiss()
        if self._ivf() is None or self.gpus == 1:
            res = faiss.StandardGpuResources()
            gpu = faiss.index_cpu_to_gpu(res, 0, self.index)
            gpu.referenced_objects = [res]
        else:
            co = faiss.GpuMultipleClonerOptions()
            co.shard, co.useFloat16LookupTables = True, True
            gpu = faiss.index_cpu_to_all_gpus(self.index, co=co, ngpu=self.gpus)
        if "IVF" in self.factory:
            faiss.GpuParameterSpace().set_index_parameter(gpu, "nprobe", self.nprobe)
        return gpu

    @property
    def on_gpu(self) -> bool:
        return self._gpu_index is not None


def open_gpu_tier(
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
) -> GpuVectorTier:
    """The ``faiss-gpu`` backend: ``<tiers_dir>/<name>.faiss`` (the ``faiss`` format), searched on GPUs."""
    return GpuVectorTier(
        tiers_dir / f"{name}.faiss",
        name,
        encoder,
        dim,
        gpus=config.gpus,
        catalog_id=catalog_id,
        load=load,
        verify=verify,
        source=source,
        nprobe=config.nprobe,
        rerank=config.rerank,
    )
