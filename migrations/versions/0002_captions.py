"""Keyframe captions, cached per (frame, captioner model) so re-runs reuse them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "frame_captions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("frame_id", sa.Integer, sa.ForeignKey("frames.id", ondelete="CASCADE"), nullable=False),
        sa.Column("video_id", sa.String(32), sa.ForeignKey("videos.id", ondelete="CASCADE"), nullable=False),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("frame_id", "model", name="uq_frame_captions_frame_model"),
    )
    op.create_index("ix_frame_captions_video_id", "frame_captions", ["video_id"])


def downgrade() -> None:
    op.drop_index("ix_frame_captions_video_id", table_name="frame_captions")
    op.drop_table("frame_captions")
