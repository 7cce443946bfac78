"""initial schema: datasets, preparations, runs, metrics, log lines, checkpoints

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def _id() -> sa.Column:
    return sa.Column("id", ID, primary_key=True)


def upgrade() -> None:
    op.create_table(
        "datasets",
        _id(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("characters", sa.BigInteger(), nullable=True),
        sa.Column("lines", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("preview", sa.Text(), nullable=True),
        sa.Column("vocab", sa.JSON(), nullable=True),
        sa.Column("gpt2_tokens", sa.BigInteger(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("heartbeat_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_datasets_created_at", "datasets", ["created_at"])

    op.create_table(
        "preparations",
        _id(),
        sa.Column(
            "dataset_id", ID, sa.ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("tokenizer", sa.String(16), nullable=False),
        sa.Column("val_fraction", sa.Float(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("train_tokens", sa.BigInteger(), nullable=True),
        sa.Column("val_tokens", sa.BigInteger(), nullable=True),
        sa.Column("vocab_size", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.String(200), nullable=True),
        sa.Column("heartbeat_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.UniqueConstraint("dataset_id", "tokenizer", "val_fraction", name="uq_preparation"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_preparations_state", "preparations", ["state"])

    op.create_table(
        "runs",
        _id(),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("dataset_id", ID, sa.ForeignKey("datasets.id", ondelete="SET NULL")),
        sa.Column("preparation_id", ID, sa.ForeignKey("preparations.id", ondelete="SET NULL")),
        sa.Column("tokenizer", sa.String(16), nullable=False),
        sa.Column("val_fraction", sa.Float(), nullable=False),
        sa.Column("preset", sa.String(64), nullable=True),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("failure_reason", sa.String(16), nullable=True),
        sa.Column("failure_message", sa.Text(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("iter", sa.Integer(), nullable=False),
        sa.Column("max_iters", sa.Integer(), nullable=False),
        sa.Column("best_val_loss", sa.Float(), nullable=True),
        sa.Column("last_train_loss", sa.Float(), nullable=True),
        sa.Column("last_val_loss", sa.Float(), nullable=True),
        sa.Column("tokens_per_sec", sa.Float(), nullable=True),
        sa.Column("mfu", sa.Float(), nullable=True),
        sa.Column("eta_s", sa.Float(), nullable=True),
        sa.Column("device", sa.String(64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.String(200), nullable=True),
        sa.Column("heartbeat_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("queued_at", TS, nullable=True),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_runs_created_at", "runs", ["created_at"])
    op.create_index("ix_runs_state_id", "runs", ["state", "id"])
    op.create_index("ix_runs_dataset_id_id", "runs", ["dataset_id", "id"])
    op.create_index("ix_runs_preparation_id", "runs", ["preparation_id"])
    op.create_index("ix_runs_state_queued_at", "runs", ["state", "queued_at"])

    op.create_table(
        "checkpoints",
        _id(),
        sa.Column("run_id", ID, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("iter", sa.Integer(), nullable=False),
        sa.Column("val_loss", sa.Float(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("run_id", "name", name="uq_checkpoint_run_name"),
        sqlite_autoincrement=True,
    )

    op.create_table(
        "log_lines",
        _id(),
        sa.Column("run_id", ID, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("logged_at", TS, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_log_lines_run_id_id", "log_lines", ["run_id", "id"])

    op.create_table(
        "metrics",
        _id(),
        sa.Column("run_id", ID, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("iter", sa.Integer(), nullable=False),
        sa.Column("train_loss", sa.Float(), nullable=True),
        sa.Column("val_loss", sa.Float(), nullable=True),
        sa.Column("eval_train_loss", sa.Float(), nullable=True),
        sa.Column("lr", sa.Float(), nullable=True),
        sa.Column("tokens_per_sec", sa.Float(), nullable=True),
        sa.Column("mfu", sa.Float(), nullable=True),
        sa.Column("memory_bytes", sa.BigInteger(), nullable=True),
        sa.Column("elapsed_s", sa.Float(), nullable=True),
        sa.Column("logged_at", TS, nullable=False),
        sa.UniqueConstraint("run_id", "iter", name="uq_metric_run_iter"),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    for table in ("metrics", "log_lines", "checkpoints", "runs", "preparations", "datasets"):
        op.drop_table(table)
