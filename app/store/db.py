"""Engines and sessions. SQLite gets WAL, a busy timeout, foreign keys and BEGIN IMMEDIATE for
writers, so concurrent writers wait their turn instead of failing with "database is locked"."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["Database", "Session", "get_db", "make_engine", "ping", "reset_db"]

from app.store.settings import get_settings

BUSY_TIMEOUT_MS = 30_000
_WRITE = {"studio_write": True}


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000}, **kwargs)
        _tune_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (pysqlite's implicit BEGIN is deferred).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A deferred transaction that later writes can fail at once with SQLITE_BUSY when
        # another writer got in first; writers take the write lock up front instead.
        immediate = conn.get_execution_options().get("studio_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """An engine plus session factories for readers and writers; one per process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(self.engine.execution_options(**_WRITE), expire_on_commit=False)

    def session(self, *, write: bool = False) -> Session:
        return (self._write if write else self._read)()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write session committed on success, rolled back on error."""
        with self.session(write=True) as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


_db: Database | None = None
_pid: int | None = None


def get_db() -> Database:
    """The process's Database; a forked child gets a fresh pool instead of its parent's."""
    global _db, _pid
    if _db is None or _pid != os.getpid():
        if _db is not None:
            _db.engine.dispose(close=False)
        _db = Database(get_settings().sqlalchemy_url)
        _pid = os.getpid()
    return _db


def ping() -> bool:
    """Whether the database answers (for /health)."""
    try:
        with get_db().session() as session:
            session.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


def reset_db() -> None:
    """Forget the process's Database (tests and `serve` call this after changing settings)."""
    global _db
    if _db is not None:
        _db.dispose()
    _db = None
