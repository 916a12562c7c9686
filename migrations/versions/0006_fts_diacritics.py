"""Accent-insensitive keyword search: "café" finds "cafe" and the other way round.

SQLite: docs_fts is recreated with the ``unicode61 remove_diacritics 2`` tokenizer (accents folded at index
and query time) and rebuilt from ``docs``, whatever tokenizer an older catalog had; its triggers are recreated.
PostgreSQL: when the ``unaccent`` extension can be installed (or already is), an IMMUTABLE wrapper
``memindex_unaccent(text)`` is created in the collection's schema and the GIN index is rebuilt over
``to_tsvector('simple', memindex_unaccent(text))``; search uses the wrapper when it exists. Without the
extension (not installed on the server, or no privilege to create it) the plain index stays and keyword search
there is accent-sensitive (docs/agent.md says so).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)

_TRIGGERS = {
    "docs_ai": "AFTER INSERT ON docs BEGIN INSERT INTO docs_fts(rowid, text) VALUES (new.id, new.text); END",
    "docs_ad": "AFTER DELETE ON docs BEGIN "
    "INSERT INTO docs_fts(docs_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
    "docs_au": "AFTER UPDATE OF text ON docs BEGIN "
    "INSERT INTO docs_fts(docs_fts, rowid, text) VALUES ('delete', old.id, old.text); "
    "INSERT INTO docs_fts(rowid, text) VALUES (new.id, new.text); END",
}


def _sqlite_fts(tokenizer: str) -> None:
    for name in _TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS docs_fts")
    op.execute(
        f"CREATE VIRTUAL TABLE docs_fts USING fts5(text, content='docs', content_rowid='id', tokenize='{tokenizer}')"
    )
    op.execute("INSERT INTO docs_fts(docs_fts) VALUES ('rebuild')")
    for name, body in _TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")


def _unaccent_schema(bind: sa.Connection) -> str | None:
    """The schema holding the unaccent extension, installing it when possible (None: not available)."""
    find = sa.text(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'unaccent'"
    )
    schema = bind.execute(find).scalar()
    if schema is not None:
        return str(schema)
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS unaccent SCHEMA public"))
    except sa.exc.DBAPIError as exc:  # not installed on the server, or no privilege: keep the plain index
        log.warning("PostgreSQL unaccent is unavailable (%s); keyword search stays accent-sensitive", exc.orig)
        return None
    return bind.execute(find).scalar()


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _sqlite_fts("unicode61 remove_diacritics 2")
        return
    schema = _unaccent_schema(bind)
    if schema is None:
        return
    q = '"' + schema.replace('"', '""') + '"'
    op.execute(
        "CREATE OR REPLACE FUNCTION memindex_unaccent(text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE "
        f"STRICT AS $$ SELECT {q}.unaccent('{q}.unaccent'::regdictionary, $1) $$"
    )
    op.execute("DROP INDEX IF EXISTS ix_docs_text_fts")
    op.execute("CREATE INDEX ix_docs_text_fts ON docs USING GIN (to_tsvector('simple', memindex_unaccent(text)))")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _sqlite_fts("unicode61 remove_diacritics 2")  # what 0001 created
        return
    op.execute("DROP INDEX IF EXISTS ix_docs_text_fts")
    op.execute("DROP FUNCTION IF EXISTS memindex_unaccent(text)")
    op.execute("CREATE INDEX ix_docs_text_fts ON docs USING GIN (to_tsvector('simple', text))")
