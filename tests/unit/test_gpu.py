"""The FAISS GPU path (faiss-gpu on a machine with a CUDA GPU): a tier moves to the GPU and answers exactly
as the CPU index does. Run with ``pytest -m gpu``; CI machines have no GPU."""

from __future__ import annotations

import numpy as np
import pytest

from memindex.tiers import VectorTier

pytestmark = pytest.mark.gpu


def test_tier_moves_to_gpu_and_matches_cpu(tmp_path) -> None:
    faiss = pytest.importorskip("faiss")
    if not hasattr(faiss, "get_num_gpus") or faiss.get_num_gpus() == 0:
        pytest.fail("no GPU visible to FAISS (install memindex[gpu] on a CUDA machine)")
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((20000, 384)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = np.arange(1, 20001, dtype=np.int64)
    gpu = VectorTier(tmp_path / "g.faiss", "speech", "test", 384, use_gpu=True)
    cpu = VectorTier(tmp_path / "c.faiss", "speech", "test", 384, use_gpu=False)
    for tier in (gpu, cpu):
        tier.add(ids, vecs)
    for q in vecs[:20]:
        gs, gi = gpu.search(q, 10)
        cs, ci = cpu.search(q, 10)
        assert gpu.on_gpu and gi.tolist() == ci.tolist() and np.allclose(gs, cs, atol=1e-4)
    gpu.save(1)  # saving goes through the CPU index
    assert VectorTier(tmp_path / "g.faiss", "speech", "test", 384).ntotal == 20000
