"""a run's samples (prompt, options, seed, checkpoint, text) and a running run's phase

Revision ID: 0002_issue12_run
Revises: 0002_issue12_export
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_issue12_run"
down_revision = "0002_issue12_export"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    # A plain ADD COLUMN (SQLite has one): a batch copy of `runs` would cascade-delete its
    # history when the old table is dropped.
    op.add_column("runs", sa.Column("phase", sa.String(16), nullable=True))
    op.create_table(
        "samples",
        sa.Column("id", ID, primary_key=True),
        sa.Column("run_id", ID, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("checkpoint", sa.String(64), nullable=False),
        sa.Column("iter", sa.Integer(), nullable=True),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("completion", sa.Text(), nullable=False),
        sa.Column("max_new_tokens", sa.Integer(), nullable=False),
        sa.Column("temperature", sa.Float(), nullable=False),
        sa.Column("top_k", sa.Integer(), nullable=True),
        sa.Column("top_p", sa.Float(), nullable=True),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_samples_run_id_id", "samples", ["run_id", "id"])


def downgrade() -> None:
    op.drop_table("samples")
    op.drop_column("runs", "phase")  # SQLite 3.35+ drops a column in place
