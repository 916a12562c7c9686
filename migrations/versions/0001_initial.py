"""Initial catalog: videos, stage runs, segments, frames, speech, screen text, searchable docs.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def _video_fk() -> sa.Column:
    return sa.Column("video_id", sa.String(32), sa.ForeignKey("videos.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "videos",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("uri", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("duration", sa.Float, nullable=False),
        sa.Column("fps", sa.Float, nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("codec", sa.String(64)),
        sa.Column("audio_codec", sa.String(64)),
        sa.Column("has_audio", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
    )
    op.create_table(
        "stage_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        _video_fk(),
        sa.Column("stage", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("model", sa.String(256)),
        sa.Column("detail", sa.Text),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.UniqueConstraint("video_id", "stage"),
    )
    op.create_index("ix_stage_runs_video_id", "stage_runs", ["video_id"])
    op.create_table(
        "segments",
        sa.Column("id", sa.Integer, primary_key=True),
        _video_fk(),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("idx", sa.Integer, nullable=False),
        sa.Column("start", sa.Float, nullable=False),
        sa.Column("end", sa.Float, nullable=False),
        sa.Column("parent_id", sa.Integer, sa.ForeignKey("segments.id", ondelete="SET NULL")),
        sa.Column("caption", sa.Text),
        sa.Column("transcript", sa.Text),
        sa.Column("ocr", sa.Text),
        sa.Column("summary", sa.Text),
        sa.Column("keyframe_id", sa.Integer),
    )
    op.create_index("ix_segments_video_level_start", "segments", ["video_id", "level", "start"])
    op.create_index("ix_segments_parent_id", "segments", ["parent_id"])
    op.create_table(
        "frames",
        sa.Column("id", sa.Integer, primary_key=True),
        _video_fk(),
        sa.Column("shot_id", sa.Integer),
        sa.Column("t", sa.Float, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
    )
    op.create_index("ix_frames_video_t", "frames", ["video_id", "t"])
    op.create_table(
        "utterances",
        sa.Column("id", sa.Integer, primary_key=True),
        _video_fk(),
        sa.Column("start", sa.Float, nullable=False),
        sa.Column("end", sa.Float, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("speaker", sa.String(64)),
        sa.Column("language", sa.String(16)),
    )
    op.create_index("ix_utterances_video_start", "utterances", ["video_id", "start"])
    op.create_table(
        "words",
        sa.Column("id", sa.Integer, primary_key=True),
        _video_fk(),
        sa.Column("utterance_id", sa.Integer, sa.ForeignKey("utterances.id", ondelete="CASCADE"), nullable=False),
        sa.Column("start", sa.Float, nullable=False),
        sa.Column("end", sa.Float, nullable=False),
        sa.Column("text", sa.String(128), nullable=False),
        sa.Column("prob", sa.Float, nullable=False),
        sa.Column("speaker", sa.String(64)),
    )
    op.create_index("ix_words_video_start", "words", ["video_id", "start"])
    op.create_index("ix_words_utterance_id", "words", ["utterance_id"])
    op.create_table(
        "ocr_lines",
        sa.Column("id", sa.Integer, primary_key=True),
        _video_fk(),
        sa.Column("frame_id", sa.Integer),
        sa.Column("start", sa.Float, nullable=False),
        sa.Column("end", sa.Float, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("box", sa.Text),
        sa.Column("confidence", sa.Float, nullable=False),
    )
    op.create_index("ix_ocr_video_start", "ocr_lines", ["video_id", "start"])
    op.create_table(
        "docs",
        sa.Column("id", sa.Integer, primary_key=True),
        _video_fk(),
        sa.Column("tier", sa.String(32), nullable=False),
        sa.Column("ref_id", sa.Integer, nullable=False),
        sa.Column("start", sa.Float, nullable=False),
        sa.Column("end", sa.Float, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("vector", sa.LargeBinary),
    )
    op.create_index("ix_docs_tier_video", "docs", ["tier", "video_id"])
    op.create_index("ix_docs_video_start", "docs", ["video_id", "start"])
    op.create_table(
        "tier_state",
        sa.Column("tier", sa.String(32), primary_key=True),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("encoder", sa.String(256), nullable=False),
        sa.Column("dim", sa.Integer, nullable=False),
    )
    _create_keyword_index()


def _create_keyword_index() -> None:
    """BM25 over docs.text: FTS5 on SQLite (kept in sync by triggers), a GIN tsvector index on PostgreSQL."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE docs_fts USING fts5(text, content='docs', content_rowid='id', "
            "tokenize='unicode61 remove_diacritics 2')"
        )
        op.execute(
            "CREATE TRIGGER docs_ai AFTER INSERT ON docs BEGIN "
            "INSERT INTO docs_fts(rowid, text) VALUES (new.id, new.text); END"
        )
        op.execute(
            "CREATE TRIGGER docs_ad AFTER DELETE ON docs BEGIN "
            "INSERT INTO docs_fts(docs_fts, rowid, text) VALUES ('delete', old.id, old.text); END"
        )
        op.execute(
            "CREATE TRIGGER docs_au AFTER UPDATE OF text ON docs BEGIN "
            "INSERT INTO docs_fts(docs_fts, rowid, text) VALUES ('delete', old.id, old.text); "
            "INSERT INTO docs_fts(rowid, text) VALUES (new.id, new.text); END"
        )
    else:
        op.execute("CREATE INDEX ix_docs_text_fts ON docs USING GIN (to_tsvector('simple', text))")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("docs_ai", "docs_ad", "docs_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS docs_fts")
    for table in (
        "tier_state",
        "docs",
        "ocr_lines",
        "words",
        "utterances",
        "frames",
        "segments",
        "stage_runs",
        "videos",
    ):
        op.drop_table(table)
