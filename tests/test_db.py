"""SQLite is tuned for concurrent writers: WAL, busy timeout, foreign keys, BEGIN IMMEDIATE."""

import multiprocessing

from sqlalchemy import func, select, text

from app.store.db import Database
from app.store.migrate import upgrade
from app.store.models import LogLine, Run, utcnow


def test_sqlite_pragmas(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'p.db'}")
    with db.session() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert session.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
    db.dispose()


def _writer(url: str, run_id: int, count: int) -> None:
    db = Database(url)
    for i in range(count):
        with db.transaction() as session:  # read-then-write, the pattern that used to fail
            session.scalar(select(func.count()).select_from(LogLine))
            session.add(LogLine(run_id=run_id, line=f"line {i}", logged_at=utcnow()))
    db.dispose()


def test_concurrent_writers_never_see_database_is_locked(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    upgrade(url)
    db = Database(url)
    with db.transaction() as session:
        run = Run(name="r", tokenizer="char", val_fraction=0.1, config={}, state="running",
                  max_iters=1, cancel_requested=False, iter=0, attempts=0)  # fmt: skip
        session.add(run)
        session.flush()
        run_id = run.id
    ctx = multiprocessing.get_context("spawn")
    writers = [ctx.Process(target=_writer, args=(url, run_id, 100)) for _ in range(4)]
    for p in writers:
        p.start()
    for p in writers:
        p.join(60)
    assert [p.exitcode for p in writers] == [0, 0, 0, 0]
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(LogLine)) == 400
    db.dispose()
