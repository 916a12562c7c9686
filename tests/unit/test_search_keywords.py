"""The keyword channel at scale (memindex.catalog.keywords): FTS5's row count read from its averages record,
ranking in a subquery that still honours the tier filter, and very common terms left out of the BM25 query
(the thresholds lowered here so that a small store has "common" words)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

import memindex
from memindex.catalog import keywords
from memindex.catalog.keywords import KeywordFilters, fts5_ids, fts5_rows
from memindex.store import DocRow, Store
from tests.unit.test_store import _add_video

VID = "d" * 16
# "the" in 9 of 10 docs, "pilot" in 4 (3 of them with "the")
LINES = [
    (0, 4, "the harbour pilot boards at dawn"),
    (5, 9, "the pilot of the ferry"),
    (10, 14, "the harbour is closed"),
    (15, 19, "the pilot waits"),
    (20, 24, "the cargo of the ship"),
    (25, 29, "the crane lifts the crates"),
    (30, 34, "the tide turns"),
    (35, 39, "the gulls over the quay"),
    (40, 44, "the rain stops"),
    (45, 49, "a pilot alone"),
]


@pytest.fixture()
def store(tmp_path, light_config) -> Store:  # type: ignore[no-untyped-def]
    s = Store(tmp_path / "s", config=light_config)
    _add_video(s, VID, LINES)
    return s


def _ids(store: Store, groups: list[list[str]], limit: int = 100, **filters) -> list[int]:  # type: ignore[no-untyped-def]
    with store.Session() as s:
        return fts5_ids(s, groups, KeywordFilters(filters.pop("tiers", ["speech"]), **filters), limit)


def _join(store: Store, match: str, tiers: list[str], limit: int) -> list[int]:
    """The keyword query as it was before the subquery: join every match to docs, filter, then rank."""
    marks = ", ".join(f"'{t}'" for t in tiers)
    sql = (
        "SELECT d.id FROM docs_fts JOIN docs d ON d.id = docs_fts.rowid WHERE docs_fts MATCH :q "
        f"AND d.tier IN ({marks}) ORDER BY bm25(docs_fts) LIMIT :lim"
    )
    with store.Session() as s:
        return [int(i) for i in s.execute(text(sql), {"q": match, "lim": limit}).scalars()]


def _texts(store: Store, ids: list[int]) -> set[str]:
    with store.Session() as s:
        rows = s.execute(text("SELECT id, text FROM docs")).all()
    return {t for i, t in rows if i in set(ids)}


def test_fts5_row_count_is_read_from_the_averages_record(store: Store) -> None:
    with store.Session() as s:
        assert fts5_rows(s) == len(LINES) == s.execute(text("SELECT count(*) FROM docs")).scalar()
    memindex.MemoryIndex(store).delete_video(VID)
    with store.Session() as s:
        assert fts5_rows(s) == 0


def test_small_stores_rank_every_term(store: Store) -> None:
    """Under the floor nothing is common: the ranking is the full OR query's, as before."""
    got = _ids(store, [["the"], ["pilot"]])
    assert got == _join(store, '"the" OR "pilot"', ["speech"], 100) and len(got) == 10


def test_a_common_term_leaves_the_ranked_query_when_rarer_terms_remain(store: Store, monkeypatch) -> None:
    monkeypatch.setattr(keywords, "COMMON_FLOOR", 0)
    monkeypatch.setattr(keywords, "COMMON_SHARE", 0.5)  # common: in more than 5 of the 10 docs
    got = _ids(store, [["the"], ["pilot"]])
    assert _texts(store, got) == {LINES[0][2], LINES[1][2], LINES[3][2], LINES[9][2]}  # "pilot" only
    assert got == _join(store, '"pilot"', ["speech"], 100)
    # ... and in search: "the" still counts in coverage (all the pilot lines hold it), only BM25 skipped it
    hits = memindex.MemoryIndex(store).search("the pilot", k=10, tiers=["speech"])
    keyword = {h.text for h in hits if "bm25_rank" in h.signals}
    assert keyword == {LINES[0][2], LINES[1][2], LINES[3][2], LINES[9][2]}
    assert {h.text for h in hits if h.signals["coverage"] == 1.0} >= {LINES[0][2], LINES[1][2], LINES[3][2]}


def test_only_common_terms_rank_the_documents_holding_them_all(store: Store, monkeypatch) -> None:
    monkeypatch.setattr(keywords, "COMMON_FLOOR", 0)
    monkeypatch.setattr(keywords, "COMMON_SHARE", 0.35)  # common: in more than 3 docs ("the", "pilot")
    got = _ids(store, [["the"], ["pilot"]])
    assert _texts(store, got) == {LINES[0][2], LINES[1][2], LINES[3][2]}  # "the" AND "pilot": 3 docs
    assert got == _join(store, '"the" AND "pilot"', ["speech"], 100)
    monkeypatch.setattr(keywords, "COMMON_SHARE", 0.2)  # now even that set is common: no keyword candidates
    assert _ids(store, [["the"], ["pilot"]]) == []


def test_every_spelling_of_a_word_counts_in_the_all_words_query(tmp_path, light_config, monkeypatch) -> None:
    store = Store(tmp_path / "n", config=light_config)
    lines = ["press one now", "press 1 now", "press here", "one a", "one b", "1 c", "1 d", "x", "y", "z"]
    _add_video(store, VID, [(5.0 * i, 5.0 * i + 4, line) for i, line in enumerate(lines)])
    monkeypatch.setattr(keywords, "COMMON_FLOOR", 0)
    monkeypatch.setattr(keywords, "COMMON_SHARE", 0.25)  # common: in more than 2 docs (press, one, 1: 3 each)
    got = _ids(store, [["press"], ["one", "1"]])  # so: ("press") AND ("one" OR "1"), 2 docs
    assert _texts(store, got) == {"press one now", "press 1 now"}


def test_the_subquery_keeps_fetching_while_the_tier_filter_drops_rows(store: Store) -> None:
    """Docs of another tier outrank the speech docs; the top rows are fetched again, 4x more each time,
    until enough pass the filter, and the result equals filtering before ranking."""
    with store.write() as txn:
        rows = [DocRow(VID, 1000 + i, 50.0 + i, 51.0 + i, "pilot pilot pilot") for i in range(60)]
        txn.add_docs("episodic.shot", rows, store.text_embedder.embed([r.text for r in rows]))
    for limit in (1, 2, 3, 5):
        got = _ids(store, [["pilot"]], limit)
        assert got == _join(store, '"pilot"', ["speech"], limit) and len(got) == min(limit, 4)
    both = _ids(store, [["pilot"]], 10, tiers=["speech", "episodic.shot"])
    assert both == _join(store, '"pilot"', ["speech", "episodic.shot"], 10)


def test_video_and_time_filters_rank_only_what_passes(store: Store) -> None:
    _add_video(store, "e" * 16, [(0, 4, "the pilot again")])
    assert _texts(store, _ids(store, [["pilot"]], videos=["e" * 16])) == {"the pilot again"}
    assert _texts(store, _ids(store, [["pilot"]], time_range=(4.5, 16.0))) == {LINES[1][2], LINES[3][2]}
