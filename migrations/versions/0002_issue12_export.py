"""exports: a run's checkpoint packed in another tool's format (hf, safetensors, nanogpt)

Revision ID: 0002_issue12_export
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_issue12_export"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "exports",
        sa.Column("id", ID, primary_key=True),
        sa.Column("run_id", ID, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("checkpoint", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("failure_reason", sa.String(16), nullable=True),
        sa.Column("failure_message", sa.Text(), nullable=True),
        sa.Column("iter", sa.Integer(), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.String(200), nullable=True),
        sa.Column("heartbeat_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_exports_run_id_id", "exports", ["run_id", "id"])
    op.create_index("ix_exports_state", "exports", ["state"])


def downgrade() -> None:
    op.drop_index("ix_exports_state", table_name="exports")
    op.drop_index("ix_exports_run_id_id", table_name="exports")
    op.drop_table("exports")
