"""One bad file never aborts a batch: symlink loops, fifos, EPERM, ENOSPC and errors of one file are reported
for that file and the next valid video is still ingested; only a fault of the store itself stops the batch
(with the report of what was done). Per-video claims keep two concurrent ingests from doing the work twice."""

from __future__ import annotations

import builtins
import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

import memindex
import memindex.ingest.pipeline as pipeline
import memindex.ingest.runner as runner
import memindex.ingest.visual_pass as visual_pass
from memindex.catalog.models import Segment
from memindex.cli import main
from memindex.errors import MediaError
from memindex.ingest.claims import claim
from memindex.ingest.config import AsrConfig, IngestConfig, OcrConfig
from memindex.media import MediaCache
from tests.helpers import run_cli
from tests.media import Scene, make_video

NO_MODELS = IngestConfig(asr=AsrConfig(enabled=False), ocr=OcrConfig(enabled=False))


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small valid video (two shots)."""
    path = tmp_path_factory.mktemp("clips") / "clip.mp4"
    make_video(path, [Scene(0.6, 20), Scene(0.6, 110)], size=(96, 64))
    return path


def _copy(src: Path, dst: Path, salt: bytes = b"") -> Path:
    """A copy of ``src``; ``salt`` appended gives it other content (another video id), still decodable."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(src.read_bytes() + salt)
    return dst


def _store(tmp_path: Path, light_config) -> Path:  # type: ignore[no-untyped-def]
    """A store made with the light config (no model downloads); the CLI reopens it with that config."""
    store = tmp_path / "store"
    memindex.open(store, config=light_config).close()
    return store


def _ingest(store: Path, *paths: Path) -> list[str]:
    return ["ingest", *map(str, paths), "--store", str(store), "--json", "--quiet", "--no-ocr", "--no-asr"]


def _names(entries: list[dict]) -> list[str]:
    return [Path(e["path"]).name for e in entries]


# -- per-file failures --------------------------------------------------------------------------------------
def test_symlink_loops_are_reported_once_and_the_batch_goes_on(tmp_path, clip, light_config, capsys) -> None:
    folder = tmp_path / "archive"
    folder.mkdir()
    (folder / "a_self.mp4").symlink_to("a_self.mp4")
    (folder / "b_ping.mp4").symlink_to("c_pong.mp4")
    (folder / "c_pong.mp4").symlink_to("b_ping.mp4")
    (folder / "d_gone.mp4").symlink_to("nowhere.mp4")
    _copy(clip, folder / "sub" / "z_good.mp4")
    (folder / "sub" / "up").symlink_to("..")  # a folder loop: not followed, the walk ends
    store = _store(tmp_path, light_config)
    assert main(_ingest(store, folder)) == 1
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert _names(report["ingested"]) == ["z_good.mp4"]
    failed = {Path(f["path"]).name: f for f in report["failed"]}
    assert sorted(failed) == ["a_self.mp4", "b_ping.mp4", "c_pong.mp4", "d_gone.mp4"]  # each once
    assert all("symlink loop" in failed[n]["error"] for n in ("a_self.mp4", "b_ping.mp4", "c_pong.mp4"))
    assert "broken symlink" in failed["d_gone.mp4"]["error"]
    assert {f["code"] for f in failed.values()} == {"media"} and report["stopped"] is None
    assert err.count("FAILED ") == 4 and "Traceback" not in err


def test_fifo_is_reported_and_never_opened(tmp_path, clip, light_config) -> None:
    folder = tmp_path / "archive"
    folder.mkdir()
    os.mkfifo(folder / "a_pipe.mp4")  # opening it for reading would block forever
    _copy(clip, folder / "b_good.mp4")
    store = _store(tmp_path, light_config)
    run = run_cli(*_ingest(store, folder, folder / "a_pipe.mp4"), timeout=120)
    assert run.returncode == 1, run.stderr
    report = json.loads(run.stdout)
    assert _names(report["ingested"]) == ["b_good.mp4"]
    pipe = str(folder / "a_pipe.mp4")
    assert [f["error"] for f in report["failed"]] == [f"not a regular file (a fifo) (file {pipe!r})"] * 2


def test_permission_error_on_one_file(tmp_path, clip, light_config, capsys, monkeypatch) -> None:
    locked = _copy(clip, tmp_path / "in" / "a_locked.mp4", b"\0locked")
    good = _copy(clip, tmp_path / "in" / "b_good.mp4")
    real_open = builtins.open

    def open_(file, *a, **k):  # type: ignore[no-untyped-def]
        if str(file) == str(locked):  # root ignores chmod 000: refuse it the way an immutable file is
            raise PermissionError(errno.EPERM, os.strerror(errno.EPERM), str(file))
        return real_open(file, *a, **k)

    monkeypatch.setattr(builtins, "open", open_)
    store = _store(tmp_path, light_config)
    assert main(_ingest(store, locked, good)) == 1
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert _names(report["ingested"]) == ["b_good.mp4"]
    [fail] = report["failed"]
    assert fail["code"] == "media" and "Operation not permitted" in fail["error"] and "a_locked.mp4" in fail["error"]
    assert f"FAILED {locked}: " in err and "Traceback" not in err


def test_disk_full_writing_keyframes_fails_that_video_only(tmp_path, clip, light_config, capsys, monkeypatch) -> None:
    full = _copy(clip, tmp_path / "in" / "a_full.mp4", b"\0full")
    good = _copy(clip, tmp_path / "in" / "b_good.mp4")
    full_id = pipeline.video_id_for(full)[0]
    real_put = MediaCache.put_jpeg

    def put_jpeg(self, video_id, name, image, quality=85):  # type: ignore[no-untyped-def]
        if video_id == full_id:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.root / video_id / f"{name}.jpg.tmp"))
        return real_put(self, video_id, name, image, quality)

    monkeypatch.setattr(MediaCache, "put_jpeg", put_jpeg)
    store = _store(tmp_path, light_config)
    assert main(_ingest(store, full, good)) == 1
    report = json.loads(capsys.readouterr().out)
    assert _names(report["ingested"]) == ["b_good.mp4"] and report["stopped"] is None
    [fail] = report["failed"]
    assert fail["video_id"] == full_id and fail["code"] == "store" and "No space left on device" in fail["error"]
    index = memindex.open(store)
    assert {v["id"]: v["status"] for v in index.videos()}[full_id] == "failed"
    monkeypatch.setattr(MediaCache, "put_jpeg", real_put)  # space again: a re-run finishes it
    again = index.ingest([full], config=NO_MODELS)
    assert _names(again.ingested) == ["a_full.mp4"] and {v["status"] for v in index.videos()} == {"ready"}


def test_memindex_error_keeps_its_message(tmp_path, clip, light_config, monkeypatch) -> None:
    bad = _copy(clip, tmp_path / "in" / "a_bad.mp4", b"\0bad")
    good = _copy(clip, tmp_path / "in" / "b_good.mp4")
    real_probe = runner.probe

    def probe(path):  # type: ignore[no-untyped-def]
        if Path(path) == bad:
            raise MediaError("moov atom not found")  # raised without the path: the report adds it
        return real_probe(path)

    monkeypatch.setattr(runner, "probe", probe)
    index = memindex.open(tmp_path / "store", config=light_config)
    report = index.ingest([bad, good], config=NO_MODELS)
    assert [f["code"] for f in report.failed] == ["media"]
    assert report.failed[0]["error"] == f"moov atom not found (file {str(bad)!r})"
    assert _names(report.ingested) == ["b_good.mp4"]


def test_unexpected_exception_is_that_files_failure(tmp_path, clip, light_config, monkeypatch) -> None:
    bad = _copy(clip, tmp_path / "in" / "a_bad.mp4", b"\0bad")
    good = _copy(clip, tmp_path / "in" / "b_good.mp4")
    real = visual_pass.run_visual_pass

    def visual(info, *a, **k):  # type: ignore[no-untyped-def]
        if Path(info.path) == bad:
            raise ValueError("a library bug")
        return real(info, *a, **k)

    monkeypatch.setattr(visual_pass, "run_visual_pass", visual)
    index = memindex.open(tmp_path / "store", config=light_config)
    report = index.ingest([bad, good], config=NO_MODELS)
    [fail] = report.failed
    assert fail["code"] == "stage" and "unexpected ValueError: a library bug" in fail["error"]
    assert _names(report.ingested) == ["b_good.mp4"]


def test_keyboard_interrupt_stops_the_batch(tmp_path, clip, light_config, capsys, monkeypatch) -> None:
    first = _copy(clip, tmp_path / "in" / "a.mp4", b"\0a")
    second = _copy(clip, tmp_path / "in" / "b.mp4")
    real = visual_pass.run_visual_pass

    def visual(*a, **k):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    monkeypatch.setattr(visual_pass, "run_visual_pass", visual)
    store = _store(tmp_path, light_config)
    assert main(_ingest(store, first, second)) == 130
    assert "interrupted" in capsys.readouterr().err
    index = memindex.open(store)
    assert [v["status"] for v in index.videos()] == ["ingesting"]  # the second was never tried
    assert not list((index.store.dir / "claims").iterdir())  # the claim went with the interrupted ingest
    monkeypatch.setattr(visual_pass, "run_visual_pass", real)
    assert index.ingest([first, second], config=NO_MODELS).ok


# -- store-wide faults --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("pragma", "cause"), [("max_page_count = 1", "full"), ("query_only = ON", "readonly")])
def test_store_fault_stops_the_batch_and_reports_what_was_done(
    tmp_path, clip, light_config, capsys, monkeypatch, pragma, cause
) -> None:
    """The catalog fills up (SQLite's own disk-full error) or turns read-only while the second video commits."""
    done, hit, left = (_copy(clip, tmp_path / "in" / f"{n}.mp4", n.encode()) for n in ("a", "b", "c"))
    hit_id = pipeline.video_id_for(hit)[0]
    real = runner.commit_group

    def commit_visual(store, video_id, *a, **k):  # type: ignore[no-untyped-def]
        if video_id == hit_id:
            event.listen(store.engine, "connect", lambda conn, _rec: conn.execute(f"PRAGMA {pragma}"))
            store.engine.dispose()  # every new connection now sees a full (or read-only) catalog
        return real(store, video_id, *a, **k)

    monkeypatch.setattr(runner, "commit_group", commit_visual)
    store = _store(tmp_path, light_config)
    assert main(_ingest(store, done, hit, left)) == 2
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert _names(report["ingested"]) == ["a.mp4"] and _names(report["failed"]) == ["b.mp4"]
    assert report["stopped"]["not_tried"] == 1 and report["stopped"]["store"] == str(store.resolve())
    assert report["failed"][0]["code"].startswith(("store", "read_only")) and report["skipped"] == []
    [line] = err.strip().splitlines()
    assert line.startswith(f"error [{report['stopped']['code']}]") and str(store.resolve()) in line
    assert cause in line.replace(" ", "").lower() and "1 file(s) not tried" in line


# -- per-video claims ---------------------------------------------------------------------------------------
def test_a_video_claimed_by_another_process_is_skipped(tmp_path, clip, light_config) -> None:
    store = _store(tmp_path, light_config)
    index = memindex.open(store)
    vid = pipeline.video_id_for(clip)[0]
    with claim(index.store.dir / "claims", vid) as mine:
        assert mine
        run = run_cli(*_ingest(store, clip), timeout=120)  # another process
        assert run.returncode == 0, run.stderr
        [skip] = json.loads(run.stdout)["skipped"]
        assert skip["reason"] == f"being ingested by process {os.getpid()}"
        assert "SKIPPED" in run.stderr and "being ingested" in run.stderr
        other = memindex.open(store).ingest([clip], config=NO_MODELS)  # another MemoryIndex, same process
        assert other.skipped[0]["reason"].startswith("being ingested") and not other.ingested
        assert index.videos() == []
    assert _names(index.ingest([clip], config=NO_MODELS).ingested) == ["clip.mp4"]
    assert not list((index.store.dir / "claims").iterdir())


def test_a_claim_left_by_a_killed_process_does_not_block(tmp_path, clip, light_config) -> None:
    store = _store(tmp_path, light_config)
    index = memindex.open(store)
    vid = pipeline.video_id_for(clip)[0]
    folder = index.store.dir / "claims"
    code = (
        "import sys, time; from pathlib import Path; from memindex.ingest.claims import claim\n"
        "with claim(Path(sys.argv[1]), sys.argv[2]) as mine:\n"
        "    print(mine, flush=True); time.sleep(600)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, str(folder), vid], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "True"
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(30)
    finally:
        holder.kill()
    assert (folder / f"{vid}.lock").exists()  # the file stays; its lock died with the process
    assert _names(index.ingest([clip], config=NO_MODELS).ingested) == ["clip.mp4"]


def test_two_concurrent_ingests_do_the_work_once(tmp_path, light_config) -> None:
    video = tmp_path / "shared.mp4"
    make_video(video, [Scene(1.5, 10), Scene(1.5, 70), Scene(1.5, 140)], size=(160, 96))
    store = _store(tmp_path, light_config)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "memindex.cli", *_ingest(store, video)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    reports = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        reports.append(json.loads(out))
    assert sorted(len(r["ingested"]) for r in reports) == [0, 1]
    assert sorted(len(r["skipped"]) for r in reports) == [0, 1]
    index = memindex.open(store)
    with index.store.Session() as s:
        shots = s.scalar(select(func.count(Segment.id)).where(Segment.level == "shot"))
    assert len(index.videos()) == 1 and shots == 3  # not twice


def test_unwritable_store_files_stop_the_batch(tmp_path, clip, light_config, capsys, monkeypatch) -> None:
    """The store's own files (here its claim locks) on a read-only file system: a store-wide fault."""
    first, second = (_copy(clip, tmp_path / "in" / f"{n}.mp4", n.encode()) for n in ("a", "b"))
    store = _store(tmp_path, light_config)
    claims = str(memindex.open(store).store.dir / "claims")
    real_open = os.open

    def os_open(path, *a, **k):  # type: ignore[no-untyped-def]
        if str(path).startswith(claims):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, *a, **k)

    monkeypatch.setattr(os, "open", os_open)
    assert main(_ingest(store, first, second)) == 2
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["stopped"]["code"] == "read_only" and report["stopped"]["not_tried"] == 1
    assert _names(report["failed"]) == ["a.mp4"] and "Read-only file system" in err


@pytest.mark.parametrize("stage", ["semantic", "speech"])
def test_store_fault_inside_a_stage_stops_the_batch(tmp_path, light_config, monkeypatch, stage) -> None:
    """Stages record their own failures and go on, but not a failure of the store: that stops the batch."""
    from memindex.errors import StoreFullError

    paths = [tmp_path / f"{n}.mp4" for n in ("a", "b")]
    for i, p in enumerate(paths):
        make_video(p, [Scene(0.6, 40 + 60 * i)], size=(96, 64), tone_hz=440.0)

    def full(*_a, **_k):  # type: ignore[no-untyped-def]
        raise StoreFullError("the catalog cannot be written: database or disk is full", path=str(tmp_path))

    if stage == "semantic":
        monkeypatch.setattr("memindex.ingest.semantic.consolidate", full)
    else:
        monkeypatch.setattr(
            "memindex.ingest.speech.SpeechStage.produce", lambda self, job: object()
        )  # no models needed
        monkeypatch.setattr("memindex.ingest.speech.SpeechStage.commit", full)
    index = memindex.open(tmp_path / "store", config=light_config)
    cfg = IngestConfig(asr=AsrConfig(enabled=stage == "speech"), ocr=OcrConfig(enabled=False))
    report = index.ingest(paths, config=cfg)
    assert report.stopped is not None and report.stopped["code"] == "store_full" and report.stopped["not_tried"] == 1
    assert _names(report.failed) == ["a.mp4"] and not report.ingested
