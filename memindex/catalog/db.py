"""Engines for the catalog (SQLite in WAL mode by default, PostgreSQL by URL) and schema migration."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from importlib import resources
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DatabaseError, OperationalError

from memindex.errors import CorruptStoreError, ReadOnlyStoreError, SchemaError, StoreError

__all__ = ["make_engine", "migrate", "head_revision", "sqlite_url", "collection_schema"]

log = logging.getLogger(__name__)


def collection_schema(collection: str) -> str:
    """The PostgreSQL schema that holds one collection's tables on a shared server (names stay < 64 bytes)."""
    name = f"memindex_{collection}"
    if len(name) <= 63:
        return name
    return f"memindex_{collection[:36]}_{hashlib.sha1(collection.encode()).hexdigest()[:16]}"


def make_engine(url: str, *, schema: str | None = None, read_only: bool = False) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout on every connection; on
    PostgreSQL every connection works in ``schema`` (one per collection), created when missing."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_read_pragmas if read_only else _sqlite_pragmas)
        return engine
    engine = create_engine(url, pool_pre_ping=True)
    if schema is not None:
        quoted = '"' + schema.replace('"', '""') + '"'
        if not read_only:
            with engine.begin() as conn:
                conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {quoted}"))

        def _search_path(dbapi_conn: object, _record: object) -> None:
            cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
            cur.execute(f"SET search_path TO {quoted}")
            cur.close()
            dbapi_conn.commit()  # type: ignore[attr-defined]

        event.listen(engine, "connect", _search_path)
        engine.dispose()  # connections made before the listener have the default path
    return engine


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_read_pragmas(dbapi_conn: object, _record: object) -> None:
    cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA query_only=ON")
    cur.close()


def _script_location() -> str:
    """``migrations/`` ships in the wheel as ``memindex.migrations``; in a source checkout it sits beside
    ``memindex/`` (when the checkout is on sys.path ahead of the editable install's finder)."""
    try:
        return str(resources.files("memindex.migrations"))
    except ModuleNotFoundError:
        checkout = Path(__file__).resolve().parents[2] / "migrations"
        if (checkout / "env.py").exists():
            return str(checkout)
        raise StoreError("memindex's migrations are missing from this installation") from None


def _alembic_config(connection: Connection):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", _script_location())
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", _script_location())
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    from alembic.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def migrate(engine: Engine, where: str, *, read_only: bool = False) -> None:
    """Apply pending migrations; refuse a catalog whose revision this code does not know. A damaged or
    foreign file is a ``CorruptStoreError`` naming it; a read-only catalog must already be at head."""
    try:
        _migrate(engine, where, read_only)
    except (DatabaseError, sqlite3.DatabaseError) as exc:
        if isinstance(exc, OperationalError) and "readonly" in str(exc).replace(" ", "").lower():
            raise ReadOnlyStoreError(f"the catalog is read-only: {exc.orig}", path=where) from exc
        raise CorruptStoreError(
            f"the catalog cannot be read ({getattr(exc, 'orig', exc)}); restore it from a backup, or move "
            "the collection folder away to start an empty one",
            path=where,
        ) from exc


# The newest migration in migrations/versions (tests/unit/test_store.py checks it against Alembic's head): a
# SQLite catalog already there opens without importing Alembic or parsing the migration scripts (0.4-0.7 s of
# a cold query).
SCHEMA_HEAD = "0006"


def _at_head(engine: Engine) -> bool:
    if engine.dialect.name != "sqlite":
        return False
    with engine.connect() as conn:
        try:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        except (DatabaseError, sqlite3.DatabaseError):
            return False  # no version table yet, or a damaged file: the full path below says which
    return [r[0] for r in rows] == [SCHEMA_HEAD]


def _migrate(engine: Engine, where: str, read_only: bool) -> None:
    if _at_head(engine):
        return
    from alembic import command
    from alembic.script import ScriptDirectory

    with engine.begin() as conn:
        cfg = _alembic_config(conn)
        script = ScriptDirectory.from_config(cfg)
        current = current_revision(conn)
        known = {rev.revision for rev in script.walk_revisions()}
        if current is not None and current not in known:
            raise SchemaError(
                f"the catalog is at schema revision {current!r}, newer than this memindex knows "
                f"(head {script.get_current_head()!r}); upgrade memindex",
                path=where,
            )
        if current != script.get_current_head() and read_only:
            raise ReadOnlyStoreError(
                f"the catalog is at schema revision {current!r} and needs migrating to "
                f"{script.get_current_head()!r}: open it once where it is writable",
                path=where,
            )
        if current != script.get_current_head():
            log.info("migrating catalog %s from %s to %s", where, current, script.get_current_head())
            try:
                command.upgrade(cfg, "head")
            except Exception as exc:  # translated at the boundary
                raise StoreError(f"schema migration failed: {exc}", path=where) from exc


def sqlite_url(path: Path, *, read_only: bool = False, immutable: bool = False) -> str:
    """The URL of a catalog file; read-only opens it with ``mode=ro`` (``immutable=1`` on read-only media,
    where SQLite cannot create the WAL's shared-memory file)."""
    if not read_only:
        return f"sqlite:///{path}"
    flags = "immutable=1" if immutable else "mode=ro"
    return f"sqlite:///file:{quote(str(path))}?{flags}&uri=true"


def check_fts(engine: Engine) -> bool:
    """True when the keyword index is SQLite FTS5 (False: PostgreSQL full-text)."""
    with engine.connect() as conn:
        if engine.dialect.name != "sqlite":
            return False
        conn.execute(text("SELECT count(*) FROM docs_fts"))
        return True
