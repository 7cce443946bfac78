"""metrics.val_bpc: the val loss in bits per character, comparable across tokenizers

Revision ID: 0002_issue13_bpe
Revises: 0002_issue9
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_issue13_bpe"
down_revision = "0002_issue9"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a nullable column: ADD COLUMN on SQLite and PostgreSQL alike, no table rebuild
    op.add_column("metrics", sa.Column("val_bpc", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("metrics") as batch:  # SQLite drops columns by a rebuild
        batch.drop_column("val_bpc")
