"""The store: migrations, encoder checks, atomic tier files, reconciliation, deletion, collections."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import numpy as np
import pytest

import memindex
from memindex.catalog.models import Utterance, Video
from memindex.config import StoreConfig, TextEncoderConfig
from memindex.errors import EncoderMismatchError, NotFoundError, QueryError, SchemaError
from memindex.store import DocRow, Store


def _add_video(store: Store, vid: str, texts: list[tuple[float, float, str]]) -> None:
    with store.write() as txn:
        txn.session.add(
            Video(
                id=vid,
                uri=f"/videos/{vid}.mp4",
                sha256=vid * 4,
                size_bytes=1,
                duration=100.0,
                fps=24,
                width=10,
                height=10,
                has_audio=True,
                status="ready",
            )
        )
        txn.session.flush()
        rows = []
        for start, end, text in texts:
            u = Utterance(video_id=vid, start=start, end=end, text=text)
            txn.session.add(u)
            txn.session.flush()
            rows.append(DocRow(vid, u.id, start, end, text))
        txn.add_docs("speech", rows, store.text_embedder.embed([r.text for r in rows]))


@pytest.fixture()
def store(tmp_path, light_config) -> Store:
    return Store(tmp_path / "s", config=light_config)


def test_import_is_light() -> None:
    code = (
        "import memindex, sys; print(sorted(m for m in ('torch', 'cv2', 'faster_whisper', 'faiss', "
        "'sentence_transformers', 'open_clip') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_public_surface() -> None:
    assert set(memindex.__all__) >= {"open", "MemoryIndex", "Hit", "MemIndexError", "StoreConfig"}
    for name in memindex.__all__:
        assert hasattr(memindex, name), name


def test_search_finds_exact_words_and_numbers(store: Store) -> None:
    _add_video(
        store,
        "a" * 16,
        [
            (0, 5, "welcome to the lecture on graphs"),
            (5, 9, "the answer is 4217 exactly"),
            (9, 14, "thank you all for coming"),
        ],
    )
    index = memindex.MemoryIndex(store)
    hits = index.search("4217", k=3, tiers=["speech"])
    assert hits[0].text == "the answer is 4217 exactly"
    assert (hits[0].start, hits[0].end) == (5, 9)
    assert hits[0].uri == "/videos/aaaaaaaaaaaaaaaa.mp4"
    assert set(hits[0].to_dict()) >= {
        "video_id",
        "uri",
        "start",
        "end",
        "level",
        "tier",
        "modality",
        "score",
        "text",
        "keyframe",
    }


def test_filters_by_video_and_time(store: Store) -> None:
    _add_video(store, "a" * 16, [(0, 5, "red apples"), (50, 55, "red apples again")])
    _add_video(store, "b" * 16, [(0, 5, "red apples elsewhere")])
    index = memindex.MemoryIndex(store)
    hits = index.search("red apples", k=10, tiers=["speech"], videos=["b" * 16])
    assert {h.video_id for h in hits} == {"b" * 16}
    hits = index.search("red apples", k=10, tiers=["speech"], time_range=(40, 60))
    assert [(h.video_id, h.start) for h in hits] == [("a" * 16, 50)]


def test_bad_queries_are_clear(store: Store) -> None:
    index = memindex.MemoryIndex(store)
    for bad in ("", "   "):
        with pytest.raises(QueryError):
            index.search(bad)
    with pytest.raises(QueryError, match="k must be"):
        index.search("x", k=10**9)
    with pytest.raises(QueryError, match="unknown tiers"):
        index.search("x", tiers=["nope"])
    assert index.search('"; DROP TABLE videos; -- OR * NEAR(', k=3) == []


def test_delete_removes_rows_and_vectors(store: Store) -> None:
    _add_video(store, "a" * 16, [(0, 5, "alpha beta"), (5, 9, "gamma delta")])
    _add_video(store, "b" * 16, [(0, 5, "alpha beta")])
    assert store.tier("speech").ntotal == 3
    store.delete_video("a" * 16)
    assert store.tier("speech").ntotal == 1
    reopened = Store(store.root, config=store.config)
    assert reopened.tier("speech").ntotal == 1
    assert {h.video_id for h in memindex.MemoryIndex(reopened).search("alpha", tiers=["speech"])} == {"b" * 16}
    with pytest.raises(NotFoundError):
        memindex.MemoryIndex(reopened).video("a" * 16)


def test_tier_lagging_the_catalog_is_reconciled(store: Store) -> None:
    """A crash between the SQL commit and the tier save leaves an old tier file: it catches up on open."""
    _add_video(store, "a" * 16, [(0, 5, "first words")])
    old = store.tier("speech").path.read_bytes()
    _add_video(store, "b" * 16, [(0, 5, "second words")])
    store.tier("speech").path.write_bytes(old)  # as if the second save never happened
    reopened = Store(store.root, config=store.config)
    assert reopened.tier("speech").ntotal == 2
    hits = memindex.MemoryIndex(reopened).search("second words", k=1, tiers=["speech"])
    assert hits[0].video_id == "b" * 16


def test_encoder_mismatch_is_refused(store: Store) -> None:
    with pytest.raises(EncoderMismatchError):
        Store(store.root, config=StoreConfig(text=TextEncoderConfig(name="minilm")))


def test_newer_schema_is_refused(store: Store) -> None:
    with sqlite3.connect(store.dir / "catalog.sqlite") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(SchemaError, match="newer"):
        Store(store.root)


def test_schema_head_constant_is_alembics_head() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from memindex.catalog import db

    cfg = Config()
    cfg.set_main_option("script_location", str(db._script_location()))
    assert ScriptDirectory.from_config(cfg).get_current_head() == db.SCHEMA_HEAD


def test_a_catalog_at_head_opens_without_alembic(store: Store) -> None:
    """Opening a store whose catalog is at head imports no Alembic; an older one still migrates."""
    code = (
        "import sys, memindex; from memindex.store import Store; "
        f"Store({str(store.root)!r}); print('alembic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False"]
    with sqlite3.connect(store.dir / "catalog.sqlite") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0005'")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True"]
    with sqlite3.connect(store.dir / "catalog.sqlite") as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("0006",)


def test_collections_are_isolated(tmp_path, light_config) -> None:
    a = Store(tmp_path / "s", config=light_config, collection="alice")
    b = Store(tmp_path / "s", config=light_config, collection="bob")
    _add_video(a, "a" * 16, [(0, 5, "secret plans")])
    assert memindex.MemoryIndex(b).search("secret plans", tiers=["speech"]) == []
    assert len(memindex.MemoryIndex(a).search("secret plans", tiers=["speech"])) == 1


def test_vectors_round_trip_through_the_tier_file(store: Store) -> None:
    _add_video(store, "a" * 16, [(0, 5, "one"), (5, 9, "two")])
    tier = Store(store.root).tier("speech")
    assert sorted(tier.ids().tolist()) == sorted(store.tier("speech").ids().tolist())
    q = store.text_embedder.embed(["two"])[0]
    scores, ids = tier.search(q, 1)
    assert np.isclose(scores[0], 1.0, atol=1e-5)


def test_tier_moves_to_ivf_as_it_grows(store: Store, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import memindex.tiers as tiers

    monkeypatch.setattr(tiers, "FLAT_MAX", 300)
    texts = [(i, i + 1, f"sentence {i} about topic {i % 17}") for i in range(200)]
    _add_video(store, "a" * 16, texts)
    assert store.tier("speech").factory == "Flat"
    _add_video(store, "b" * 16, texts)  # 400 vectors: past the (lowered) exact-search limit
    tier = store.tier("speech")
    assert tier.factory.startswith("IVF") and tier.ntotal == 400
    reopened = Store(store.root, config=store.config).tier("speech")
    assert reopened.factory.startswith("IVF") and reopened.ntotal == 400
    hits = memindex.MemoryIndex(store).search("sentence 123 about topic 4", k=3, tiers=["speech"])
    assert hits[0].text == "sentence 123 about topic 4"
