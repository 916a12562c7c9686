"""Utterance language probability and quality: ``language_prob`` (posterior of the identified language),
``quality`` ('ok' | 'low', kept so search can rank it lower) and ``flags`` (comma-separated reasons).
Utterances written before this revision read as quality 'ok' with no probability.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("utterances") as batch:
        batch.add_column(sa.Column("language_prob", sa.Float, nullable=True))
        batch.add_column(sa.Column("quality", sa.String(8), nullable=False, server_default="ok"))
        batch.add_column(sa.Column("flags", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("utterances") as batch:
        batch.drop_column("flags")
        batch.drop_column("quality")
        batch.drop_column("language_prob")
