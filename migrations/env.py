"""Alembic environment: memindex passes its own connection; the same history serves SQLite and PostgreSQL."""

from alembic import context

from memindex.catalog.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("memindex migrations run through memindex.catalog.db.migrate(), with a connection")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
