"""SIGKILL the CLI at random moments during ingest and delete; the store must reopen consistent, keep all
committed work, and finish the interrupted work on a re-run without duplicates."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from memindex.store import Store
from tests.media import Scene, make_video
from tests.server.invariants import assert_no_trace, check_consistent, doc_ids

ROUNDS = int(os.environ.get("MEMINDEX_CRASH_ROUNDS", "5"))
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "memindex.cli", *args]


def _kill_after(cmd: list[str], delay: float) -> int | None:
    """Run ``cmd``; SIGKILL it after ``delay`` seconds unless it ended. Returns its exit code or None."""
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return None


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("crash-media")
    for i in range(3):
        make_video(
            folder / f"v{i}.mp4",
            [Scene(1.0, 20 + 40 * i), Scene(1.0, 100, f"CLIP {i}"), Scene(1.0, 160 - 30 * i)],
            size=(320, 180),
        )
    return folder


def _new_store(path: Path, light_config) -> Store:  # type: ignore[no-untyped-def]
    Store(path, config=light_config).close()  # saves the config the CLI then reuses
    return Store(path)


def _timed(cmd: list[str]) -> float:
    t0 = time.monotonic()
    subprocess.run(cmd, env=ENV, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - t0


def test_sigkill_during_ingest(tmp_path, videos, light_config) -> None:
    reference = tmp_path / "reference"
    _new_store(reference, light_config).close()
    full = _timed(_cli("ingest", "--store", str(reference), "--no-asr", "--quiet", str(videos)))
    want = check_consistent(Store(reference))
    store_dir = tmp_path / "store"
    _new_store(store_dir, light_config).close()
    rng = random.Random(int(os.environ.get("MEMINDEX_CRASH_SEED", time.time())))
    killed = 0
    for _ in range(ROUNDS):
        rc = _kill_after(
            _cli("ingest", "--store", str(store_dir), "--no-asr", "--quiet", str(videos)), rng.uniform(0.1, 0.7) * full
        )
        killed += rc is None
        store = Store(store_dir)
        check_consistent(store)  # after every kill: whatever is ready is complete, tiers agree
        store.close()
        if rc is not None:  # it finished before the kill: start over, so the next
            shutil.rmtree(store_dir)  # round interrupts real work instead of a run of skips
            _new_store(store_dir, light_config).close()
    assert killed >= 1, "no run was interrupted; the delays are too long"
    assert (
        subprocess.run(
            _cli("ingest", "--store", str(store_dir), "--no-asr", "--quiet", str(videos)), env=ENV
        ).returncode
        == 0
    )
    got = check_consistent(Store(store_dir))
    assert got == want  # same rows per video as an uninterrupted ingest: nothing lost, nothing twice


def test_sigkill_during_delete(tmp_path, videos, light_config) -> None:
    store_dir = tmp_path / "store"
    _new_store(store_dir, light_config).close()
    subprocess.run(_cli("ingest", "--store", str(store_dir), "--no-asr", "--quiet", str(videos)), env=ENV, check=True)
    store = Store(store_dir)
    before = check_consistent(store)
    ids = {vid: doc_ids(store, vid) for vid in before}
    store.close()
    startup = _timed(_cli("stats", "--store", str(store_dir)))
    rng = random.Random(int(os.environ.get("MEMINDEX_CRASH_SEED", time.time())))
    for vid in before:
        for _ in range(ROUNDS):
            _kill_after(_cli("delete", "--store", str(store_dir), vid), rng.uniform(0.5 * startup, 1.6 * startup))
            store = Store(store_dir)
            store.collect_garbage()  # the recovery step `memindex serve` runs on start
            now = check_consistent(store)
            if vid in now:
                assert now[vid] == before[vid], "a half-deleted video"
            else:
                assert_no_trace(store, vid, ids[vid])
            store.close()
        subprocess.run(_cli("delete", "--store", str(store_dir), vid), env=ENV)  # finish (404 if done)
        store = Store(store_dir)
        store.collect_garbage()
        assert_no_trace(store, vid, ids[vid])
        store.close()
    assert check_consistent(Store(store_dir)) == {}
