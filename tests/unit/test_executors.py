"""The declared pipeline and its executors on generated videos: inline and local worker processes give the
same index (catalog rows and tier contents, ids aside), commits follow input order whatever finishes first,
a worker's failure or death is that video's failure, a killed driver resumes, stage options are checked
and saved. Ray is tested in tests/e2e/test_executors_real.py (it needs a head, see .ci/run)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

import memindex
from memindex.catalog.models import Doc
from memindex.cli import main
from memindex.cli_progress import BatchTally
from memindex.errors import ConfigError, StageError
from memindex.ingest import stages
from memindex.ingest.config import AsrConfig, IngestConfig, OcrConfig
from memindex.ingest.decode import probe
from memindex.ingest.executors import EXECUTORS, ExecutorSettings, LocalExecutor, make_executor
from memindex.ingest.pipeline import Ingester
from memindex.ingest.runner import video_id_for
from memindex.ingest.work import Models, Outcome, VideoTask
from memindex.progress import ProgressEvent
from tests.media import Scene, make_video
from tests.snapshot import snapshot

NO_MODELS = IngestConfig(asr=AsrConfig(enabled=False), ocr=OcrConfig(enabled=False))
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three videos, the longest first (so a second worker finishes before the first), and a broken one."""
    folder = tmp_path_factory.mktemp("videos")
    make_video(folder / "a_long.mp4", [Scene(3.0, 20), Scene(3.0, 100, "HELLO"), Scene(3.0, 160)], size=(160, 96))
    make_video(folder / "b_short.mp4", [Scene(0.8, 60), Scene(0.8, 130)], size=(160, 96))
    make_video(folder / "c_mid.mp4", [Scene(1.5, 90), Scene(1.5, 10)], size=(160, 96))
    whole = _faststart(folder / "a_long.mp4", tmp_path_factory.mktemp("whole") / "d.mp4").read_bytes()
    (folder / "d_truncated.mp4").write_bytes(whole[: len(whole) * 6 // 10])  # probes fine, decoding stops early
    return folder


def _faststart(src: Path, dst: Path) -> Path:
    """``src`` remuxed with its index first, so a truncated copy still probes (its frames are what is cut)."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    return dst


def _ingest(path: Path, light_config, folder: Path, **options):  # type: ignore[no-untyped-def]
    with memindex.open(path, config=light_config) as index:
        events: list[ProgressEvent] = []
        report = index.ingest([folder], config=NO_MODELS, progress=events.append, **options)
        return report, snapshot(index.store), _doc_ids(index.store), events


def _doc_ids(store) -> dict[str, list[int]]:  # type: ignore[no-untyped-def]
    with store.Session() as s:
        rows = s.execute(select(Doc.video_id, Doc.id).order_by(Doc.id)).all()
    out: dict[str, list[int]] = {}
    for vid, doc in rows:
        out.setdefault(vid, []).append(doc)
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, folder: Path) -> dict:
    from memindex.config import FrameEncoderConfig, StoreConfig, TextEncoderConfig

    light = StoreConfig(text=TextEncoderConfig(name="hashing"), frame=FrameEncoderConfig(enabled=False))
    base = tmp_path_factory.mktemp("stores")
    return {
        "inline": _ingest(base / "inline", light, folder),
        "local": _ingest(base / "local", light, folder, workers=2),
    }


def test_inline_and_local_workers_give_the_same_index(runs: dict) -> None:
    (inline, snap_inline, _, _), (local, snap_local, _, _) = runs["inline"], runs["local"]
    assert [Path(e["path"]).name for e in local.ingested] == ["a_long.mp4", "b_short.mp4", "c_mid.mp4"]
    assert snap_local == snap_inline
    assert local.to_dict() == inline.to_dict()


def test_each_task_is_told_the_cores_its_executor_gives_it(
    tmp_path: Path, folder: Path, light_config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """inline: the whole machine (None); local: the cores divided among the workers (Ray: 1). The analysis
    sizes CTranslate2's threads by it (``test_asr``); the index does not change (the test above)."""
    from memindex.ingest import executors, work

    seen: list = []
    real = work.analyze
    monkeypatch.setattr(executors, "analyze", lambda task, *a, **k: seen.append(task.cores) or real(task, *a, **k))
    assert _ingest(tmp_path / "whole", light_config, folder)[0].ingested
    whole = seen[:]
    monkeypatch.setattr(executors.InlineExecutor, "cores_per_task", 1)
    assert _ingest(tmp_path / "share", light_config, folder)[0].ingested
    assert whole and set(whole) == {None} and seen[len(whole) :] == [1] * len(whole)
    local = executors.LocalExecutor(executors.ExecutorSettings(workers=2), None, lambda _e: None)  # type: ignore[arg-type]
    try:
        assert local.cores_per_task == max(1, executors.available_cores() // 2)
    finally:
        local.close()


def test_commits_follow_input_order_whatever_finishes_first(runs: dict, folder: Path) -> None:
    report, _, ids, events = runs["local"]
    order = [e["video_id"] for e in report.ingested]
    assert [max(ids[v]) < min(ids[w]) for v, w in zip(order, order[1:], strict=False)] == [True, True]
    done = [e.path for e in events if e.kind == "done"]
    assert [Path(p).name for p in done] == ["a_long.mp4", "b_short.mp4", "c_mid.mp4"]
    analyzed = {Path(e.path).name for e in events if e.kind == "advance"}  # from the workers, relayed
    assert {"a_long.mp4", "b_short.mp4", "c_mid.mp4"} <= analyzed


def test_a_broken_file_fails_alone_in_a_worker_as_inline(runs: dict, folder: Path) -> None:
    for name in ("inline", "local"):
        report, snap, _, _ = runs[name]
        [fail] = report.failed
        assert Path(fail["path"]).name == "d_truncated.mp4" and fail["code"] == "media", fail
        assert str(folder / "d_truncated.mp4") in fail["error"] and fail["video_id"] in fail["error"]
        assert not [row for row in snap["catalog"]["videos"] if fail["video_id"] in row[1]]  # nothing left of it


def _task(path: Path, light_config) -> VideoTask:  # type: ignore[no-untyped-def]
    return VideoTask(1, str(path), video_id_for(path)[0], probe(path), NO_MODELS, light_config)


@pytest.mark.parametrize("retries", [0, 1])
def test_a_dead_worker_is_retried_then_its_video_fails(folder: Path, light_config, retries: int) -> None:
    ex = LocalExecutor(ExecutorSettings(workers=1, retries=retries), Models(None), lambda _e: None)
    try:
        first = ex._pool[0].process
        task = _task(folder / "b_short.mp4", light_config)
        ex.submit(task)
        first.send_signal(signal.SIGKILL)  # the worker dies holding the task (it is still importing)
        first.wait(30)
        if retries:
            out = ex.result(task)
            assert out.video_id == task.video_id and len(out.records["frames"].shots) == 2
        else:
            with pytest.raises(StageError, match="worker process analyzing this video died"):
                ex.result(task)
        assert ex._pool[0].process is not first and ex._pool[0].process.poll() is None
    finally:
        ex.close()


def test_a_killed_driver_resumes_with_workers(tmp_path: Path, folder: Path, light_config, runs: dict) -> None:
    """SIGKILL of the driver while it commits the second video; its workers go with it; a re-run skips the
    committed video and ends in the index of an uninterrupted run."""
    store = tmp_path / "store"
    memindex.open(store, config=light_config).close()
    argv = [
        sys.executable,
        "-m",
        "memindex.cli",
        "ingest",
        str(folder),
        "--store",
        str(store),
        "--quiet",
        "--json",
        "--no-ocr",
        "--no-asr",
        "--workers",
        "2",
    ]
    killed = subprocess.run(
        argv, env={**ENV, "MEMINDEX_FAULTS": "kill:45"}, capture_output=True, text=True, timeout=300
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    with memindex.open(store) as index:
        ready = {Path(v["uri"]).name for v in index.videos() if v["status"] == "ready"}
    assert ready and ready != {"a_long.mp4", "b_short.mp4", "c_mid.mp4"}, ready  # killed mid-batch
    time.sleep(2.5)
    assert not _orphans(), "worker processes outlived their killed driver"
    again = subprocess.run(argv, env=ENV, capture_output=True, text=True, timeout=300)
    report = json.loads(again.stdout)
    assert {Path(e["path"]).name for e in report["skipped"]} == ready, again.stderr[-2000:]
    assert {Path(e["path"]).name for e in report["ingested"]} == {"a_long.mp4", "b_short.mp4", "c_mid.mp4"} - ready
    with memindex.open(store) as index:
        assert snapshot(index.store) == runs["inline"][1]


def _orphans() -> list[int]:
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"memindex.ingest.worker" in cmd and int(pid) != os.getpid():
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid == 1 or not Path(f"/proc/{ppid}").exists():
                out.append(int(pid))
    return out


# -- the declaration and its options -------------------------------------------------------------------------
def test_the_declaration_lists_loadable_stages_with_real_options() -> None:
    names = [s.name for s in stages.PIPELINE]
    assert len(names) == len(set(names)) and {s.side for s in stages.PIPELINE} == {"worker", "store"}
    fields = set(IngestConfig.__dataclass_fields__)
    for spec in stages.PIPELINE:
        assert set(spec.options) <= fields, spec
        cls = spec.load()
        methods = ("produce", "write_files", "commit") if spec.side == "worker" else ("run",)
        assert all(callable(getattr(cls, m, None)) for m in methods), spec
    assert all(s.resume_when for s in stages.worker_stages())


class CountSeconds:
    """A worker stage added by one entry in the declaration (the test below): it runs in its own lane and
    its records are one ``stage_runs`` row."""

    def produce(self, job) -> Outcome:  # type: ignore[no-untyped-def]
        return Outcome("count", "done", "test", f"{job.info.duration:.1f} s of {Path(job.task.path).name}")

    def write_files(self, media, video_id, records) -> None:  # type: ignore[no-untyped-def]
        pass

    def commit(self, txn, video_id, records, cfg) -> None:  # type: ignore[no-untyped-def]
        from memindex.ingest.commit import record_outcome

        record_outcome(txn, video_id, records)


def test_adding_a_stage_is_one_module_and_one_entry(tmp_path: Path, folder: Path, light_config, monkeypatch) -> None:
    spec = stages.StageSpec(
        "count",
        f"{__name__}:CountSeconds",
        "worker",
        ("video file",),
        (),
        ("count",),
        lane="count",
        resume_when="count",
    )
    monkeypatch.setattr(stages, "PIPELINE", (*stages.PIPELINE, spec))
    index = memindex.open(tmp_path / "store", config=light_config)
    report = index.ingest([folder / "b_short.mp4"], config=NO_MODELS)
    assert report.ok
    assert index.video(report.ingested[0]["video_id"])["stages"]["count"]["detail"] == "1.6 s of b_short.mp4"


def test_stage_options_are_saved_with_every_video(runs: dict) -> None:
    rows = [r for r in runs["local"][1]["catalog"]["stage_runs"] if r[1] == "pipeline"]
    assert len(rows) == 3
    _, _, status, model, detail = rows[0]
    assert status == "done" and model == "stages=" + ",".join(s.name for s in stages.PIPELINE)
    saved = json.loads(detail)
    assert saved == json.loads(stages.options_json(NO_MODELS)) and saved["frames"]["ocr"]["enabled"] is False


def test_unknown_executors_and_options_are_errors(tmp_path: Path, light_config, folder: Path, capsys) -> None:
    with pytest.raises(ConfigError, match="inline, local, ray"):
        make_executor("threads", ExecutorSettings(), Models(None), lambda _e: None)
    with pytest.raises(ConfigError, match="local executor"):
        make_executor("inline", ExecutorSettings(workers=2), Models(None), lambda _e: None)
    store = memindex.open(tmp_path / "s", config=light_config).store
    with pytest.raises(ConfigError, match=r"'intervl'.*valid: \['budget', 'enabled', 'interval', 'reader'\]"):
        Ingester(store, {"ocr": {"intervl": 2}})
    with pytest.raises(ConfigError, match="unknown ingest option"):
        Ingester(store, threads=4)
    assert set(EXECUTORS.names()) >= {"inline", "local", "ray"}
    assert main(["ingest", str(folder), "--store", str(tmp_path / "s"), "--workers", "2", "--ray"]) == 2
    assert "choose one executor: local and ray" in capsys.readouterr().err


def test_config_round_trips_through_its_dict() -> None:
    cfg = replace(NO_MODELS, ocr=replace(NO_MODELS.ocr, interval=2.5, budget=None))
    assert IngestConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


# -- progress across workers --------------------------------------------------------------------------------
def test_batch_tally_counts_videos_hours_speed_and_time_left() -> None:
    now = [0.0]
    tally = BatchTally(clock=lambda: now[0])
    for e in (
        ProgressEvent("batch", "", total=3),
        ProgressEvent("start", "a", total=600.0),
        ProgressEvent("start", "b", total=1200.0),
    ):
        tally.on(e)
    now[0] = 100.0
    tally.on(ProgressEvent("advance", "a", done=300.0, total=600.0))
    tally.on(ProgressEvent("advance", "b", done=200.0, total=1200.0))
    assert tally.rate() == pytest.approx(5.0)  # 500 s of video in 100 s, two workers together
    # left: 300 s of a, 1000 s of b, and the third video at the mean (900 s): 2200 s / 5
    assert tally.seconds_left() == pytest.approx(440.0)
    tally.on(ProgressEvent("done", "a", total=600.0))
    assert tally.summary().startswith("1/3 videos · 0.22 of 0.50 h · 8.0x real time · ETA")


def test_snapshots_compare_content_not_clock_times(tmp_path: Path, light_config) -> None:
    """A fact found in two runs is the same fact, though each run stamps its own first/last seen time (the
    executor benchmark on bbb_narrated.mp4 differed in nothing else)."""
    from datetime import datetime, timedelta, timezone

    from memindex.catalog.semantic import Entity, Fact

    snaps = []
    for n in range(2):
        store = memindex.open(tmp_path / f"s{n}", config=light_config).store
        seen = datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=n)
        with store.write() as txn:
            txn.session.add(ent := Entity(kind="speaker", name="Diane", key="diane"))
            txn.session.flush()
            txn.session.add(
                Fact(
                    subject_entity_id=ent.id,
                    relation="is named",
                    object_text="Diane",
                    source="pattern",
                    first_seen=seen,
                    last_seen=seen,
                )
            )
        snaps.append(snapshot(store))
    assert snaps[0] == snaps[1] and snaps[0]["catalog"]["facts"]
