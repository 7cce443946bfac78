"""placement: the devices a run asks for, the queue that holds it, where it runs; the
deployment's id (checked against the marker file in the shared data directory)

Revision ID: 0002_issue9
Revises: 0002_issue12_run
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_issue9"
down_revision = "0002_issue12_run"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("queue", sa.String(64), nullable=False, server_default="train"))
        batch.add_column(sa.Column("devices", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("placement", sa.JSON(), nullable=True))
    op.create_table(
        "deployment",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("deployment")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("placement")
        batch.drop_column("devices")
        batch.drop_column("queue")
