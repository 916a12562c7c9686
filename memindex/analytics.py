"""DuckDB analytics over the catalog: read-only SQL on documented views, and Parquet exports.

The catalog is attached read-only through DuckDB's scanner extensions (``sqlite_scanner`` for the embedded
store, ``postgres_scanner`` for a PostgreSQL catalog), loaded from their PyPI wheels (``INSTALL`` from the
network is never tried). SQLite in WAL mode lets a read-only reader run beside the live writer, so analytics
never lock the store. The views (docs/analytics.md) hide surrogate plumbing and add the columns analysts ask
for (durations, file names, the speaker's entity name).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from importlib import resources
from pathlib import Path
from typing import Any

from memindex.errors import ConfigError, MissingDependencyError, QueryError
from memindex.store import Store

__all__ = ["VIEWS", "connect", "run_sql", "export_parquet", "format_rows"]

VIEWS: dict[str, str] = {
    "videos": """SELECT id AS video_id, uri, regexp_extract(uri, '[^/]*$') AS name, duration, fps, width,
        height, codec, audio_codec, has_audio, status, error, created_at FROM catalog.videos""",
    "stage_runs": """SELECT video_id, stage, status, model, detail, seconds, updated_at
        FROM catalog.stage_runs""",
    "segments": """SELECT id AS segment_id, video_id, level, idx, start, "end", "end" - start AS duration,
        parent_id, caption, transcript, ocr, summary FROM catalog.segments""",
    "utterances": """SELECT u.id AS utterance_id, u.video_id, u.start, u."end", u."end" - u.start AS duration,
        u.text, u.speaker, u.language FROM catalog.utterances u""",
    "words": """SELECT w.video_id, w.utterance_id, w.start, w."end", w.text, w.prob, w.speaker
        FROM catalog.words w""",
    "ocr_lines": """SELECT video_id, start, "end", text, confidence FROM catalog.ocr_lines""",
    "entities": """SELECT e.id AS entity_id, e.kind, e.name, e.user_named, e.weight,
        (SELECT count(*) FROM catalog.entity_mentions m WHERE m.entity_id = e.id) AS mentions
        FROM catalog.entities e WHERE e.merged_into IS NULL""",
    "mentions": """SELECT m.entity_id, e.name AS entity, e.kind, m.video_id, m.start, m."end", m.source, m.text,
        m.confidence FROM catalog.entity_mentions m JOIN catalog.entities e ON e.id = m.entity_id""",
    "facts": """SELECT f.id AS fact_id, e.name AS subject, f.relation, f.object_text AS object, f.source,
        f.confidence, f.first_seen, f.last_seen FROM catalog.facts f
        JOIN catalog.entities e ON e.id = f.subject_entity_id""",
}
_FORMATS = ("table", "json", "csv")
_WRITES = re.compile(
    r"^\s*(insert|update|delete|create|drop|alter|attach|detach|copy|install|load|pragma|set|"
    r"call|export|import|checkpoint|vacuum)\b",
    re.I,
)


def _duckdb() -> Any:
    try:
        import duckdb
    except ImportError as exc:
        raise MissingDependencyError("duckdb", "analytics", "SQL analytics") from exc
    return duckdb


def _load_extension(conn: Any, package: str, name: str) -> None:
    duckdb = _duckdb()
    try:
        root = resources.files(package)
    except ModuleNotFoundError as exc:
        raise MissingDependencyError(package.replace("_", "-"), "analytics", f"reading the catalog ({name})") from exc
    path = Path(str(root)) / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.is_file():
        raise MissingDependencyError(
            f"{package.replace('_', '-')}=={duckdb.__version__}",
            "analytics",
            f"DuckDB {duckdb.__version__} ({name} for this version)",
        )
    conn.execute(f"LOAD '{path}'")


def connect(store: Store) -> Any:
    """An in-memory DuckDB with the catalog attached read-only as ``catalog`` and the views defined."""
    duckdb = _duckdb()
    conn = duckdb.connect(
        ":memory:", config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )
    url = store.catalog_url
    if url.startswith("sqlite"):
        _load_extension(conn, "duckdb_extension_sqlite_scanner", "sqlite_scanner")
        conn.execute(f"ATTACH '{_quote(_sqlite_path(url))}' AS catalog (TYPE sqlite, READ_ONLY)")
    elif url.startswith("postgres"):
        from memindex.catalog.db import collection_schema

        _load_extension(conn, "duckdb_extension_postgres_scanner", "postgres_scanner")
        dsn = re.sub(r"^postgresql(\+\w+)?://", "postgresql://", url)
        conn.execute(f"ATTACH '{_quote(dsn)}' AS pg (TYPE postgres, READ_ONLY)")
        conn.execute("CREATE SCHEMA IF NOT EXISTS catalog")
        schema = collection_schema(store.collection)
        for table in (
            "videos",
            "stage_runs",
            "segments",
            "utterances",
            "words",
            "ocr_lines",
            "entities",
            "entity_mentions",
            "facts",
        ):
            conn.execute(f'CREATE VIEW catalog.{table} AS SELECT * FROM pg."{schema}".{table}')
    else:
        raise ConfigError(f"analytics cannot read a catalog at {url.split(':', 1)[0]!r} URLs")
    for name, body in VIEWS.items():
        conn.execute(f"CREATE VIEW {name} AS {body}")
    return conn


def _sqlite_path(url: str) -> str:
    from urllib.parse import unquote

    from sqlalchemy.engine import make_url

    database = make_url(url).database or ""
    return unquote(database[len("file:") :]) if database.startswith("file:") else database


def _quote(text: str) -> str:
    return text.replace("'", "''")


def run_sql(store: Store, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """(column names, rows) of one read-only query over the views."""
    if not sql.strip():
        raise QueryError("no SQL given")
    if _WRITES.match(sql):
        raise QueryError("only read-only queries (SELECT, WITH, DESCRIBE, SHOW, SUMMARIZE) are allowed")
    conn = connect(store)
    duckdb = _duckdb()
    try:
        cur = conn.execute(sql)
        cols = [d[0] for d in cur.description or []]
        return cols, cur.fetchall()
    except duckdb.Error as exc:
        raise QueryError(f"SQL error: {str(exc).splitlines()[0]}") from exc
    finally:
        conn.close()


def export_parquet(store: Store, folder: str | Path) -> dict[str, int]:
    """Every view as ``folder/<view>.parquet``; returns rows written per view."""
    out = Path(folder).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    conn = connect(store)
    try:
        counts = {}
        for name in VIEWS:
            target = out / f"{name}.parquet"
            conn.execute(f"COPY (SELECT * FROM {name}) TO '{_quote(str(target))}' (FORMAT parquet)")
            counts[name] = int(conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0])
        return counts
    finally:
        conn.close()


def format_rows(cols: list[str], rows: list[tuple[Any, ...]], fmt: str) -> str:
    """``table`` (aligned text), ``json`` (a list of objects) or ``csv``."""
    if fmt not in _FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; valid: {list(_FORMATS)}")
    if fmt == "json":
        return json.dumps(
            [dict(zip(cols, map(_jsonable, r), strict=True)) for r in rows], ensure_ascii=False, default=str
        )
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(cols)
        writer.writerows(rows)
        return buf.getvalue().rstrip("\n")
    cells = [cols] + [[_cell(v) for v in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if value == value else "nan"
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(value))
