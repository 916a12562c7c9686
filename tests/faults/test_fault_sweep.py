"""Fault injection at every commit point, the way SQLite tests itself.

Each write path (ingest, delete, rebuild) is first run with ``MEMINDEX_FAULTS=trace:FILE`` to enumerate its
commit points (memindex/faults.py). Then, for every point N, a fresh copy of the starting store gets the same
command with a SIGKILL at that point (``kill:N``, in a child process: the CLI as a user runs it) or an
injected disk-full error (``enospc:N``, in this process). After each fault the store is reopened and must be
consistent (catalog integrity, every FAISS vector equal to its catalog row, no id without a row, no row
without its vector, every finished video equal to a clean run's, ``memindex check`` clean); re-running the
command must end in exactly the state of an uninterrupted run. ``MEMINDEX_FAULT_REPORT=FILE`` collects the
counts that benchmarks/README.md records."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

import memindex
from memindex import faults
from memindex.errors import MemIndexError
from memindex.store import Store
from tests.media import Scene, make_video
from tests.snapshot import per_video, snapshot

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def _cli(store: Path, *args: str, fault: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "memindex.cli", *args, "--store", str(store)],
        env={**ENV, "MEMINDEX_FAULTS": fault},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _no_asr():  # type: ignore[no-untyped-def]
    from memindex.ingest.config import IngestConfig

    cfg = IngestConfig()
    return replace(cfg, asr=replace(cfg.asr, enabled=False))


class Op:
    """One write path: its CLI form (for kills) and its in-process form (for injected errors and re-runs)."""

    def __init__(self, name: str, argv: list[str], run: Callable[[memindex.MemoryIndex], object]) -> None:
        self.name, self.argv, self.run = name, argv, run

    def cli(self, store: Path, fault: str = "") -> subprocess.CompletedProcess[str]:
        return _cli(store, *self.argv, fault=fault)

    def inline(self, store: Path) -> None:
        with memindex.open(store) as index:
            self.run(index)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two small videos, an empty store, a store holding both after a clean ingest, and snapshots."""
    from memindex.config import FrameEncoderConfig, StoreConfig, TextEncoderConfig

    base = tmp_path_factory.mktemp("faults")
    one, two = base / "one", base / "two"
    one.mkdir(), two.mkdir()
    make_video(one / "v0.mp4", [Scene(1.0, 20), Scene(1.0, 100, "CLIP 0"), Scene(1.0, 160)], size=(320, 180))
    make_video(two / "v1.mp4", [Scene(1.0, 200, "SECOND"), Scene(1.5, 60)], size=(320, 180))
    empty = base / "empty"
    Store(
        empty, config=StoreConfig(text=TextEncoderConfig(name="hashing"), frame=FrameEncoderConfig(enabled=False))
    ).close()
    solo, full = base / "solo", base / "full"
    for path, folders in ((solo, [one]), (full, [one, two])):
        shutil.copytree(empty, path)
        with memindex.open(path) as index:
            report = index.ingest(folders, config=_no_asr())
            assert not report.failed, report.failed
    with memindex.open(full) as index:
        ids = {Path(v["uri"]).name: v["id"] for v in index.videos()}
    return {
        "base": base,
        "one": one,
        "empty": empty,
        "solo": solo,
        "full": full,
        "target": ids["v0.mp4"],
        "other": ids["v1.mp4"],
        "clean_solo": _snapshot(solo),
        "clean_full": _snapshot(full),
    }


def _snapshot(path: Path) -> dict:
    with memindex.open(path) as index:
        return snapshot(index.store)


def _points(world: dict, start: Path, op: Op) -> list[str]:
    work, trace = world["base"] / "trace", world["base"] / "trace.txt"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(start, work)
    trace.unlink(missing_ok=True)
    run = op.cli(work, f"trace:{trace}")
    assert run.returncode == 0, run.stderr[-3000:]
    shutil.rmtree(work)
    return trace.read_text().split()


def _fault(work: Path, op: Op, mode: str, n: int) -> None:
    if mode == "kill":
        run = op.cli(work, f"kill:{n}")
        assert run.returncode == -9, (run.returncode, run.stderr[-3000:])
        return
    faults.arm(f"enospc:{n}")
    try:
        op.inline(work)  # a per-file failure is reported; a store-wide one raises a memindex error
    except MemIndexError as exc:
        assert "No space left" in str(exc) or "cannot be written" in str(exc), exc
    finally:
        faults.arm("")


def _reopened_sound(work: Path, clean: dict) -> dict:
    """After a fault: every video the store calls ready equals the clean run's, tiers equal the catalog."""
    with memindex.open(work) as index:
        snap = snapshot(index.store)  # asserts FAISS == catalog, id for id and byte for byte
        for video in index.videos():
            if video["status"] == "ready":
                assert per_video(snap, video["id"]) == per_video(clean, video["id"]), video["uri"]
        index.store.collect_garbage()
        report = index.check()
        assert report["ok"], report
    return snap


def _sweep(
    world: dict, start: Path, op: Op, mode: str, want: dict, after: Callable[[dict], None] = lambda snap: None
) -> int:
    points = _points(world, start, op)
    assert points, "no commit points were reached"
    for n, where in enumerate(points, 1):
        work = world["base"] / f"{op.name}-{mode}-{n}"
        shutil.copytree(start, work)
        _fault(work, op, mode, n)
        after(_reopened_sound(work, world["clean_full"]))
        op.inline(work)
        assert _snapshot(work) == want, f"a re-run after a {mode} at {where} (#{n}) differs from a clean run"
        shutil.rmtree(work)
    _record(op.name, mode, points)
    return len(points)


def _record(name: str, mode: str, points: list[str]) -> None:
    out = os.environ.get("MEMINDEX_FAULT_REPORT")
    if out:
        with open(out, "a") as fh:
            fh.write(
                json.dumps(
                    {
                        "command": name,
                        "fault": mode,
                        "points": len(points),
                        "survived": len(points),
                        "kinds": sorted(set(points)),
                    }
                )
                + "\n"
            )


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["kill", "enospc"])
def test_ingest_survives_a_fault_at_every_commit_point(world: dict, mode: str) -> None:
    op = Op(
        "ingest",
        ["ingest", str(world["one"]), "--no-asr", "--quiet"],
        lambda index: index.ingest([world["one"]], config=_no_asr()),
    )
    assert _sweep(world, world["empty"], op, mode, world["clean_solo"]) >= 20


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["kill", "enospc"])
def test_delete_survives_a_fault_at_every_commit_point(world: dict, mode: str) -> None:
    target, other = world["target"], world["other"]

    def delete(index: memindex.MemoryIndex) -> None:
        if any(v["id"] == target for v in index.videos()):
            index.delete_video(target)

    def other_untouched(snap: dict) -> None:
        assert per_video(snap, other) == per_video(world["clean_full"], other), "the other video changed"

    op = Op("delete", ["delete", target], delete)
    points = _sweep_delete(world, op, mode, other_untouched)
    assert points >= 3


def _sweep_delete(world: dict, op: Op, mode: str, after: Callable[[dict], None]) -> int:
    target = world["target"]
    points = _points(world, world["full"], op)
    for n, where in enumerate(points, 1):
        work = world["base"] / f"delete-{mode}-{n}"
        shutil.copytree(world["full"], work)
        _fault(work, op, mode, n)
        after(_reopened_sound(work, world["clean_full"]))
        op.inline(work)
        final = _snapshot(work)
        after(final)
        assert not any(target in str(row) for tables in final.values() for rows in tables.values() for row in rows), (
            f"rows of the deleted video remain after a {mode} at {where}"
        )
        assert not any(target in p.name for p in (work / "collections").rglob("*")), "media of the deleted video"
        shutil.rmtree(work)
    _record("delete", mode, points)
    return len(points)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["kill", "enospc"])
def test_rebuild_survives_a_fault_at_every_commit_point(world: dict, mode: str) -> None:
    op = Op("rebuild", ["rebuild", "--stage", "events"], lambda index: index.rebuild("events"))
    assert _sweep(world, world["full"], op, mode, world["clean_full"]) >= 2
