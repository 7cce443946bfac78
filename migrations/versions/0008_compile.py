"""A run's torch.compile as its process has it: on, off, or "failed: <reason>" when the
compilation failed and the run went on in eager mode (issue 23).

Revision ID: 0008_compile
Revises: 0007_lease
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_compile"
down_revision = "0007_lease"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("compile", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("compile")
