"""Engines for the catalog (SQLite in WAL mode by default, PostgreSQL by URL) and schema migration."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection

from memindex.errors import SchemaError, StoreError

__all__ = ["make_engine", "migrate", "head_revision"]

log = logging.getLogger(__name__)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, foreign keys and a busy timeout on every connection."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_conn: object, _record: object) -> None:
    cur = dbapi_conn.cursor()  # type: ignore[attr-defined]
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
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


def migrate(engine: Engine, where: str) -> None:
    """Apply pending migrations; refuse a catalog whose revision this code does not know."""
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
        if current != script.get_current_head():
            log.info("migrating catalog %s from %s to %s", where, current, script.get_current_head())
            try:
                command.upgrade(cfg, "head")
            except Exception as exc:  # translated at the boundary
                raise StoreError(f"schema migration failed: {exc}", path=where) from exc


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def check_fts(engine: Engine) -> bool:
    """True when the keyword index is SQLite FTS5 (False: PostgreSQL full-text)."""
    with engine.connect() as conn:
        if engine.dialect.name != "sqlite":
            return False
        conn.execute(text("SELECT count(*) FROM docs_fts"))
        return True
