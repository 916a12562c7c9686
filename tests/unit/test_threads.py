"""numpy's BLAS thread count is held while ingest computes what it stores (``ingest/work.py``) and while a
query embeds (``encoders/bert.py``), through one process-wide hold that overlapping holders share."""

from __future__ import annotations

import os

import pytest

from memindex.encoders.base import limit_blas_threads

threadpoolctl = pytest.importorskip("threadpoolctl")


def _blas() -> list[int]:
    return [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]


@pytest.fixture
def two_threads():  # type: ignore[no-untyped-def]
    """The process's own count at 2 (as OpenBLAS picks on this 2-core machine), whatever the host has."""
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        assert _blas() and set(_blas()) == {2}
        yield


def test_the_count_is_held_inside_and_given_back_after(two_threads) -> None:  # type: ignore[no-untyped-def]
    with limit_blas_threads(1, rescan=True):  # every BLAS loaded by now (numpy's; scipy's, faiss's in a full run)
        assert set(_blas()) == {1}
    assert set(_blas()) == {2}
    with limit_blas_threads(None):
        assert set(_blas()) == {2}


def test_one_holder_leaving_never_changes_the_count_under_another(two_threads) -> None:  # type: ignore[no-untyped-def]
    """A query's hold that began before an ingest's and ends during it: the ingest keeps 1 thread (a plain
    save-and-restore would give it back the process's 2 mid-video)."""
    query, ingest = limit_blas_threads(1), limit_blas_threads(1, rescan=True)
    query.__enter__()
    ingest.__enter__()
    query.__exit__(None, None, None)
    assert set(_blas()) == {1}
    ingest.__exit__(None, None, None)
    assert set(_blas()) == {2}


HOLDERS = """
import logging, threading, threadpoolctl
logging.basicConfig()
from memindex.encoders.base import limit_blas_threads
def blas(): return {l["num_threads"] for l in threadpoolctl.threadpool_info() if l["user_api"] == "blas"}
own, seen, barrier = blas(), [], threading.Barrier(8)
def hold():
    with limit_blas_threads(1):
        barrier.wait(timeout=10)
        seen.append(blas())
workers = [threading.Thread(target=hold) for _ in range(8)]
for w in workers: w.start()
for w in workers: w.join()
assert seen == [{1}] * 8 and blas() == own, (seen, blas(), own)
with threadpoolctl.threadpool_limits(2, user_api="blas"):  # the main thread sets a count ...
    t = threading.Thread(target=hold)  # ... and OpenBLAS ignores one set from another thread after that
    barrier = threading.Barrier(1)
    t.start(); t.join()
print("ignored", seen[-1])
import scipy.linalg  # another OpenBLAS, loaded after the first look
with limit_blas_threads(1, rescan=True):
    print("rescanned", sorted(blas()))
print("after", sorted(blas()))
"""


def test_holders_on_many_threads_and_openblas_ignoring_other_threads() -> None:
    """In a fresh process (OpenBLAS's state sticks): eight threads hold 1 at once and the process's count comes
    back after; once the main thread has set a count, OpenBLAS ignores a set from another thread, and the hold
    says so in a warning instead of pretending; a BLAS loaded later (scipy's) is held once looked for again."""
    import subprocess
    import sys

    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2"}
    run = subprocess.run([sys.executable, "-c", HOLDERS], capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 0, run.stderr
    assert "ignored {2}" in run.stdout
    assert "rescanned [1]" in run.stdout and "after [2]" in run.stdout, run.stdout
    assert "OpenBLAS ignores a new count from a thread other than the main one" in run.stderr


def test_analysis_holds_one_thread() -> None:
    from memindex.ingest.work import ANALYSIS_BLAS_THREADS, analysis_threads

    assert ANALYSIS_BLAS_THREADS == 1
    with analysis_threads():
        assert set(_blas()) == {1}
