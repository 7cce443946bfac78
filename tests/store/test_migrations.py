"""Alembic: upgrade → downgrade → upgrade works, and the models agree with the migrations."""

import json
import os

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from studio_stack import missing

from app.store.db import make_engine
from app.store.migrate import downgrade, upgrade
from app.store.models import Base


def check_round_trip(url: str) -> None:
    upgrade(url)
    downgrade(url, "base")
    check_corpus_backfill(url)
    downgrade(url, "base")
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def check_corpus_backfill(url: str) -> None:
    """A dataset stored before corpora becomes one source holding one document."""
    from sqlalchemy import text

    upgrade(url, "0002_issue13_bpe")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO datasets (name, state, progress, bytes, characters, lines, "
                    "preview, attempts, created_at) VALUES ('old.txt', 'ready', 1.0, 3000, "
                    "2999, 10, 'To be', 0, CURRENT_TIMESTAMP)"
                )
            )
        upgrade(url)
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT documents, doc_lengths, preview_documents, sources FROM datasets")
            ).one()
    finally:
        engine.dispose()

    def loads(value):  # SQLite hands JSON back as text to a plain text() query
        return json.loads(value) if isinstance(value, str) else value

    assert row.documents == 1 and loads(row.preview_documents) == ["To be"]
    assert loads(row.doc_lengths) == [{"min": 2048, "max": 4095, "count": 1}]
    [source] = loads(row.sources)
    assert source["name"] == "old.txt" and source["format"] == "text" and source["bytes"] == 3000


def test_sqlite(tmp_path):
    check_round_trip(f"sqlite:///{tmp_path / 'm.db'}")


@pytest.mark.postgres
def test_postgresql():
    url = os.environ.get("STUDIO_TEST_DATABASE_URL")
    if not url:
        missing("PostgreSQL (set STUDIO_TEST_DATABASE_URL)")
    from sqlalchemy import text

    engine = make_engine(url)
    with engine.begin() as conn:  # its own schema, so the service tests' tables are untouched
        conn.execute(text("DROP SCHEMA IF EXISTS studio_migrations CASCADE"))
        conn.execute(text("CREATE SCHEMA studio_migrations"))
    engine.dispose()
    sep = "&" if "?" in url else "?"
    scoped = f"{url}{sep}options=-csearch_path%3Dstudio_migrations"
    try:
        check_round_trip(scoped)
    finally:
        engine = make_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS studio_migrations CASCADE"))
        engine.dispose()
