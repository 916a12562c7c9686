"""What the store needs of a vector tier, whatever engine holds it.

A tier is derived data: the catalog holds every vector, so any backend can be dropped and rebuilt from it
(``rebuild_from``). The store keeps each tier caught up by generation: ``generation`` is the catalog
generation the tier's contents reflect, ``file_generation`` the one that is durable (saved)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["VectorBackend", "VectorSource", "Chunks"]

# (ids) -> (ids found, their exact float32 vectors in that order): the catalog, for exact re-ranking.
VectorSource = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
# A stream of (ids, vectors) batches, e.g. the catalog's vectors of one tier read 65,536 at a time.
Chunks = Iterable[tuple[np.ndarray, np.ndarray]]


@runtime_checkable
class VectorBackend(Protocol):
    """One tier's vectors, keyed by catalog ``docs.id``; inner-product scores (vectors are unit length)."""

    name: str
    encoder: str
    dim: int
    generation: int
    file_generation: int
    factory: str

    @property
    def ntotal(self) -> int: ...

    @property
    def exact(self) -> bool:
        """True when ``vectors()`` returns exactly what was added (no quantisation)."""
        ...

    def search(self, query: np.ndarray, k: int, subset: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (scores, ids), best first, optionally only among the ids in ``subset``."""
        ...

    def add(self, ids: np.ndarray, vecs: np.ndarray) -> None: ...

    def remove(self, ids: np.ndarray) -> int: ...

    def ids(self) -> np.ndarray: ...

    def vectors(self, ids: np.ndarray) -> np.ndarray: ...

    def rebuild(self, ids: np.ndarray, vecs: np.ndarray) -> None: ...

    def rebuild_from(self, total: int, chunks: Chunks, sample: np.ndarray) -> None:
        """Start over from a stream of catalog vectors (``total`` of them; ``sample`` to train on)."""
        ...

    def outgrown(self) -> bool:
        """True when the tier should be rebuilt from the catalog with an index suited to its size."""
        ...

    def save(self, generation: int) -> None: ...
