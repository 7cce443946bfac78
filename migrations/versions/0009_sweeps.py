"""sweeps: trials of ordinary runs suggested by Optuna's TPE and pruned from their
evaluations; a run's prune_requested makes its stop end it `pruned`.

Revision ID: 0009_sweeps
Revises: 0008_compile
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_sweeps"
down_revision = "0008_compile"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sweeps",
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column(
            "dataset_id", ID, sa.ForeignKey("datasets.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("tokenizer", sa.String(16), nullable=False),
        sa.Column("val_fraction", sa.Float(), nullable=False),
        sa.Column("preset", sa.String(64), nullable=True),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("space", sa.JSON(), nullable=False),
        sa.Column("budget_s", sa.Float(), nullable=True),
        sa.Column("trials", sa.Integer(), nullable=False),
        sa.Column("parallel", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("failure_message", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_sweeps_state", "sweeps", ["state"])
    op.create_table(
        "sweep_trials",
        sa.Column("id", ID, primary_key=True),
        sa.Column("sweep_id", ID, sa.ForeignKey("sweeps.id", ondelete="CASCADE"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("run_id", ID, sa.ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("sweep_id", "number", name="uq_sweep_trial_number"),
        sqlite_autoincrement=True,
    )
    op.add_column(
        "runs",
        sa.Column("prune_requested", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("prune_requested")
    op.drop_table("sweep_trials")
    op.drop_index("ix_sweeps_state", "sweeps")
    op.drop_table("sweeps")
