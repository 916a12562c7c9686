"""Python results: typed records with attribute access and short reprs, result lists with tabular exports."""

from __future__ import annotations

import json

import pytest

import memindex
from memindex.store import Store
from tests.unit.test_store import _add_video

A = "a" * 16


@pytest.fixture()
def index(tmp_path, light_config) -> memindex.MemoryIndex:
    store = Store(tmp_path / "s", config=light_config)
    _add_video(store, A, [(0, 5, "hello there"), (5, 9, "general kenobi")])
    return memindex.MemoryIndex(store)


def test_records_read_as_attributes_and_stay_dicts(index: memindex.MemoryIndex) -> None:
    videos = index.videos()
    assert isinstance(videos, memindex.Results) and isinstance(videos[0], memindex.Video)
    v = videos[0]
    assert v.id == v["id"] == A and v.name == "aaaaaaaaaaaaaaaa.mp4"
    assert repr(v) == "Video(id='aaaaaaaaaaaaaaaa', name='aaaaaaaaaaaaaaaa.mp4', duration=100.0, status='ready')"
    json.dumps(videos)  # still plain JSON
    utts = index.transcript(A)
    assert [u.text for u in utts] == ["hello there", "general kenobi"]
    assert repr(utts[0]).startswith("Utterance(start=0")
    with pytest.raises(AttributeError, match="no field"):
        _ = utts[0].nonexistent


def test_results_export_to_pandas_arrow_and_lists(index: memindex.MemoryIndex) -> None:
    utts = index.transcript(A)
    df = utts.to_pandas()
    assert list(df["text"]) == ["hello there", "general kenobi"] and "words" not in df.columns
    table = utts.to_arrow()
    assert table.num_rows == 2 and "start" in table.column_names
    assert type(utts.to_list()[0]) is dict
    assert "Results([Utterance(" in repr(utts)


def test_package_is_typed() -> None:
    from importlib import resources

    assert resources.files("memindex").joinpath("py.typed").is_file()


def test_languages_per_video_in_videos_and_stats(index: memindex.MemoryIndex, tmp_path) -> None:
    from memindex.catalog.models import Utterance
    from tests.helpers import run_cli

    with index.store.write() as txn:
        for u in txn.session.query(Utterance).all():
            u.language = "fr" if "kenobi" in u.text else "en"
    assert index.videos()[0]["languages"] == {"en": 5.0, "fr": 4.0}
    assert index.video(A)["languages"] == {"en": 5.0, "fr": 4.0}
    assert index.stats()["languages"] == {"en": 5.0, "fr": 4.0}
    run = run_cli("videos", "--store", str(tmp_path / "s"))
    assert " en,fr " in run.stdout
    assert "speech by language: en 0.1 min, fr 0.1 min" in run_cli("stats", "--store", str(tmp_path / "s")).stdout
