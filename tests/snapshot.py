"""A store's contents as comparable values, ids aside: what "the same index" means in the fault and
determinism tests."""

from __future__ import annotations

from collections import Counter

import numpy as np
from sqlalchemy import inspect, select, text

from memindex.catalog.models import Doc
from memindex.store import Store

# Surrogate keys, links between them, and what depends on the clock: everything else must match.
_IGNORED = {"id", "ref_id", "created_at", "updated_at", "seconds", "first_seen", "last_seen"}


def _ignored(column: str) -> bool:
    return column in _IGNORED or (column.endswith("_id") and column != "video_id")


_SKIP_TABLES = {"alembic_version", "store_meta", "tier_state"}


def catalog_rows(store: Store) -> dict[str, Counter]:
    """Every table's rows as a multiset of tuples, surrogate ids and timings left out."""
    out: dict[str, Counter] = {}
    with store.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            if table in _SKIP_TABLES or table.startswith("docs_fts"):
                continue
            cols = [c["name"] for c in inspect(conn).get_columns(table) if not _ignored(c["name"])]
            rows = conn.execute(text(f"SELECT {', '.join(cols)} FROM {table}")).all()
            out[table] = Counter(tuple(_plain(v) for v in r) for r in rows)
    return out


def _plain(value: object) -> object:
    return round(value, 6) if isinstance(value, float) else value


def tier_contents(store: Store) -> dict[str, Counter]:
    """Per tier, the (video, span, text, vector bytes) of its docs; asserts FAISS holds exactly those vectors."""
    out: dict[str, Counter] = {}
    with store.Session() as s:
        names = set(s.scalars(select(Doc.tier).distinct()).all())
        for name in sorted(names):
            rows = s.execute(
                select(Doc.id, Doc.video_id, Doc.start, Doc.end, Doc.text, Doc.vector).where(Doc.tier == name)
            ).all()
            out[name] = Counter((r[1], round(r[2], 6), round(r[3], 6), r[4], r[5]) for r in rows)
            embedded = [(r[0], r[5]) for r in rows if r[5] is not None]
            if not embedded:
                continue
            tier = store.tier(name)
            ids = np.array(sorted(i for i, _ in embedded), np.int64)
            assert np.array_equal(np.sort(tier.ids()), ids), f"tier {name}: FAISS ids differ from the catalog's"
            want = np.stack([np.frombuffer(v, np.float32) for _, v in sorted(embedded)])
            assert np.array_equal(tier.vectors(ids), want), f"tier {name}: a FAISS vector differs from its row"
    return out


def snapshot(store: Store) -> dict[str, dict[str, Counter]]:
    return {"catalog": catalog_rows(store), "tiers": tier_contents(store)}


def per_video(snap: dict[str, dict[str, Counter]], video_id: str) -> dict[str, dict[str, Counter]]:
    """The part of a snapshot that belongs to one video (rows whose values include its id)."""
    return {
        part: {table: Counter({row: n for row, n in rows.items() if video_id in row}) for table, rows in tables.items()}
        for part, tables in snap.items()
    }
