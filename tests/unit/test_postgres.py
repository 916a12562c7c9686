"""The same catalog on PostgreSQL: migrations, hybrid search (tsvector keyword side), filters, deletion.

Starts a throwaway server with scripts/pg_test_server.sh (Debian's PostgreSQL server binaries)."""

from __future__ import annotations

import glob
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

import memindex
from memindex.store import Store
from tests.unit.test_store import _add_video

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "pg_test_server.sh"


@pytest.fixture(scope="module")
def pg_server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    pytest.importorskip("psycopg", reason="memindex[postgres] is not installed")
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        pytest.skip("PostgreSQL server binaries are not installed (apt-get install postgresql)")
    base = Path(tempfile.mkdtemp(prefix="memindex-pg-"))  # outside pytest's 0700 tree: the server runs as 'postgres'
    base.chmod(0o755)
    data = base / "data"
    url = subprocess.run(
        ["bash", str(SCRIPT), "start", str(data)], capture_output=True, text=True, check=True
    ).stdout.strip()
    yield url
    subprocess.run(["bash", str(SCRIPT), "stop", str(data)], check=False)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture()
def pg_store(pg_server: str, tmp_path, light_config) -> Store:  # type: ignore[no-untyped-def]
    from sqlalchemy import create_engine, text

    name = "t" + uuid.uuid4().hex[:10]
    admin = create_engine(pg_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return Store(tmp_path / "s", config=light_config, catalog_url=pg_server.rsplit("/", 1)[0] + "/" + name)


def test_search_and_delete_on_postgres(pg_store: Store) -> None:
    assert pg_store.engine.dialect.name == "postgresql"
    _add_video(pg_store, "a" * 16, [(0, 5, "welcome to the lecture"), (5, 9, "the answer is 4217 exactly")])
    _add_video(pg_store, "b" * 16, [(0, 5, "another lecture entirely")])
    index = memindex.MemoryIndex(pg_store)
    hits = index.search("4217", k=3, tiers=["speech"])
    assert hits[0].text == "the answer is 4217 exactly" and "bm25_rank" in hits[0].signals
    assert {h.video_id for h in index.search("lecture", tiers=["speech"], videos=["b" * 16])} == {"b" * 16}
    pg_store.delete_video("a" * 16)
    assert {h.video_id for h in index.search("lecture answer", tiers=["speech"])} == {"b" * 16}
    assert index.stats()["videos"] == 1


def test_two_collections_on_one_server_are_isolated(pg_store: Store, tmp_path, light_config) -> None:
    """Each collection lives in its own schema: no videos, hits or tier vectors cross between them."""
    url = pg_store.catalog_url
    pg_store.close()
    one = Store(tmp_path / "s", config=light_config, collection="one", catalog_url=url)
    two = Store(tmp_path / "s", config=light_config, collection="two", catalog_url=url)
    _add_video(one, "a" * 16, [(0, 5, "budget meeting in the first collection")])
    _add_video(two, "b" * 16, [(0, 5, "budget meeting in the second collection")])
    for store, vid in ((one, "a" * 16), (two, "b" * 16)):
        index = memindex.MemoryIndex(store)
        assert [v["id"] for v in index.videos()] == [vid]
        assert {h.video_id for h in index.search("budget meeting", tiers=["speech"])} == {vid}
        assert store.tier("speech").ntotal == 1
        assert index.check()["ok"]
    assert one.catalog_id != two.catalog_id
