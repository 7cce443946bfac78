"""One lease for every job (app.store.lease): the inspection gets an owner like the others,
and every job row records when its last wake-up was sent, so the reaper decides from the
database which wake-ups to send again. A queued row is held by nobody (a retried
preparation kept its last owner until now).

Revision ID: 0007_lease
Revises: 0006_corpus
Create Date: 2026-12-14
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_lease"
down_revision = "0006_corpus"
branch_labels = None
depends_on = None

_JOB_TABLES = ("datasets", "preparations", "runs", "exports")


def upgrade() -> None:
    op.add_column("datasets", sa.Column("worker_id", sa.String(200), nullable=True))
    for table in _JOB_TABLES:
        op.add_column(table, sa.Column("woken_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE preparations SET worker_id = NULL WHERE state = 'queued'")


def downgrade() -> None:
    for table in _JOB_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("woken_at")
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("worker_id")
