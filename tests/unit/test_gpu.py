"""The ``faiss-gpu`` backend (faiss-gpu on a machine with a CUDA GPU): a tier's searches move to the GPUs
(sharded over all of them for IVF tiers) and answer as the CPU index does. Run with ``pytest -m gpu``; CI
machines have no GPU."""

from __future__ import annotations

import numpy as np
import pytest

from memindex import tiers as tiers_mod
from memindex.tiers import VectorTier

pytestmark = pytest.mark.gpu


def _gpu_tier_class():  # type: ignore[no-untyped-def]
    from memindex.vectors.faiss_gpu import GpuVectorTier, visible_gpus

    if visible_gpus() == 0:
        pytest.fail("no GPU visible to FAISS (install memindex[gpu] on a CUDA machine)")
    return GpuVectorTier


def _unit(n: int, dim: int = 384) -> np.ndarray:
    vecs = np.random.default_rng(0).standard_normal((n, dim)).astype(np.float32)
    return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


def test_tier_moves_to_gpu_and_matches_cpu(tmp_path) -> None:
    gpu_tier = _gpu_tier_class()
    vecs = _unit(20000)
    ids = np.arange(1, 20001, dtype=np.int64)
    gpu = gpu_tier(tmp_path / "g.faiss", "speech", "test", 384)
    cpu = VectorTier(tmp_path / "c.faiss", "speech", "test", 384)
    for tier in (gpu, cpu):
        tier.add(ids, vecs)
    for q in vecs[:20]:
        gs, gi = gpu.search(q, 10)
        cs, ci = cpu.search(q, 10)
        assert gpu.on_gpu and gi.tolist() == ci.tolist() and np.allclose(gs, cs, atol=1e-4)
    gpu.add(np.array([99999], np.int64), vecs[:1])  # a write drops the GPU copy; the next search remakes it
    assert not gpu.on_gpu and 99999 in gpu.search(vecs[0], 2)[1]
    gpu.save(1)  # saving goes through the CPU index
    assert VectorTier(tmp_path / "g.faiss", "speech", "test", 384).ntotal == 20001


def test_ivf_tier_is_sharded_over_the_gpus_and_keeps_subset_search(tmp_path, monkeypatch) -> None:
    gpu_tier = _gpu_tier_class()
    monkeypatch.setattr(tiers_mod, "FLAT_MAX", 1000)
    vecs = _unit(50000)
    ids = np.arange(1, 50001, dtype=np.int64)
    tier = gpu_tier(tmp_path / "g.faiss", "speech", "test", 384)
    tier.rebuild(ids, vecs)
    tier.save(1)
    mapped = gpu_tier(tmp_path / "g.faiss", "speech", "test", 384)  # memory-mapped CPU copy, GPU search
    assert mapped.factory.startswith("IVF") and mapped.mapped
    cpu = VectorTier(tmp_path / "g.faiss", "speech", "test", 384)
    agree = [len(set(mapped.search(q, 10)[1]) & set(cpu.search(q, 10)[1])) for q in vecs[:50]]
    assert mapped.on_gpu and sum(agree) / 500 >= 0.95
    subset = np.arange(100, 200, dtype=np.int64)
    assert set(mapped.search(vecs[150], 5, subset)[1].tolist()) <= set(subset.tolist())
