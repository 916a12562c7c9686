"""Semantic memory: entities with their mentions and aliases, facts with their sources.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def _video_fk() -> sa.Column:
    return sa.Column("video_id", sa.String(32), sa.ForeignKey("videos.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "entities",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("key", sa.String(256), nullable=False),
        sa.Column("user_named", sa.Boolean, nullable=False),
        sa.Column("merged_into", sa.Integer, sa.ForeignKey("entities.id", ondelete="CASCADE")),
        sa.Column("centroid", sa.LargeBinary),
        sa.Column("weight", sa.Float, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_index("ix_entities_kind_key", "entities", ["kind", "key"])
    op.create_index("ix_entities_merged_into", "entities", ["merged_into"])
    op.create_table(
        "entity_mentions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("entity_id", sa.Integer, sa.ForeignKey("entities.id", ondelete="CASCADE"), nullable=False),
        _video_fk(),
        sa.Column("start", sa.Float, nullable=False),
        sa.Column("end", sa.Float, nullable=False),
        sa.Column("segment_id", sa.Integer, sa.ForeignKey("segments.id", ondelete="SET NULL")),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("text", sa.Text),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("embedding", sa.LargeBinary),
    )
    op.create_index("ix_entity_mentions_entity_id", "entity_mentions", ["entity_id"])
    op.create_index("ix_entity_mentions_video_start", "entity_mentions", ["video_id", "start"])
    op.create_table(
        "entity_aliases",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("entity_id", sa.Integer, sa.ForeignKey("entities.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.String(256), nullable=False),
        sa.Column("video_key", sa.String(32), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.UniqueConstraint("kind", "key", "video_key", name="uq_entity_aliases_kind_key_video"),
    )
    op.create_index("ix_entity_aliases_entity_id", "entity_aliases", ["entity_id"])
    op.create_table(
        "facts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("subject_entity_id", sa.Integer, sa.ForeignKey("entities.id", ondelete="CASCADE"), nullable=False),
        sa.Column("relation", sa.String(128), nullable=False),
        sa.Column("object_text", sa.Text, nullable=False),
        sa.Column("object_entity_id", sa.Integer, sa.ForeignKey("entities.id", ondelete="SET NULL")),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("first_seen", _TS, nullable=False),
        sa.Column("last_seen", _TS, nullable=False),
    )
    op.create_index("ix_facts_subject_entity_id", "facts", ["subject_entity_id"])
    op.create_index("ix_facts_object_entity_id", "facts", ["object_entity_id"])
    op.create_table(
        "fact_sources",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("fact_id", sa.Integer, sa.ForeignKey("facts.id", ondelete="CASCADE"), nullable=False),
        _video_fk(),
        sa.Column("segment_id", sa.Integer, sa.ForeignKey("segments.id", ondelete="SET NULL")),
        sa.Column("start", sa.Float, nullable=False),
        sa.Column("end", sa.Float, nullable=False),
        sa.Column("text", sa.Text),
    )
    op.create_index("ix_fact_sources_fact_id", "fact_sources", ["fact_id"])
    op.create_index("ix_fact_sources_video_start", "fact_sources", ["video_id", "start"])


def downgrade() -> None:
    for table in ("fact_sources", "facts", "entity_aliases", "entity_mentions", "entities"):
        op.drop_table(table)
