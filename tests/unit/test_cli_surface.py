"""The command line's surface: help, version, `python -m memindex`, --store anywhere and $MEMINDEX_STORE,
subtitle formats, doctor, and empty results said on stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from memindex.store import Store
from memindex.subtitles import to_srt, to_vtt
from tests.helpers import run_cli
from tests.unit.test_store import _add_video

A = "a" * 16


@pytest.fixture()
def store_dir(tmp_path, light_config):  # type: ignore[no-untyped-def]
    store = Store(tmp_path / "s", config=light_config)
    _add_video(store, A, [(1.5, 4.25, "hello there"), (3661.0, 3662.5, "an hour later")])
    store.close()
    return tmp_path / "s"


def test_bare_command_prints_help_and_version() -> None:
    run = subprocess.run([sys.executable, "-m", "memindex"], capture_output=True, text=True)
    assert run.returncode == 0 and "usage: memindex" in run.stdout
    run = subprocess.run([sys.executable, "-m", "memindex", "--version"], capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.startswith("memindex ")


def test_store_before_or_after_the_command_and_from_the_environment(store_dir) -> None:  # type: ignore[no-untyped-def]
    before = run_cli("--store", str(store_dir), "videos", "--json")
    after = run_cli("videos", "--store", str(store_dir), "--json")
    assert before.returncode == after.returncode == 0
    assert json.loads(before.stdout) == json.loads(after.stdout)
    env = {**os.environ, "MEMINDEX_STORE": str(store_dir), "HF_HUB_OFFLINE": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "memindex", "videos", "--json"], capture_output=True, text=True, env=env
    )
    assert json.loads(run.stdout)["videos"][0]["id"] == A


def test_subtitles() -> None:
    utts = [
        {"start": 1.5, "end": 4.25, "text": "hello\nthere", "speaker": "spk1"},
        {"start": 3661.0, "end": 3662.5, "text": "later", "speaker": None},
    ]
    assert to_srt(utts) == (
        "1\n00:00:01,500 --> 00:00:04,250\n[spk1] hello there\n\n2\n01:01:01,000 --> 01:01:02,500\nlater\n"
    )
    assert to_vtt(utts).startswith("WEBVTT\n\n00:00:01.500 --> 00:00:04.250\n[spk1] hello there\n")


def test_transcript_formats_and_empty_span(store_dir) -> None:  # type: ignore[no-untyped-def]
    run = run_cli("transcript", A, "--store", str(store_dir), "--format", "srt")
    assert run.returncode == 0 and "00:00:01,500 --> 00:00:04,250\nhello there" in run.stdout
    run = run_cli("transcript", A, "--store", str(store_dir), "--format", "vtt", "--start", "100", "--end", "200")
    assert run.stdout == "WEBVTT\n\n" and "no speech" in run.stderr


def test_doctor_reports_packages_and_store(store_dir) -> None:  # type: ignore[no-untyped-def]
    run = run_cli("doctor", "--store", str(store_dir), "--json")
    report = json.loads(run.stdout)
    assert {p["module"] for p in report["packages"]} >= {"faiss", "faster_whisper", "open_clip"}
    assert report["store"]["videos"] == 1 and report["store"]["ok"]
    assert run.returncode == (0 if report["ok"] else 1)
    run = run_cli("doctor", "--store", str(store_dir))
    assert "packages:" in run.stdout and "store " in run.stdout


def test_notices_are_said_once_without_third_party_noise(tmp_path) -> None:
    """Missing CLIP weights: one PENDING line per ingest, no loader bars or root-logger errors; delete quiet."""
    pytest.importorskip("open_clip")
    from memindex.config import StoreConfig, TextEncoderConfig
    from tests.media import Scene, make_video

    make_video(tmp_path / "v.mp4", [Scene(1.0, 30), Scene(1.0, 150, "HELLO")], size=(160, 90))
    Store(tmp_path / "s", config=StoreConfig(text=TextEncoderConfig(name="hashing"))).close()
    run = run_cli("ingest", str(tmp_path / "v.mp4"), "--store", str(tmp_path / "s"), "--no-asr", "--quiet")
    assert run.returncode == 0, run.stderr
    assert run.stderr.count("PENDING") == 1, run.stderr
    assert "Loading weights" not in run.stderr and "ERROR root" not in run.stderr, run.stderr
    run = run_cli("delete", "v.mp4", "--store", str(tmp_path / "s"))
    assert run.returncode == 0 and run.stderr.strip().startswith("deleted ") and "\n" not in run.stderr.strip()


def test_ask_prints_only_what_the_answer_cites(store_dir) -> None:  # type: ignore[no-untyped-def]
    run = run_cli("ask", "when does someone talk about submarine warfare tactics?", "--store", str(store_dir))
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("Not found in this store"), run.stdout
    assert not any(line.startswith("  - ") for line in lines), run.stdout  # candidates are not citations


def test_the_environment_is_read_once_at_the_app_floor(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`Environment` holds what the variables set; the library (RemoteIndex) reads none of them, the CLI
    passes the token to a server it opens."""
    from memindex.cli import Environment, _open, build_parser
    from memindex.remote import RemoteIndex

    env = Environment.read({"MEMINDEX_STORE": "/data/s", "MEMINDEX_TOKEN": " secret-0123456789abcdef\n"})
    assert env == Environment(store="/data/s", token="secret-0123456789abcdef")
    assert Environment.read({"MEMINDEX_STORE": "", "MEMINDEX_TOKEN": "  "}) == Environment()
    monkeypatch.setenv("MEMINDEX_TOKEN", "from-the-environment-0123")
    with RemoteIndex("http://127.0.0.1:9") as remote:
        assert "authorization" not in remote._http.headers
    args = build_parser().parse_args(["stats", "--store", "http://127.0.0.1:9"])
    args.collection, args.token = "default", env.token
    with _open(args) as remote:
        assert remote._http.headers["authorization"] == "Bearer secret-0123456789abcdef"


def test_open_refuses_options_that_do_not_apply(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import memindex
    from memindex.errors import ConfigError

    with pytest.raises(ConfigError, match="for a server URL"):
        memindex.open(tmp_path / "s", token="t" * 16)
    with pytest.raises(ConfigError, match="not a server URL"):
        memindex.open("http://127.0.0.1:9", create=False)


def test_ingest_flags_make_the_public_ingest_config() -> None:
    from memindex.cli import _ingest_config, build_parser
    from memindex.ingest import IngestConfig

    args = build_parser().parse_args(["ingest", "v.mp4", "--no-ocr", "--asr-model", "small"])
    cfg = _ingest_config(args)
    assert type(cfg) is IngestConfig and not cfg.ocr.enabled and cfg.asr.enabled and cfg.asr.model == "small"
    assert cfg == IngestConfig.from_dict({"ocr": {"enabled": False}, "asr": {"model": "small"}})


def test_show_takes_the_browse_span(tmp_path, light_config) -> None:  # type: ignore[no-untyped-def]
    """`show --start/--end` are the browse operation's span: only the segments overlapping it."""
    from tests.server.test_contract import A as VID
    from tests.server.test_contract import build_store

    root = build_store(tmp_path / "s", light_config)
    run = run_cli("show", VID, "--store", str(root), "--level", "chapter", "--start", "60", "--json")
    assert run.returncode == 0, run.stderr
    assert [c["start"] for c in json.loads(run.stdout)["segments"]] == [50]
    run = run_cli("show", VID, "--store", str(root), "--level", "chapter", "--json")
    assert [c["start"] for c in json.loads(run.stdout)["segments"]] == [0, 50]
