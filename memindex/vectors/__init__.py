"""Vector tier backends, chosen by name from ``StoreConfig.tiers`` (entry points ``memindex.vector_backends``).

Built in: ``faiss`` (``memindex.tiers``: a memory-mapped FAISS file per tier), ``faiss-gpu``
(``memindex.vectors.faiss_gpu``: the same files, searched sharded over a node's GPUs) and ``milvus``
(``memindex.vectors.milvus``: a Milvus server, or milvus-lite embedded in the store). Each is a
``VectorBackend``; a factory is called as ``factory(tiers_dir, name, encoder, dim, config=, catalog_id=,
load=, verify=, source=)``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from memindex.registry import Registry
from memindex.vectors.base import Chunks, VectorBackend, VectorSource

__all__ = ["BACKENDS", "VectorBackend", "VectorSource", "Chunks", "open_backend"]

BACKENDS: Registry[Any] = Registry("memindex.vector_backends", "vector backend")


def open_backend(
    config: Any,
    tiers_dir: Path,
    name: str,
    encoder: str,
    dim: int,
    *,
    catalog_id: str | None,
    load: bool = True,
    verify: str = "quick",
    source: VectorSource | None = None,
) -> VectorBackend:
    """The tier ``name`` in the backend ``config.name`` (a ``TierBackendConfig``); unknown names raise
    ``ConfigError`` listing the valid ones."""
    factory = BACKENDS.get(config.name)
    backend: VectorBackend = factory(
        tiers_dir, name, encoder, dim, config=config, catalog_id=catalog_id, load=load, verify=verify, source=source
    )
    return backend
