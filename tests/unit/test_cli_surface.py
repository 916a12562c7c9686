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
