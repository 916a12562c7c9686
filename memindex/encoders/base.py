"""The two encoder Protocols. Vectors are float32 and L2-normalised, so inner product is cosine."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["TextEmbedder", "FrameEmbedder", "normalize", "limit_torch_threads"]


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
