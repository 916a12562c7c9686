"""The two encoder Protocols. Vectors are float32 and L2-normalised, so inner product is cosine."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol, runtime_checkable

import numpy as np

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


def limit_blas_threads(threads: int | None) -> AbstractContextManager[Any]:
    """A context capping the threads of numpy's BLAS (OpenBLAS or MKL) at ``threads``; None leaves them.

    A process-wide setting, restored on exit. Set it before other threads run matrix products, not while they
    do. Results follow it: faster-whisper's mel features (a BLAS product) with 1 OpenBLAS thread and with 2
    differ in their last bits, enough to change a decoded comma, and OpenBLAS takes its count from
    ``OMP_NUM_THREADS``, which Ray sets to 1 in its workers."""
    global _BLAS
    if threads is None:
        return nullcontext()
    if _BLAS is None:  # finding the loaded libraries takes milliseconds: once (numpy's BLAS loads with numpy)
        from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

        _BLAS = ThreadpoolController().select(user_api="blas")
    limits: AbstractContextManager[Any] = _BLAS.limit(limits=threads)
    return limits


_BLAS: Any = None
