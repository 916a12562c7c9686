"""DuckDB analytics: every example of docs/analytics.md runs and gives the right numbers; read-only; the
live store is not locked; Parquet export; formats."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from memindex.catalog.models import OcrLine, Segment, StageRun, Utterance
from memindex.errors import QueryError
from memindex.store import Store
from tests.helpers import run_cli
from tests.unit.test_store import _add_video

pytest.importorskip("duckdb", reason="memindex[analytics] is not installed")
from memindex.analytics import export_parquet, format_rows, run_sql  # noqa: E402

DOC = Path(__file__).resolve().parents[2] / "docs" / "analytics.md"
A, B = "a" * 16, "b" * 16


@pytest.fixture()
def store(tmp_path, light_config) -> Store:
    store = Store(tmp_path / "s", config=light_config)
    _add_video(store, A, [(0, 30, "hello everyone"), (30, 90, "bonjour à tous")])
    _add_video(store, B, [(0, 60, "second video")])
    with store.write() as txn:
        for u in txn.session.query(Utterance).all():
            u.speaker = "spk1" if u.start == 0 else "spk2"
            u.language = "fr" if "bonjour" in u.text else "en"
        txn.session.add(StageRun(video_id=A, stage="visual", status="pending", detail="no CLIP weights"))
        txn.session.add(OcrLine(video_id=A, start=1, end=2, text="BUDGET 2026", confidence=0.9))
        for i in range(4):
            txn.session.add(Segment(video_id=A, level="shot", idx=i, start=i * 25.0, end=(i + 1) * 25.0))
    return store


def _examples() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", DOC.read_text(), flags=re.S)


def test_every_documented_example_runs(store: Store) -> None:
    assert len(_examples()) >= 5
    for sql in _examples():
        cols, rows = run_sql(store, sql)
        assert cols and rows, sql


def test_minutes_per_speaker_and_videos_per_language(store: Store) -> None:
    minutes, languages, shots = _examples()[:3]
    cols, rows = run_sql(store, minutes)
    assert {(r[0], r[1]): r[2] for r in rows} == {
        ("aaaaaaaaaaaaaaaa.mp4", "spk1"): 0.5,
        ("aaaaaaaaaaaaaaaa.mp4", "spk2"): 1.0,
        ("bbbbbbbbbbbbbbbb.mp4", "spk1"): 1.0,
    }
    cols, rows = run_sql(store, languages)
    assert {r[0]: r[1] for r in rows} == {"en": 2, "fr": 1}
    cols, rows = run_sql(store, shots)
    assert rows == [("aaaaaaaaaaaaaaaa.mp4", 4, 2.4)]  # 4 shots in a 100-s video


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM videos",
        "insert into x values (1)",
        "ATTACH 'x.db' AS y",
        "COPY videos TO '/tmp/x.csv'",
        "",
        "SELECT * FROM no_such_view",
    ],
)
def test_writes_and_broken_sql_are_refused(store: Store, sql: str) -> None:
    with pytest.raises(QueryError):
        run_sql(store, sql)


def test_analytics_never_lock_the_live_store(store: Store) -> None:
    from memindex.analytics import connect

    conn = connect(store)
    assert conn.execute("SELECT count(*) FROM videos").fetchone()[0] == 2
    _add_video(store, "c" * 16, [(0, 5, "written while DuckDB reads")])  # the writer is not blocked
    conn.close()
    assert run_sql(store, "SELECT count(*) FROM videos")[1] == [(3,)]


def test_export_parquet(store: Store, tmp_path) -> None:
    import duckdb

    counts = export_parquet(store, tmp_path / "out")
    assert counts["videos"] == 2 and counts["utterances"] == 3
    got = duckdb.sql(f"SELECT count(*) FROM '{tmp_path / 'out' / 'utterances.parquet'}'").fetchone()[0]
    assert got == 3


def test_formats_and_cli(store: Store, tmp_path) -> None:
    cols, rows = run_sql(store, "SELECT name, duration FROM videos ORDER BY name")
    assert format_rows(cols, rows, "csv").splitlines()[0] == "name,duration"
    assert json.loads(format_rows(cols, rows, "json"))[0] == {"name": "aaaaaaaaaaaaaaaa.mp4", "duration": 100.0}
    run = run_cli("sql", "SELECT name FROM videos ORDER BY name", "--store", str(tmp_path / "s"), "--format", "json")
    assert run.returncode == 0 and json.loads(run.stdout)[1]["name"] == "bbbbbbbbbbbbbbbb.mp4"
    run = run_cli("sql", "DROP TABLE videos", "--store", str(tmp_path / "s"))
    assert run.returncode == 2 and "read-only" in run.stderr and "Traceback" not in run.stderr
    run = run_cli("export", str(tmp_path / "pq"), "--store", str(tmp_path / "s"))
    assert run.returncode == 0 and (tmp_path / "pq" / "segments.parquet").is_file()
