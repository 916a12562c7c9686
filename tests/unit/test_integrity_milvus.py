"""``memindex check [--repair]`` on a store whose tiers are Milvus collections (milvus-lite, embedded in the
store): the collection's generation, ids and vectors are checked against the catalog through the backend's
API, and a repair rebuilds the collection from the catalog."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from sqlalchemy import select

import memindex
from memindex.catalog.models import Doc, TierState
from memindex.config import StoreConfig, TierBackendConfig
from memindex.integrity import check_store
from memindex.store import Store
from tests.unit.test_store import _add_video

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("pymilvus") is None or importlib.util.find_spec("milvus_lite") is None,
    reason="pip install 'memindex[milvus]'",
)
A, B = "a" * 16, "b" * 16


@pytest.fixture()
def store(tmp_path, light_config) -> Store:  # type: ignore[no-untyped-def]
    cfg = StoreConfig(text=light_config.text, frame=light_config.frame, tiers=TierBackendConfig(name="milvus"))
    s = Store(tmp_path / "s", config=cfg)
    _add_video(s, A, [(0, 5, "the harbour pilot boards at dawn"), (5, 9, "cargo manifests"), (9, 12, "tugs")])
    _add_video(s, B, [(0, 5, "a lecture on glaciers"), (5, 8, "moraines and drumlins")])
    s.tier("speech", save=True)
    return s


def _catalog(store: Store) -> tuple[list[int], int]:
    with store.Session() as s:
        ids = list(s.scalars(select(Doc.id).where(Doc.tier == "speech").order_by(Doc.id)).all())
        return ids, int(s.scalar(select(TierState.generation).where(TierState.tier == "speech")) or 0)


def _tier_problems(report: dict) -> list[dict]:
    return [p for p in report["problems"] if p["kind"] == "tier"]


def test_a_healthy_milvus_store_checks_clean(store: Store) -> None:
    report = check_store(store)
    assert report["ok"] and report["checked"]["tiers"] == 1 and not report["problems"], report


def test_missing_and_stray_vectors_are_found_and_rebuilt(store: Store) -> None:
    ids, gen = _catalog(store)
    tier = store.tier("speech")
    tier.remove(np.array(ids[:2], np.int64))  # two catalog vectors lost ...
    tier.add(np.array([9999], np.int64), np.ones((1, tier.dim), np.float32) / np.sqrt(tier.dim))  # ... one stray
    tier.save(gen)  # at the catalog's generation, so nothing on open would notice
    report = check_store(store)
    [problem] = _tier_problems(report)
    assert not report["ok"] and not problem["repaired"]
    assert problem["detail"] == "1 vectors without a catalog row, 2 catalog vectors not in the backend"
    assert "milvus.db" in problem["where"] and "speech" in problem["where"]
    repaired = check_store(store, repair=True)
    assert repaired["ok"] and _tier_problems(repaired)[0]["repaired"]
    assert check_store(store)["ok"]
    rebuilt = store.tier("speech")
    assert sorted(rebuilt.ids().tolist()) == ids and rebuilt.generation == gen
    hits = memindex.MemoryIndex(store).search("harbour pilot", k=1, tiers=["speech"])
    assert hits[0].video_id == A


def test_a_changed_vector_and_a_lagging_generation_are_found(store: Store) -> None:
    ids, gen = _catalog(store)
    tier = store.tier("speech")
    tier.remove(np.array(ids[:1], np.int64))
    tier.add(np.array(ids[:1], np.int64), -tier.vectors(np.array(ids[1:2], np.int64)))  # same id, other content
    tier.save(gen)
    assert [p["detail"] for p in _tier_problems(check_store(store))] == ["vectors differ from the catalog's"]
    tier.save(gen - 1)
    detail = _tier_problems(check_store(store))[0]["detail"]
    assert detail == f"at generation {gen - 1}, the catalog at {gen}"
    assert check_store(store, repair=True)["ok"] and check_store(store)["ok"]
    with store.Session() as s:
        want = s.scalar(select(Doc.vector).where(Doc.id == ids[0]))
    assert store.tier("speech").vectors(np.array(ids[:1], np.int64)).tobytes() == want


def test_a_dropped_collection_is_rebuilt_from_the_catalog(store: Store) -> None:
    ids, gen = _catalog(store)
    tier = store.tier("speech")
    tier._client.drop_collection(tier.collection)
    store._tiers.clear()
    problems = _tier_problems(check_store(store))
    assert [p["detail"] for p in problems] == [f"at generation -1, the catalog at {gen}"]
    assert check_store(store, repair=True)["ok"]
    assert sorted(store.tier("speech").ids().tolist()) == ids
