"""Ranking: accent-insensitive keywords (FTS5 and migration 0006), question-aware fusion, number words,
low-quality speech ranked lower, and the calibrated ``Hit.confidence`` on every hit."""

from __future__ import annotations

import sqlite3

import pytest

import memindex
from memindex.encoders.text import HashingEmbedder
from memindex.ranking import QUESTION_SCREEN_FACTOR, confidence, coverage, fuse, phrase_match, shape
from memindex.search import LOW_QUALITY_FACTOR, Hit, Searcher
from memindex.store import Store
from tests.unit.test_postgres import pg_server, pg_store  # noqa: F401  (fixtures used below)
from tests.unit.test_store import _add_video

VID = "c" * 16
LINES = [
    (0, 4, "un café au lait, s'il vous plaît"),
    (5, 9, "the cafe on the corner is closed"),
    (10, 14, "press one now to hear your messages"),
    (15, 19, "nothing about drinks here"),
]


@pytest.fixture()
def store(tmp_path, light_config) -> Store:  # type: ignore[no-untyped-def]
    s = Store(tmp_path / "s", config=light_config)
    _add_video(s, VID, LINES)
    return s


def _texts(hits: list[Hit]) -> list[str]:
    return [h.text for h in hits]


@pytest.mark.parametrize("query", ["café", "cafe", "CAFÉ"])
def test_accents_are_ignored_both_ways(store: Store, query: str) -> None:
    hits = memindex.MemoryIndex(store).search(query, k=4, tiers=["speech"])
    found = {h.text: h for h in hits if h.signals.get("coverage") == 1.0}
    assert set(found) == {LINES[0][2], LINES[1][2]}, _texts(hits)
    assert all("bm25_rank" in h.signals for h in found.values())  # the keyword index matched both


def _fts_match(path, word: str) -> list[int]:  # type: ignore[no-untyped-def]
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT rowid FROM docs_fts WHERE docs_fts MATCH ?", (f'"{word}"',))]


def test_migration_0006_rebuilds_an_accent_sensitive_index(store: Store, tmp_path, light_config) -> None:
    """A catalog whose docs_fts kept accents (as an older tokenizer did) is rebuilt on open."""
    path = store.dir / "catalog.sqlite"
    store.close()
    with sqlite3.connect(path) as conn:
        for trigger in ("docs_ai", "docs_ad", "docs_au"):
            conn.execute(f"DROP TRIGGER {trigger}")
        conn.execute("DROP TABLE docs_fts")
        conn.execute(
            "CREATE VIRTUAL TABLE docs_fts USING fts5(text, content='docs', content_rowid='id', "
            "tokenize='unicode61 remove_diacritics 0')"
        )
        conn.execute("INSERT INTO docs_fts(docs_fts) VALUES ('rebuild')")
        conn.execute("UPDATE alembic_version SET version_num = '0005'")
    assert len(_fts_match(path, "cafe")) == 1  # the accented line is not found without its accent
    reopened = Store(tmp_path / "s", config=light_config)
    assert len(_fts_match(path, "cafe")) == 2 and len(_fts_match(path, "café")) == 2
    _add_video(reopened, "d" * 16, [(0, 3, "crème brûlée")])  # the recreated triggers index new docs
    assert len(_fts_match(path, "creme")) == 1
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] >= "0006"


def test_number_words_match_digits(store: Store) -> None:
    assert coverage(["press", "1"], LINES[2][2]) == 1.0
    assert phrase_match(["press", "1", "now"], LINES[2][2]) == 1.0
    hits = memindex.MemoryIndex(store).search("press 1 now", k=2, tiers=["speech"])
    assert hits[0].text == LINES[2][2]


def test_questions_drop_scaffold_words_and_keep_quotes() -> None:
    q = shape("When does someone say 'press one now'?")
    assert q.question and "say" not in q.terms and "someone" not in q.terms
    assert q.quotes == (("press", "1", "now"),)
    assert not shape("press one now").question and shape("press one now").terms == ("press", "one", "now")
    # a line sharing only "say" with a question gets no lexical credit; the quoted line gets the phrase bonus
    scaffold, _ = fuse(shape("When does someone say hello?"), "speech", 0.3, "I say so")
    assert scaffold == pytest.approx(
        0.5 * 0.3 + 0.1 * phrase_match(["when", "does", "someone", "say", "hello"], "I say so")
    )
    quoted, _ = fuse(q, "speech", 0.3, LINES[2][2])
    assert quoted > fuse(q, "speech", 0.3, LINES[3][2])[0] + 0.2


def test_screen_lines_count_less_for_questions_not_about_the_screen() -> None:
    plain, _ = fuse(shape("Who directed the film?"), "screen", 0.4, "DIRECTOR")
    cued, _ = fuse(shape("Who is credited on screen as director?"), "screen", 0.4, "DIRECTOR")
    speech, _ = fuse(shape("Who directed the film?"), "speech", 0.4, "DIRECTOR")
    assert plain == pytest.approx(QUESTION_SCREEN_FACTOR * speech) and cued > plain


def _mark_low(store: Store, text: str) -> None:
    with sqlite3.connect(store.dir / "catalog.sqlite") as conn:
        conn.execute("UPDATE utterances SET quality = 'low' WHERE text = ?", (text,))


def test_low_quality_speech_ranks_lower(tmp_path, light_config) -> None:  # type: ignore[no-untyped-def]
    store = Store(tmp_path / "q", config=light_config)
    _add_video(store, VID, [(0, 4, "the budget meeting starts now"), (10, 14, "the budget meeting starts now")])
    _mark_low(store, "the budget meeting starts now")
    with sqlite3.connect(store.dir / "catalog.sqlite") as conn:
        conn.execute("UPDATE utterances SET quality = 'ok' WHERE start = 10")
    hits = Searcher(store).search("budget meeting", k=2, tiers=["speech"])
    assert [h.start for h in hits] == [10, 0]
    assert hits[1].signals["quality"] == "low" and "quality" not in hits[0].signals
    assert hits[1].score == pytest.approx(LOW_QUALITY_FACTOR * hits[0].score)


def test_search_works_before_the_quality_column_exists(store: Store) -> None:
    with sqlite3.connect(store.dir / "catalog.sqlite") as conn:
        conn.execute("ALTER TABLE utterances DROP COLUMN quality")
    hits = Searcher(store).search("cafe", k=2, tiers=["speech"])
    assert len(hits) == 2 and all("quality" not in h.signals for h in hits)


def test_every_hit_has_a_calibrated_confidence(store: Store) -> None:
    index = memindex.MemoryIndex(store)
    hits = index.search("press one now to hear your messages", k=4)
    assert all(0.0 <= h.confidence <= 1.0 for h in hits)
    assert hits[0].confidence == max(h.confidence for h in hits) and hits[0].signals["margin"] > 0
    out = hits[0].to_dict()
    assert out["confidence"] == round(hits[0].confidence, 4) and Hit(**out).confidence == out["confidence"]
    nonsense = index.search("zebra quantum tuba", k=1)
    assert not nonsense or nonsense[0].confidence < hits[0].confidence
    assert confidence(0.8, 0.2) > confidence(0.8, 0.0) > confidence(0.4, 0.0)


def test_accents_are_ignored_on_postgres(pg_store: Store) -> None:  # noqa: F811
    """Migration 0006 installs unaccent where the server has it; keyword search then folds accents too."""
    _add_video(pg_store, VID, LINES)
    searcher = Searcher(pg_store)
    if not searcher._pg_unaccent():
        pytest.skip("this PostgreSQL server has no unaccent extension")
    for query in ("café", "cafe"):
        hits = searcher.search(query, k=4, tiers=["speech"])
        assert {h.text for h in hits if "bm25_rank" in h.signals} == {LINES[0][2], LINES[1][2]}, query


def test_keyword_index_finds_both_number_spellings(store: Store) -> None:
    hits = Searcher(store).search("press 1", k=4, tiers=["speech"])
    assert hits[0].text == LINES[2][2] and hits[0].signals["bm25_rank"] == 0
    assert "bm25_rank" in Searcher(store).search("1", k=4, tiers=["speech"])[0].signals


class _PromptedHashing(HashingEmbedder):
    """A text embedder with a query side of its own, as e5-style models have ("query: " prompts)."""

    def embed_query(self, texts):  # type: ignore[no-untyped-def]
        return self.embed([f"query: {t}" for t in texts])


def test_queries_use_the_embedders_query_side(store: Store) -> None:
    store.set_encoders(text=_PromptedHashing(dim=store.text_embedder.dim))
    searcher = Searcher(store)
    expected = store.text_embedder.embed(["query: press one now"])[0]
    assert (searcher.query_vector("speech", "press one now") == expected).all()


def test_sentence_transformers_prompts_pick_the_role() -> None:
    """Without prompts (MiniLM) queries and documents embed alike; with them each role gets its prompt."""
    pytest.importorskip("sentence_transformers")
    from memindex.config import TextEncoderConfig
    from memindex.encoders.text import MiniLMEmbedder

    try:
        emb = MiniLMEmbedder(TextEncoderConfig(name="minilm", threads=1))
    except memindex.MemIndexError as exc:
        pytest.skip(f"packaged MiniLM unavailable: {exc}")
    # Queries go through the numpy path (memindex.encoders.bert), documents through sentence-transformers:
    # the same vector up to float rounding.
    assert emb.embed_query(["the gaudy spring"])[0] == pytest.approx(emb.embed(["the gaudy spring"])[0], abs=1e-5)
    emb._model.prompts = {"query": "query: ", "document": "passage: "}
    plain = emb._model.encode(["query: the gaudy spring", "passage: the gaudy spring"], normalize_embeddings=True)
    assert emb.embed_query(["the gaudy spring"])[0] == pytest.approx(plain[0], abs=1e-5)
    assert emb.embed(["the gaudy spring"])[0] == pytest.approx(plain[1], abs=1e-5)
