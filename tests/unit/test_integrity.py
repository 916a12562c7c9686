"""What the store holds stays exactly what was written: ids never reused, tier files checked against the
catalog (checksum, catalog id, content), lost or damaged catalogs and configs refused, read-only stores
readable, literal video references, clean-up of a crashed writer's leftovers, and ``memindex check``."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import memindex
from memindex import faults
from memindex.catalog.models import Video
from memindex.errors import (
    ConfigError,
    CorruptStoreError,
    NotFoundError,
    QueryError,
    ReadOnlyStoreError,
    StoreFullError,
)
from memindex.store import Store
from tests.helpers import run_cli
from tests.unit.test_store import _add_video

A, B, C = "a" * 16, "b" * 16, "c" * 16


@pytest.fixture()
def store(tmp_path, light_config) -> Store:
    return Store(tmp_path / "s", config=light_config)


@pytest.fixture(autouse=True)
def _disarm():  # type: ignore[no-untyped-def]
    yield
    faults.arm("")


def _speech_ids(store: Store, vid: str) -> list[int]:
    from sqlalchemy import select

    from memindex.catalog.models import Doc

    with store.Session() as s:
        return list(s.scalars(select(Doc.id).where(Doc.video_id == vid)).all())


def _fail_next_tier_save(store: Store) -> None:
    """Arm an I/O error at the next tier rename: the catalog commits, the tier file stays behind."""
    trace = store.dir / "trace.txt"
    faults.arm(f"trace:{trace}")
    _add_video(store, C, [(0, 1, "probe")])
    names = trace.read_text().split()
    store.delete_video(C)
    faults.arm(f"eio:{names.index('tier.replace') + 1}")


def test_crashed_delete_never_crosses_vectors(store: Store, tmp_path) -> None:
    _add_video(store, A, [(0, 5, "the deleted video talked about submarines")])
    before = _speech_ids(store, A)
    _fail_next_tier_save(store)
    with pytest.raises(StoreFullError):
        store.delete_video(A)  # committed; the tier file still holds A's vectors
    faults.arm("")
    store.close()
    reopened = Store(tmp_path / "s")
    _add_video(reopened, B, [(0, 5, "a new video about gardening")])
    assert not set(_speech_ids(reopened, B)) & set(before), "a deleted doc's id was reused"
    hits = memindex.MemoryIndex(reopened).search("submarines", k=5, tiers=["speech"])
    assert all("submarines" not in h.text for h in hits)
    assert all(h.score < 0.5 for h in hits), "a stale vector was served for a new doc"
    assert memindex.MemoryIndex(reopened).check()["ok"]


def test_reconcile_replaces_a_vector_whose_content_differs(store: Store) -> None:
    _add_video(store, A, [(0, 5, "alpha"), (5, 9, "beta")])
    tier = store.tier("speech")
    ids = tier.ids()
    tier.remove(ids[:1])
    tier.add(ids[:1], np.ones((1, tier.dim), np.float32))  # same id, other content
    tier.generation = -1  # lagging: the next load reconciles
    tier.save(0)
    store._tiers.clear()
    fixed = store.tier("speech")
    from memindex.integrity import _catalog_tier

    with store.Session() as s:
        want_ids, want = _catalog_tier(s, "speech")
    assert np.array_equal(fixed.vectors(want_ids), want)


@pytest.mark.parametrize("damage", ["empty", "truncated", "flipped", "garbage"])
def test_damaged_tier_file_is_rebuilt_from_the_catalog(tmp_path, light_config, damage, caplog) -> None:
    store = Store(tmp_path / "s", config=light_config)
    _add_video(store, A, [(0, 5, "the committee approved budget 4471"), (5, 9, "weather report")])
    store.close()
    path = tmp_path / "s" / "collections" / "default" / "tiers" / "speech.faiss"
    raw = bytearray(path.read_bytes())
    if damage == "empty":
        raw = bytearray()
    elif damage == "truncated":
        raw = raw[: len(raw) // 2]
    elif damage == "flipped":
        raw[-20] ^= 0xFF
    else:
        raw[:8] = b"NOTATIER"
    path.write_bytes(bytes(raw))
    index = memindex.open(tmp_path / "s")
    found = index.check()
    assert not found["ok"] and found["problems"][0]["kind"] == "tier", found
    with caplog.at_level(logging.WARNING, logger="memindex.store"):
        hits = index.search("budget approved by the committee", k=2, tiers=["speech"])
    assert hits and "4471" in hits[0].text
    assert sum("rebuilding it from the catalog" in r.getMessage() for r in caplog.records) == 1
    assert index.check()["ok"]  # the search rebuilt and saved the tier


def test_tier_from_another_catalog_is_not_trusted(tmp_path, light_config) -> None:
    one = Store(tmp_path / "one", config=light_config)
    _add_video(one, A, [(0, 5, "first store text")])
    two = Store(tmp_path / "two", config=light_config)
    _add_video(two, B, [(0, 5, "second store text")])
    one.close(), two.close()
    tiers = Path("collections/default/tiers/speech.faiss")
    (tmp_path / "two" / tiers).write_bytes((tmp_path / "one" / tiers).read_bytes())
    index = memindex.open(tmp_path / "two")
    assert not index.check()["ok"]
    assert [h.video_id for h in index.search("store text", tiers=["speech"])] == [B]


@pytest.mark.parametrize("state", ["missing", "empty"])
def test_lost_catalog_beside_tiers_is_refused(store: Store, tmp_path, state) -> None:
    _add_video(store, A, [(0, 5, "hello")])
    store.close()
    catalog = tmp_path / "s" / "collections" / "default" / "catalog.sqlite"
    for extra in catalog.parent.glob("catalog.sqlite-*"):
        extra.unlink()
    catalog.unlink() if state == "missing" else catalog.write_bytes(b"")
    with pytest.raises(CorruptStoreError, match="catalog.sqlite") as err:
        Store(tmp_path / "s")
    assert "lost" in str(err.value)
    run = run_cli("stats", "--store", str(tmp_path / "s"))
    assert run.returncode == 2 and "catalog.sqlite" in run.stderr and "Traceback" not in run.stderr


def test_corrupt_catalog_and_config_name_the_file(store: Store, tmp_path) -> None:
    _add_video(store, A, [(0, 5, "hello")])
    store.close()
    folder = tmp_path / "s" / "collections" / "default"
    config = folder / "config.json"
    saved = config.read_text()
    config.write_text("{not json")
    with pytest.raises(CorruptStoreError, match="config.json"):
        Store(tmp_path / "s")
    config.write_text(saved)
    for extra in folder.glob("catalog.sqlite-*"):
        extra.unlink()
    (folder / "catalog.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(CorruptStoreError, match="catalog.sqlite"):
        Store(tmp_path / "s")
    run = run_cli("videos", "--store", str(tmp_path / "s"))
    assert run.returncode == 2 and "catalog.sqlite" in run.stderr and "Traceback" not in run.stderr


@contextlib.contextmanager
def _tmpfs(path: Path, size: str = "8m"):  # type: ignore[no-untyped-def]
    path.mkdir(parents=True, exist_ok=True)
    if (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
        ).returncode
        != 0
    ):
        pytest.skip("this machine cannot mount a tmpfs (not root, or no mount namespace)")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_store_on_a_read_only_mount_is_readable(tmp_path, light_config) -> None:
    with _tmpfs(tmp_path / "mnt") as mnt:
        store = Store(mnt / "s", config=light_config)
        _add_video(store, A, [(0, 5, "read only media still answers")])
        store.close()
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        index = memindex.open(mnt / "s")
        assert index.store.read_only
        assert index.search("read only media", k=1, tiers=["speech"])[0].video_id == A
        assert index.videos()[0]["id"] == A and index.check()["ok"]
        with pytest.raises(ReadOnlyStoreError):
            index.delete_video(A)
        run = run_cli("delete", A, "--store", str(mnt / "s"))
        assert run.returncode == 2 and "read-only" in run.stderr and "Traceback" not in run.stderr


def test_read_only_flag_refuses_writes(store: Store, tmp_path) -> None:
    _add_video(store, A, [(0, 5, "hello there")])
    store.close()
    ro = Store(tmp_path / "s", read_only=True)
    assert ro.tier("speech").ntotal == 1
    with pytest.raises(ReadOnlyStoreError):
        _add_video(ro, B, [(0, 1, "x")])


def test_disk_full_while_committing_is_a_store_fault(tmp_path, light_config) -> None:
    with _tmpfs(tmp_path / "mnt", size="600k") as mnt:
        store = Store(mnt / "s", config=light_config)
        _add_video(store, A, [(0, 5, "kept")])
        with pytest.raises(StoreFullError, match="cannot be written"):
            for i in range(400):
                _add_video(store, f"{i:016x}", [(0, 5, "filler text " * 50)] * 20)
        store.close()
        for big in mnt.rglob("*.tmp"):
            big.unlink()
        index = memindex.open(mnt / "s")
        assert index.search("kept", k=1, tiers=["speech"])[0].video_id == A


@pytest.mark.parametrize("ref", ["%", "_", "%phone%", "a%", "%.mp4", "a_a"])
def test_video_references_are_literal(store: Store, ref: str) -> None:
    _add_video(store, A, [(0, 5, "phone call")])
    index = memindex.MemoryIndex(store)
    with pytest.raises(NotFoundError):
        index.delete_video(ref)
    assert [v["id"] for v in index.videos()] == [A]


def test_ambiguous_reference_is_refused_and_delete_names_what_it_deleted(store: Store, tmp_path) -> None:
    _add_video(store, "ab" + "0" * 14, [(0, 5, "one")])
    _add_video(store, "ab" + "1" * 14, [(0, 5, "two")])
    index = memindex.MemoryIndex(store)
    with pytest.raises(QueryError, match="matches 2 videos"):
        index.delete_video("ab")
    run = run_cli("delete", "ab1", "--store", str(tmp_path / "s"))
    assert run.returncode == 0 and "deleted ab11111111111111 (ab11111111111111.mp4)" in run.stderr
    run = run_cli("delete", "ab0", "--store", str(tmp_path / "s"), "--json")
    assert json.loads(run.stdout)["deleted"][0]["id"] == "ab" + "0" * 14


def test_shared_sqlite_catalog_is_refused_for_another_collection(tmp_path, light_config) -> None:
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    one = Store(tmp_path / "s", config=light_config, collection="one", catalog_url=url)
    _add_video(one, A, [(0, 5, "hello")])
    one.close()
    with pytest.raises(ConfigError, match="belongs to collection 'one'"):
        Store(tmp_path / "s", config=light_config, collection="two", catalog_url=url)


def test_open_refuses_empty_and_file_paths(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="no store path"):
        memindex.open("")
    assert not any(tmp_path.iterdir()), "a store was created in the working directory"
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        memindex.open(tmp_path / "file.txt")


def test_bad_spans_and_frame_counts_are_refused(store: Store) -> None:
    _add_video(store, A, [(0, 5, "hello")])
    index = memindex.MemoryIndex(store)
    for bad in (float("nan"), float("-inf")):
        with pytest.raises(QueryError):
            index.transcript(A, start=bad)
    with pytest.raises(QueryError):
        index.transcript(A, start=5, end=1)
    assert index.transcript(A, start=0, end=float("inf"))  # open-ended
    for n in (0, -3):
        with pytest.raises(QueryError, match="positive"):
            index.frames(A, n=n)
    with pytest.raises(QueryError):
        index.search("hello", time_range=(float("nan"), 3))


def test_open_sweeps_a_crashed_writers_leftovers(store: Store, tmp_path) -> None:
    _add_video(store, A, [(0, 5, "hello")])
    store.media.put_jpeg(A, "000000001", np.zeros((4, 4, 3), np.uint8))
    with store.Session.begin() as s:
        s.get(Video, A).status = "ready"
    store.close()
    folder = tmp_path / "s" / "collections" / "default"
    (folder / "tiers" / "speech.faiss.tmp").write_bytes(b"half")
    (folder / "media" / ("d" * 16)).mkdir()  # a deleted video's keyframes
    (folder / "media" / A / "000000002.jpg.tmp").write_bytes(b"half")
    index = memindex.open(tmp_path / "s")
    assert not (folder / "tiers" / "speech.faiss.tmp").exists()
    assert not (folder / "media" / ("d" * 16)).exists()
    assert not (folder / "media" / A / "000000002.jpg.tmp").exists()
    assert (folder / "media" / A / "000000001.jpg").exists()
    assert index.check()["ok"]


def test_check_cli_reports_and_repairs(store: Store, tmp_path) -> None:
    _add_video(store, A, [(0, 5, "hello")])
    store.close()
    path = tmp_path / "s" / "collections" / "default" / "tiers" / "speech.faiss"
    path.write_bytes(path.read_bytes()[:-7])
    run = run_cli("check", "--store", str(tmp_path / "s"), "--json")
    assert run.returncode == 1 and json.loads(run.stdout)["problems"][0]["kind"] == "tier"
    run = run_cli("check", "--store", str(tmp_path / "s"), "--repair")
    assert run.returncode == 0, run.stderr
    assert run_cli("check", "--store", str(tmp_path / "s")).returncode == 0
    assert os.path.getsize(path) > 100
