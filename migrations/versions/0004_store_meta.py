"""Store identity and id allocation: ``store_meta`` holds the catalog's random id (tier files carry it, so a
tier written against another catalog is never trusted), the collection the catalog belongs to, and the
high-water mark of ``docs.id`` (ids are never reused, so a stale vector can never pass for a new doc).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    meta = op.create_table(
        "store_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    bind = op.get_bind()
    high = bind.execute(sa.text("SELECT COALESCE(MAX(id), 0) FROM docs")).scalar() or 0
    op.bulk_insert(
        meta,
        [
            {"key": "catalog_id", "value": uuid.uuid4().hex},
            {"key": "next_doc_id", "value": str(int(high) + 1)},
        ],
    )


def downgrade() -> None:
    op.drop_table("store_meta")
