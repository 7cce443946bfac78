"""evaluations: a run's checkpoint scored on a text of the user's (a dataset or pasted text):
loss, perplexity and bits per character, worked by a job under the one lease

Revision ID: 0010_evaluations
Revises: 0009_sweeps
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_evaluations"
down_revision = "0009_sweeps"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "evaluations",
        sa.Column("id", ID, primary_key=True),
        sa.Column("run_id", ID, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column(
            "dataset_id", ID, sa.ForeignKey("datasets.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("dataset_name", sa.String(200), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("checkpoint", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("failure_reason", sa.String(16), nullable=True),
        sa.Column("failure_message", sa.Text(), nullable=True),
        sa.Column("iter", sa.Integer(), nullable=True),
        sa.Column("loss", sa.Float(), nullable=True),
        sa.Column("perplexity", sa.Float(), nullable=True),
        sa.Column("bits_per_char", sa.Float(), nullable=True),
        sa.Column("tokens", sa.BigInteger(), nullable=True),
        sa.Column("characters", sa.BigInteger(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.String(200), nullable=True),
        sa.Column("heartbeat_at", TS, nullable=True),
        sa.Column("woken_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_evaluations_run_id_id", "evaluations", ["run_id", "id"])
    op.create_index("ix_evaluations_state", "evaluations", ["state"])
    op.create_index("ix_evaluations_dataset_id", "evaluations", ["dataset_id"])


def downgrade() -> None:
    op.drop_index("ix_evaluations_dataset_id", table_name="evaluations")
    op.drop_index("ix_evaluations_state", table_name="evaluations")
    op.drop_index("ix_evaluations_run_id_id", table_name="evaluations")
    op.drop_table("evaluations")
