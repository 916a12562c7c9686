"""The two encoder Protocols. Vectors are float32 and L2-normalised, so inner product is cosine."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, runtime_checkable

import numpy as np

log = logging.getLogger(__name__)

__all__ = ["TextEmbedder", "FrameEmbedder", "normalize", "limit_torch_threads", "limit_blas_threads"]


@runtime_checkable
class TextEmbedder(Protocol):
    name: str  # identity saved with the tier: changing it changes the vectors
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


@runtime_checkable
class FrameEmbedder(Protocol):
    name: str
    dim: int

    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray: ...

    def embed_text(self, texts: Sequence[str]) -> np.ndarray: ...


def normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[None, :]
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.maximum(norms, 1e-12), dtype=np.float32)


def limit_torch_threads(threads: int | None) -> None:
    """Cap torch's intra-op threads for this process (a process-wide torch setting; None leaves it).

    Measured on 2 busy cores: one MiniLM query took 490 ms with 2 threads (OpenMP workers spin against the
    other stages' threads) and 24 ms with 1; a 256-sentence batch was only ~15% slower with 1 thread.
    """
    if threads is None:
        return
    import torch

    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


@contextmanager
def limit_blas_threads(threads: int | None, *, rescan: bool = False) -> Iterator[None]:
    """Hold the threads of every loaded BLAS (OpenBLAS, MKL: numpy's, scipy's, faiss's) at ``threads`` while
    inside; None leaves them. ``rescan`` looks again for BLAS libraries loaded since the last look (5 ms: right
    once per ingest task, too slow for every query, which holds the ones found before).

    A process-wide setting. Contexts may overlap across threads (an ingest beside a server's queries): the
    count is set when the first one enters, the latest request wins while any is open, and each library's own
    count comes back only when the last one leaves, so one context ending never changes the count under another
    (they all ask for 1 here). Results follow it: faster-whisper's mel features (a BLAS product) with 1
    OpenBLAS thread and with 2 differ in their last bits, enough to change a decoded comma, and OpenBLAS takes
    its count from ``OMP_NUM_THREADS``, which Ray sets to 1 in its workers."""
    global _BLAS, _BLAS_OPEN
    if threads is None:
        yield
        return
    with _BLAS_LOCK:
        if _BLAS is None or rescan:
            from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

            _BLAS = ThreadpoolController().select(user_api="blas")
        if _BLAS_OPEN == 0:
            _BLAS_OWN.clear()
        for lib in _BLAS.lib_controllers:  # a library first seen now (loaded meanwhile) keeps its own count too
            _BLAS_OWN.setdefault(lib.filepath, lib.num_threads)
        _BLAS_OPEN += 1
        for lib in _BLAS.lib_controllers:
            if lib.num_threads != threads:
                lib.set_num_threads(threads)
        held = [lib.num_threads for lib in _BLAS.lib_controllers]
    if any(n != threads for n in held) and not _BLAS_SAID:
        _said()
        log.warning(
            "BLAS stays at %s threads, not %d: OpenBLAS ignores a new count from a thread other than the main one "
            "once the main thread has set one; matrix products may differ in their last bits from a run on the "
            "main thread",
            held,
            threads,
        )
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_OPEN -= 1
            if _BLAS_OPEN == 0:
                for lib in _BLAS.lib_controllers:
                    lib.set_num_threads(_BLAS_OWN.get(lib.filepath, lib.num_threads))


_BLAS: Any = None
_BLAS_LOCK = threading.Lock()
_BLAS_OPEN = 0
_BLAS_OWN: dict[str, int] = {}
_BLAS_SAID = False


def _said() -> None:
    global _BLAS_SAID
    _BLAS_SAID = True
