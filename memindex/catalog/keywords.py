"""Keyword candidates from the catalog's full-text index: SQLite FTS5 (BM25) or PostgreSQL (``ts_rank``).

FTS5 ranks in a subquery, so only its top rows are joined to ``docs``; and a term found in more than a share
of the documents (as "the" is) is left out of the ranked query when the query has rarer terms, because BM25
would score every document that holds it. Both depend only on the store's contents.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

__all__ = ["KeywordFilters", "COMMON_SHARE", "COMMON_FLOOR", "fts5_ids", "postgres_ids", "fts5_rows", "common_cap"]

# A term in more than max(COMMON_FLOOR, COMMON_SHARE x docs) documents is "common": its BM25 weight is small
# (idf ln 19 at 5 % against ln 66 at 1.5 %) and ranking its matches costs O(its document count). Below the
# floor ranking every match is cheap, so small stores rank exactly as before.
COMMON_SHARE = 0.05
COMMON_FLOOR = 10_000
_FIRST_PASS = 4  # the FTS5 subquery fetches 4x the wanted rows, then 4x more while the tier filter drops too many


@dataclass(frozen=True)
class KeywordFilters:
    tiers: Sequence[str]
    videos: Sequence[str] | None = None
    time_range: tuple[float, float] | None = None

    def sql(self) -> tuple[str, dict[str, object]]:
        """`` AND ...`` conditions on ``docs d`` and their parameters."""
        params: dict[str, object] = {f"t{i}": t for i, t in enumerate(self.tiers)}
        where = " AND d.tier IN (" + ", ".join(f":t{i}" for i in range(len(self.tiers))) + ")"
        if self.videos:
            params.update({f"v{i}": v for i, v in enumerate(self.videos)})
            where += " AND d.video_id IN (" + ", ".join(f":v{i}" for i in range(len(self.videos))) + ")"
        if self.time_range:
            params.update({"tr0": self.time_range[0], "tr1": self.time_range[1]})
            where += ' AND d."end" >= :tr0 AND d.start <= :tr1'
        return where, params


def _quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def fts5_ids(s: Session, groups: Sequence[Sequence[str]], filters: KeywordFilters, limit: int) -> list[int]:
    """Doc ids matching any spelling of any query word, best BM25 first, at most ``limit``. ``groups`` holds
    each query word's spellings (``one``, ``1``)."""
    match = _fts5_match(s, groups)
    if match is None:
        return []
    if filters.videos or filters.time_range:  # a selective filter: rank only the documents that pass it
        where, params = filters.sql()
        sql = (
            "SELECT d.id FROM docs_fts JOIN docs d ON d.id = docs_fts.rowid WHERE docs_fts MATCH :q"
            + where
            + " ORDER BY bm25(docs_fts), d.id LIMIT :lim"
        )
        return [int(i) for i in s.execute(text(sql), {**params, "q": match, "lim": limit}).scalars()]
    top_sql = text("SELECT rowid FROM docs_fts WHERE docs_fts MATCH :q ORDER BY rank, rowid LIMIT :n")
    # The tier is compared here, not in SQL: given ``tier IN (...)`` SQLite may walk the tier index (every doc
    # of the tier) instead of looking the few ids up by primary key.
    tier_sql = text("SELECT id, tier FROM docs WHERE id IN :ids").bindparams(bindparam("ids", expanding=True))
    wanted = set(filters.tiers)
    n = _FIRST_PASS * limit
    while True:  # the tier filter drops rows after the ranking: fetch more until enough pass (or none are left)
        top = [int(i) for i in s.execute(top_sql, {"q": match, "n": n}).scalars()]
        keep = {int(i) for i, tier in s.execute(tier_sql, {"ids": top}) if tier in wanted} if top else set()
        out = [i for i in top if i in keep]
        if len(out) >= limit or len(top) < n:
            return out[:limit]
        n *= _FIRST_PASS


def _fts5_match(s: Session, groups: Sequence[Sequence[str]]) -> str | None:
    """The FTS5 query: the rarer terms OR-ed; when every term is common, documents holding all the words
    (if that set is itself not common); None when there is nothing to rank."""
    terms = list(dict.fromkeys(t for g in groups for t in g))
    if not terms:
        return None
    cap = common_cap(s)
    rare = [t for t in terms if _count_upto(s, _quote(t), cap + 1) <= cap]
    if rare:  # in a small store, every term
        return " OR ".join(_quote(t) for t in rare)
    all_of = " AND ".join("(" + " OR ".join(_quote(t) for t in dict.fromkeys(g)) + ")" for g in groups if g)
    return all_of if _count_upto(s, all_of, cap + 1) <= cap else None


def _count_upto(s: Session, match: str, n: int) -> int:
    """Documents matching ``match``, counted up to ``n`` (FTS5 stops reading the doclists there)."""
    sql = text("SELECT count(*) FROM (SELECT 1 FROM docs_fts WHERE docs_fts MATCH :q LIMIT :n)")
    return int(s.execute(sql, {"q": match, "n": n}).scalar() or 0)


def common_cap(s: Session) -> int:
    """Documents a term may match before it counts as common."""
    return max(COMMON_FLOOR, int(COMMON_SHARE * fts5_rows(s)))


def fts5_rows(s: Session) -> int:
    """Rows in ``docs_fts``, read from FTS5's averages record (rowid 1 of ``docs_fts_data``: a varint row
    count, then one token total per column), so it costs one lookup instead of a count over the table."""
    block = s.execute(text("SELECT block FROM docs_fts_data WHERE id = 1")).scalar()
    if not block:
        return 0
    value = 0
    for i, byte in enumerate(bytes(block)[:9]):  # SQLite varint: 7 bits a byte, big-endian, the 9th all 8
        if i == 8:
            return (value << 8) | byte
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value
    return value


def postgres_ids(s: Session, words: Sequence[str], filters: KeywordFilters, limit: int, *, unaccent: bool) -> list[int]:
    """Doc ids matching any of ``words`` on PostgreSQL, best ``ts_rank`` first; both sides go through
    ``memindex_unaccent`` when migration 0006 could create it."""
    cleaned = [c for c in (re.sub(r"[^\w]", "", w) for w in words) if c]
    if not cleaned:
        return []
    doc, query = ("memindex_unaccent(d.text)", "memindex_unaccent(:q)") if unaccent else ("d.text", ":q")
    vec, tsq = f"to_tsvector('simple', {doc})", f"to_tsquery('simple', {query})"
    where, params = filters.sql()
    sql = f"SELECT d.id FROM docs d WHERE {vec} @@ {tsq}{where} ORDER BY ts_rank({vec}, {tsq}) DESC LIMIT :lim"
    return [int(i) for i in s.execute(text(sql), {**params, "q": " | ".join(cleaned), "lim": limit}).scalars()]
