"""Ingest is a function of (video, config): the same real video ingested on an idle machine and on one whose
every CPU core is saturated by busy loops gives the same catalog rows and the same tier contents."""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from hashlib import sha256
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

import memindex
from memindex.store import Store

# Integer links that the schema does not declare as foreign keys: (table, column) -> the table they point into.
LINKS = {
    ("segments", "parent_id"): "segments",
    ("segments", "keyframe_id"): "frames",
    ("frames", "shot_id"): "segments",
    ("ocr_lines", "frame_id"): "frames",
}
DOC_TABLES = {"visual": "frames", "speech": "utterances", "screen": "ocr_lines"}  # episodic.*: segments
STORE_UNIQUE = {("store_meta", "catalog_id")}  # a random id per store, by design


def _burn(stop: Any, spent: Any) -> None:
    while not stop.is_set():
        pass
    spent.put(time.process_time())


@contextmanager
def saturated_cpus() -> Iterator[list[float]]:
    """One busy-loop process per CPU core for the duration; yields the CPU seconds each burnt (filled at exit)."""
    ctx = mp.get_context("spawn")
    stop, spent = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_burn, args=(stop, spent), daemon=True) for _ in range(os.cpu_count() or 2)]
    for proc in procs:
        proc.start()
    burnt: list[float] = []
    try:
        yield burnt
    finally:
        stop.set()
        burnt.extend(spent.get(timeout=30) for _ in procs)
        for proc in procs:
            proc.join(timeout=30)


def _is_surrogate(table: sa.Table, column: sa.Column) -> bool:
    return column.primary_key and isinstance(column.type, sa.Integer)


def _links(table: sa.Table) -> dict[str, str]:
    """Integer columns of ``table`` that hold another row's surrogate id -> that row's table."""
    out = {fk.parent.name: fk.column.table.name for fk in table.foreign_keys if isinstance(fk.column.type, sa.Integer)}
    out.update({col: target for (name, col), target in LINKS.items() if name == table.name})
    return out


def _plain_columns(table: sa.Table) -> list[str]:
    """The columns that are content: no surrogate ids, links, clock times or timings."""
    links = _links(table)
    return [
        c.name
        for c in table.columns
        if not _is_surrogate(table, c)
        and c.name not in links
        and c.name != "ref_id"
        and c.name != "seconds"
        and not isinstance(c.type, sa.DateTime)
    ]


class Catalog:
    """A store's catalog read whole, with every surrogate id replaced by the content of the row it names."""

    def __init__(self, store: Store) -> None:
        self.store = store
        meta = sa.MetaData()
        meta.reflect(bind=store.engine)
        self.tables = {name: t for name, t in meta.tables.items() if not name.startswith(("docs_fts", "sqlite_"))}
        with store.engine.connect() as conn:
            self.rows = {
                name: [dict(r) for r in conn.execute(sa.select(t)).mappings()] for name, t in self.tables.items()
            }
        self.by_id = {name: {r["id"]: r for r in rows if "id" in r} for name, rows in self.rows.items()}

    def content(self, table: str, row: dict[str, Any]) -> tuple:
        """The row's own content (no links followed): what an id stands for."""
        values = tuple((c, row[c]) for c in _plain_columns(self.tables[table]))
        if table == "frames":
            values += (("jpeg_sha256", sha256(self.store.media.read(row["path"])).hexdigest()),)
        return values

    def resolved(self, table: str, row: dict[str, Any]) -> tuple:
        """The row's content and, for each id it holds, the content of the row that id names."""
        out = self.content(table, row)
        for column, target in sorted(_links(self.tables[table]).items()):
            out += ((column, self._ref(target, row[column])),)
        if table == "docs":
            out += (("ref", self._ref(*_doc_target(row["tier"], row["ref_id"]))),)
        return out

    def _ref(self, table: str, ref: int | None) -> tuple | None:
        if ref is None:
            return None
        target = self.by_id[table].get(ref)
        assert target is not None, f"dangling id {ref} into {table}"
        return self.content(table, target)

    def snapshot(self) -> dict[str, Counter]:
        out = {}
        for name, rows in self.rows.items():
            keep = [r for r in rows if not any((name, r.get("key")) == u for u in STORE_UNIQUE)]
            out[name] = Counter(self.resolved(name, r) for r in keep)
        return out


def _doc_target(tier: str, ref_id: int) -> tuple[str, int]:
    """The table and id a doc stands for; semantic docs are facts (id) or entities (minus the id)."""
    if tier == "semantic":
        return ("facts", ref_id) if ref_id >= 0 else ("entities", -ref_id)
    return DOC_TABLES.get(tier, "segments"), ref_id


def tier_contents(store: Store, catalog: Catalog) -> dict[str, set]:
    """Per tier, the (video, start, end, text, vector bytes) of its docs; FAISS must hold exactly those vectors."""
    out: dict[str, set] = {}
    for tier in sorted({r["tier"] for r in catalog.rows["docs"]}):
        docs = [r for r in catalog.rows["docs"] if r["tier"] == tier]
        out[tier] = {(d["video_id"], d["start"], d["end"], d["text"], d["vector"]) for d in docs}
        embedded = sorted((d["id"], d["vector"]) for d in docs if d["vector"] is not None)
        if not embedded:
            continue
        index = store.tier(tier)
        ids = np.array([i for i, _ in embedded], np.int64)
        assert index.exact and np.array_equal(np.sort(index.ids()), ids), f"tier {tier}: FAISS ids differ"
        want = np.stack([np.frombuffer(v, np.float32) for _, v in embedded])
        assert np.array_equal(index.vectors(ids), want), f"tier {tier}: a FAISS vector differs from its row"
    return out


def ingest_and_read(video: Path, store_dir: Path) -> tuple[dict[str, Counter], dict[str, set], float]:
    started = time.perf_counter()
    with memindex.open(store_dir) as index:
        report = index.ingest([video])
        assert report.ok and len(report.ingested) == 1, report.to_dict()
    seconds = time.perf_counter() - started
    with memindex.open(store_dir) as index:
        catalog = Catalog(index.store)
        return catalog.snapshot(), tier_contents(index.store, catalog), seconds


def _ocr_lines(snapshot: dict[str, Counter]) -> list[tuple]:
    return sorted((dict(row)["start"], dict(row)["end"], dict(row)["text"]) for row in snapshot["ocr_lines"])


@pytest.mark.slow
def test_ingest_is_the_same_on_an_idle_and_a_saturated_machine(shared_media: Path, tmp_path: Path) -> None:
    video = shared_media / "video" / "trailer_bbb.mp4"  # text overlays from 4 s to 55 s
    idle_catalog, idle_tiers, idle_s = ingest_and_read(video, tmp_path / "idle")
    with saturated_cpus() as burnt:
        busy_catalog, busy_tiers, busy_s = ingest_and_read(video, tmp_path / "busy")

    idle_ocr, busy_ocr = _ocr_lines(idle_catalog), _ocr_lines(busy_catalog)
    assert len(idle_ocr) >= 8, idle_ocr  # the trailer's overlays, up to "Revenge is coming..." at 48-52 s
    assert any("Revenge" in text for _, _, text in idle_ocr), idle_ocr
    assert busy_ocr == idle_ocr
    assert set(busy_catalog) == set(idle_catalog)
    for table in sorted(idle_catalog):
        only_idle = idle_catalog[table] - busy_catalog[table]
        only_busy = busy_catalog[table] - idle_catalog[table]
        assert not only_idle and not only_busy, (table, list(only_idle)[:3], list(only_busy)[:3])
    assert busy_tiers == idle_tiers
    assert idle_catalog["videos"] and idle_catalog["segments"] and idle_catalog["frames"]
    # The busy loops spun through the whole second ingest (their share of the CPUs depends on what else runs).
    assert min(burnt) > 0.05 * busy_s, (burnt, busy_s, idle_s)
