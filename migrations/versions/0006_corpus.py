"""datasets are corpora: documents, sources, the options they were read with, a length
histogram and a preview per document; preparations say how val was held out; samples keep
stop_at_eot. Existing datasets become one source holding one document.

Revision ID: 0006_corpus
Revises: 0002_issue13_bpe
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_corpus"
down_revision = "0002_issue13_bpe"
branch_labels = None
depends_on = None

_datasets = sa.table(
    "datasets",
    sa.column("id", sa.Integer),
    sa.column("name", sa.String),
    sa.column("bytes", sa.BigInteger),
    sa.column("characters", sa.BigInteger),
    sa.column("preview", sa.Text),
    sa.column("documents", sa.BigInteger),
    sa.column("duplicates", sa.BigInteger),
    sa.column("doc_lengths", sa.JSON),
    sa.column("preview_documents", sa.JSON),
    sa.column("sources", sa.JSON),
    sa.column("options", sa.JSON),
)


def _one_document(row: sa.Row) -> dict:
    """What an uploaded text file was all along: one source holding one document."""
    values: dict = {
        "sources": [
            {
                "name": row.name,
                "format": "text",
                "bytes": row.bytes,
                "documents": 1,
                "members": {},
                "skipped": [],
                "skipped_count": 0,
                "text_field": None,
            }
        ],
        "options": {"text_field": None, "dedup": False, "on_bad_record": "error"},
    }
    if row.characters:  # described (a large upload still inspecting is filled in by its job)
        low = 1 << (row.characters.bit_length() - 1)
        values.update(
            documents=1,
            duplicates=0,
            doc_lengths=[{"min": low, "max": 2 * low - 1, "count": 1}],
            preview_documents=[row.preview or ""],
        )
    return values


def upgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.add_column(sa.Column("documents", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("duplicates", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("doc_lengths", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("preview_documents", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("sources", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("options", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("inputs", sa.JSON(), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(
            _datasets.c.id,
            _datasets.c.name,
            _datasets.c.bytes,
            _datasets.c.characters,
            _datasets.c.preview,
        )
    ).all()
    for row in rows:
        bind.execute(
            _datasets.update().where(_datasets.c.id == row.id).values(**_one_document(row))
        )
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("preview")
    op.add_column("preparations", sa.Column("split", sa.String(16), nullable=True))
    # every preparation so far held out the end of the text
    op.execute("UPDATE preparations SET split = 'tail' WHERE state = 'ready'")
    op.add_column(
        "samples",
        sa.Column("stop_at_eot", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    with op.batch_alter_table("samples") as batch:
        batch.drop_column("stop_at_eot")
    with op.batch_alter_table("preparations") as batch:
        batch.drop_column("split")
    with op.batch_alter_table("datasets") as batch:
        batch.add_column(sa.Column("preview", sa.Text(), nullable=True))
    bind = op.get_bind()
    for row in bind.execute(sa.select(_datasets.c.id, _datasets.c.preview_documents)).all():
        documents = row.preview_documents or []
        preview = "<|endoftext|>".join(documents) if documents else None
        bind.execute(_datasets.update().where(_datasets.c.id == row.id).values(preview=preview))
    with op.batch_alter_table("datasets") as batch:
        for column in (
            "inputs",
            "options",
            "sources",
            "preview_documents",
            "doc_lengths",
            "duplicates",
            "documents",
        ):
            batch.drop_column(column)
