"""Vector tier backends: one contract run against every installed backend (faiss; milvus through an embedded
milvus-lite; faiss-gpu under the ``gpu`` marker), then what the FAISS file adds (its format, memory-mapping,
quick and full checks, the first format, exact re-ranking of PQ candidates, streamed rebuilds), and the
store's backend config."""

from __future__ import annotations

import importlib.util
import json
import struct
import sys
import zlib

import numpy as np
import pytest

import memindex
from memindex import tiers as tiers_mod
from memindex.config import StoreConfig, TierBackendConfig
from memindex.errors import ConfigError, EncoderMismatchError, MissingDependencyError
from memindex.store import Store
from memindex.tiers import VectorTier
from memindex.vectors import BACKENDS, open_backend
from memindex.vectors.tierfile import TierDamagedError
from tests.unit.test_store import _add_video

DIM = 16
HAVE_MILVUS = importlib.util.find_spec("pymilvus") is not None and importlib.util.find_spec("milvus_lite") is not None
BACKEND_PARAMS = [
    "faiss",
    pytest.param("milvus", marks=pytest.mark.skipif(not HAVE_MILVUS, reason="pip install 'memindex[milvus]'")),
    pytest.param("faiss-gpu", marks=pytest.mark.gpu),
]


def _unit(n: int, seed: int = 0, dim: int = DIM) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _open(
    backend: str, tmp_path, *, load: bool = True, catalog_id: str = "cat-one", encoder: str = "test:16", **options
):  # type: ignore[no-untyped-def]
    (tmp_path / "tiers").mkdir(exist_ok=True)
    cfg = TierBackendConfig(name=backend, **options)
    return open_backend(cfg, tmp_path / "tiers", "speech", encoder, DIM, catalog_id=catalog_id, load=load)


# -- the contract: every backend -------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_contract_add_search_remove_reload(backend: str, tmp_path) -> None:
    vecs, ids = _unit(300), np.arange(10, 310, dtype=np.int64)
    tier = _open(backend, tmp_path)
    assert tier.ntotal == 0 and tier.search(vecs[0], 5)[1].size == 0
    tier.add(ids, vecs)
    scores, found = tier.search(vecs[7], 5)
    assert found[0] == 17 and abs(scores[0] - 1.0) < 1e-4 and list(scores) == sorted(scores, reverse=True)
    assert tier.remove(np.array([17, 18, 99999], np.int64)) == 2
    assert 17 not in tier.search(vecs[7], 5)[1] and tier.ntotal == 298
    assert sorted(tier.ids().tolist()) == [i for i in range(10, 310) if i not in (17, 18)]
    assert np.array_equal(tier.vectors(np.array([12, 300], np.int64)), vecs[[2, 290]])
    tier.save(7)
    again = _open(backend, tmp_path)
    assert (again.generation, again.file_generation, again.ntotal) == (7, 7, 298)
    assert again.search(vecs[40], 1)[1].tolist() == [50]


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_contract_filtered_search_by_id_subset(backend: str, tmp_path) -> None:
    vecs, ids = _unit(200, seed=1), np.arange(1, 201, dtype=np.int64)
    tier = _open(backend, tmp_path)
    tier.add(ids, vecs)
    subset = np.arange(100, 120, dtype=np.int64)
    scores, found = tier.search(vecs[4], 5, subset)  # the best match (id 5) is outside the subset
    assert set(found.tolist()) <= set(subset.tolist()) and len(found) == 5
    best = subset[np.argmax(vecs[subset - 1] @ vecs[4])]
    assert found[0] == best
    assert tier.search(vecs[4], 5, np.array([150], np.int64))[1].tolist() == [150]


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_contract_rebuild_from_the_catalog_stream(backend: str, tmp_path) -> None:
    vecs = _unit(500, seed=2)
    tier = _open(backend, tmp_path)
    tier.add(np.arange(1, 11, dtype=np.int64), vecs[:10])  # stale contents, dropped by the rebuild
    chunks = [(np.arange(1000 + lo, 1000 + lo + 100, dtype=np.int64), vecs[lo : lo + 100]) for lo in range(0, 500, 100)]
    tier.rebuild_from(500, chunks, vecs)
    assert tier.ntotal == 500 and sorted(tier.ids().tolist()) == list(range(1000, 1500))
    assert tier.search(vecs[321], 1)[1].tolist() == [1321]
    tier.save(2)
    assert _open(backend, tmp_path).ntotal == 500


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_contract_refuses_another_catalog_and_encoder(backend: str, tmp_path) -> None:
    tier = _open(backend, tmp_path)
    tier.add(np.arange(1, 4, dtype=np.int64), _unit(3))
    tier.save(1)
    try:  # a file names its catalog; a Milvus collection is named after it (another catalog's is another one)
        assert _open(backend, tmp_path, catalog_id="cat-two").ntotal == 0
    except TierDamagedError as exc:
        assert "another catalog" in str(exc)
    with pytest.raises(EncoderMismatchError):
        _open(backend, tmp_path, encoder="other:16")
    assert _open(backend, tmp_path, load=False).ntotal == 0  # started over (the store then reconciles it)


@pytest.mark.parametrize("backend", BACKEND_PARAMS)
def test_store_on_each_backend_searches_reconciles_and_deletes(backend: str, tmp_path, light_config) -> None:
    cfg = StoreConfig(text=light_config.text, frame=light_config.frame, tiers=TierBackendConfig(name=backend))
    store = Store(tmp_path / "s", config=cfg)
    _add_video(store, "a" * 16, [(0, 5, "the harbour pilot boards at dawn"), (5, 9, "cargo manifests")])
    _add_video(store, "b" * 16, [(0, 5, "a lecture on glaciers")])
    index = memindex.MemoryIndex(store)
    assert index.search("harbour pilot", k=1, tiers=["speech"])[0].video_id == "a" * 16
    index.delete_video("a" * 16)
    assert all(h.video_id == "b" * 16 for h in index.search("harbour pilot", k=3, tiers=["speech"]))
    tier = store.tier("speech")
    tier.remove(tier.ids())  # the backend loses everything; the catalog still holds the vectors
    tier.save(0)  # ... and lags: the next load reconciles it from the catalog
    store._tiers.clear()
    assert store.tier("speech").ntotal == 1
    reopened = Store(tmp_path / "s")
    assert reopened.config.tiers.name == backend
    assert memindex.MemoryIndex(reopened).search("glaciers", k=1, tiers=["speech"])[0].video_id == "b" * 16


# -- the FAISS file ---------------------------------------------------------------------------------------------
def test_faiss_tier_file_is_faiss_format_with_a_checked_trailer(tmp_path) -> None:
    faiss = pytest.importorskip("faiss")
    tier = _open("faiss", tmp_path)
    tier.add(np.arange(1, 51, dtype=np.int64), _unit(50))
    tier.save(3)
    path = tmp_path / "tiers" / "speech.faiss"
    assert faiss.read_index(str(path)).ntotal == 50  # FAISS reads it as it is (and so can map it)
    raw = path.read_bytes()
    hlen, hcrc = struct.unpack("<II", raw[-16:-8])
    header = json.loads(raw[-16 - hlen : -16])
    assert raw[-8:] == b"MIXTIER2" and zlib.crc32(raw[-16 - hlen : -16]) == hcrc
    assert header["generation"] == 3 and header["crc32"] == zlib.crc32(raw[: header["body_bytes"]])
    assert VectorTier.peek(path, "speech")["catalog_id"] == "cat-one"


def _ivf_tier(tmp_path, monkeypatch, n: int = 3000):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(tiers_mod, "FLAT_MAX", 1000)
    vecs, ids = _unit(n, seed=3), np.arange(1, n + 1, dtype=np.int64)
    tier = _open("faiss", tmp_path)
    tier.rebuild(ids, vecs)
    tier.save(1)
    return vecs


def test_ivf_tier_is_memory_mapped_and_copied_to_memory_on_write(tmp_path, monkeypatch) -> None:
    vecs = _ivf_tier(tmp_path, monkeypatch)
    tier = _open("faiss", tmp_path)
    assert tier.factory.startswith("IVF") and tier.mapped
    assert tier.search(vecs[10], 1)[1].tolist() == [11]
    before = (tmp_path / "tiers" / "speech.faiss").read_bytes()
    (tmp_path / "tiers" / "speech.faiss").unlink()  # a writer replaced the file: the mapping still holds
    tier.add(np.array([9001], np.int64), vecs[:1])
    assert not tier.mapped and tier.ntotal == 3001 and tier.search(vecs[0], 2)[1].tolist() in ([1, 9001], [9001, 1])
    assert np.allclose(tier.vectors(np.array([5], np.int64)), vecs[4], atol=1e-6)  # IVF-Flat keeps vectors
    tier.save(2)
    assert len((tmp_path / "tiers" / "speech.faiss").read_bytes()) > len(before) - 100


def test_huge_tier_opens_with_a_quick_check_and_check_reads_it_all(tmp_path, monkeypatch) -> None:
    _ivf_tier(tmp_path, monkeypatch, n=30000)
    path = tmp_path / "tiers" / "speech.faiss"
    raw = bytearray(path.read_bytes())
    body = VectorTier.peek(path, "speech")["body_bytes"]
    assert body > (2 << 20)
    monkeypatch.setattr(tiers_mod, "EAGER_CRC_BYTES", 0)  # every file counts as huge
    raw[body // 2] ^= 0xFF  # a flipped byte in the middle: only the full CRC sees it
    path.write_bytes(bytes(raw))
    tier = _open("faiss", tmp_path)  # the store's open: quick check (size, first and last MiB)
    assert tier.mapped
    with pytest.raises(TierDamagedError, match="checksum"):
        tier.verify()
    with pytest.raises(TierDamagedError, match="checksum"):
        VectorTier(path, "speech", "test:16", DIM, catalog_id="cat-one")  # memindex check: verify="full"
    raw[100] ^= 0xFF  # in the first MiB: the quick check sees it
    path.write_bytes(bytes(raw))
    with pytest.raises(TierDamagedError, match="checksum"):
        _open("faiss", tmp_path)


def test_first_format_tier_files_are_still_read(tmp_path) -> None:
    faiss = pytest.importorskip("faiss")
    vecs = _unit(20)
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(DIM))
    index.add_with_ids(vecs, np.arange(1, 21, dtype=np.int64))
    body = faiss.serialize_index(index)
    header = json.dumps(
        {
            "encoder": "test:16",
            "dim": DIM,
            "generation": 4,
            "factory": "Flat",
            "ntotal": 20,
            "catalog_id": "cat-one",
            "crc32": zlib.crc32(body),
        }
    ).encode()
    (tmp_path / "tiers").mkdir()
    path = tmp_path / "tiers" / "speech.faiss"
    path.write_bytes(b"MIXTIER1" + struct.pack("<I", len(header)) + header + body.tobytes())
    tier = _open("faiss", tmp_path)
    assert tier.generation == 4 and tier.search(vecs[3], 1)[1].tolist() == [4]
    tier.save(5)  # rewritten in the current format
    assert path.read_bytes()[-8:] == b"MIXTIER2" and _open("faiss", tmp_path).generation == 5


def test_pq_candidates_are_reranked_with_exact_catalog_vectors(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(tiers_mod, "FLAT_MAX", 500)
    monkeypatch.setattr(tiers_mod, "PQ_MIN", 3000)
    centres = _unit(50, seed=4)
    rng = np.random.default_rng(5)
    vecs = centres[rng.integers(0, 50, 6000)] + 0.3 * _unit(6000, seed=6)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = np.arange(1, 6001, dtype=np.int64)
    catalog = {"calls": 0}

    def source(want: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        catalog["calls"] += 1
        want = np.sort(want)
        return want, vecs[want - 1]

    tier = _open("faiss", tmp_path)
    tier.rebuild(ids, vecs)
    assert "PQ" in tier.factory and not tier.exact
    queries = vecs[:40] + 0.05 * _unit(40, seed=7)
    truth = np.argsort(-(queries @ vecs.T), axis=1)[:, :10] + 1
    plain = [len(set(tier.search(q, 10)[1]) & set(t)) for q, t in zip(queries, truth, strict=True)]
    tier.source, tier.rerank = source, 4
    reranked = []
    for q, t in zip(queries, truth, strict=True):
        scores, found = tier.search(q, 10)
        assert np.allclose(scores, vecs[found - 1] @ q, atol=1e-5)  # exact scores, not PQ estimates
        reranked.append(len(set(found) & set(t)))
    assert catalog["calls"] == 40 and sum(reranked) > sum(plain) and sum(reranked) / 400 >= 0.8


def test_store_refactors_a_growing_tier_from_a_streamed_catalog(tmp_path, light_config, monkeypatch) -> None:
    monkeypatch.setattr(tiers_mod, "FLAT_MAX", 40)
    store = Store(tmp_path / "s", config=light_config)
    texts = [(i, i + 1, f"report number {i} about topic {i % 7}") for i in range(60)]
    _add_video(store, "a" * 16, texts[:30])
    assert store.tier("speech").factory == "Flat"
    _add_video(store, "b" * 16, texts[30:])  # past FLAT_MAX: rebuilt as IVF from the catalog, streamed
    tier = store.tier("speech")
    assert tier.factory.startswith("IVF") and tier.ntotal == 60
    hits = memindex.MemoryIndex(store).search("report number 17 about topic 3", k=1, tiers=["speech"])
    assert hits and "17" in hits[0].text
    store._tiers.clear()
    assert store.tier("speech").mapped  # reopened from its file: mapped


# -- configuration ----------------------------------------------------------------------------------------------
def test_backend_config_is_saved_and_unknown_names_list_the_valid_ones(tmp_path, light_config) -> None:
    cfg = StoreConfig(text=light_config.text, frame=light_config.frame, tiers=TierBackendConfig(nprobe=64))
    Store(tmp_path / "s", config=cfg).close()
    saved = json.loads((tmp_path / "s" / "collections" / "default" / "config.json").read_text())
    assert saved["tiers"]["name"] == "faiss" and saved["tiers"]["nprobe"] == 64
    assert Store(tmp_path / "s").config.tiers.nprobe == 64
    assert StoreConfig.from_dict({"text": {"name": "hashing"}}).tiers == TierBackendConfig()  # older config files
    bad = StoreConfig(text=light_config.text, frame=light_config.frame, tiers=TierBackendConfig(name="annoy"))
    with pytest.raises(ConfigError, match="unknown vector backend 'annoy'; valid names: faiss, faiss-gpu, milvus"):
        Store(tmp_path / "t", config=bad)
    with pytest.raises(ConfigError, match="unknown TierBackendConfig keys"):
        StoreConfig.from_dict({"tiers": {"nam": "faiss"}})
    assert {"faiss", "faiss-gpu", "milvus"} <= set(BACKENDS.names())


def test_gpu_backend_without_a_gpu_says_what_is_missing(tmp_path) -> None:
    from memindex.vectors.faiss_gpu import visible_gpus

    if visible_gpus():
        pytest.skip("a GPU is visible here: tests/unit/test_gpu.py covers it")
    with pytest.raises((MissingDependencyError, ConfigError), match=r"memindex\[gpu\]|needs a CUDA GPU"):
        _open("faiss-gpu", tmp_path)


def test_milvus_backend_without_pymilvus_names_the_extra(tmp_path, monkeypatch) -> None:
    from memindex.vectors import milvus

    monkeypatch.setitem(sys.modules, "pymilvus", None)
    monkeypatch.setattr(milvus, "_clients", {})
    with pytest.raises(MissingDependencyError, match=r"memindex\[milvus\]"):
        _open("milvus", tmp_path)
