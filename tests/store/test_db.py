"""SQLite is tuned for concurrent writers: WAL, busy timeout, foreign keys, BEGIN IMMEDIATE."""

import multiprocessing

from sqlalchemy import func, select, text

from app.store.db import Database, get_db
from app.store.migrate import upgrade
from app.store.models import LogLine, Run, Sample, utcnow


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


def test_text_with_nul_is_stored_on_every_backend(services):
    """A byte-level BPE can sample the 0x00 byte, and names come from users: PostgreSQL's text
    refuses U+0000, so it is stored as U+FFFD (on SQLite too, so both give back the same)."""
    from studio_rows import make_run

    from app.store.sample_history import SampleRecord, save_sample

    run_id = make_run(name="a\x00b")
    record = SampleRecord(run_id=run_id, checkpoint="ckpt.pt", iter=6, prompt="P\x00",
                          completion="x\x00y", max_new_tokens=3, temperature=0.8, top_k=None,
                          top_p=None, seed=1, stop_at_eot=False)  # fmt: skip
    saved = save_sample(record)
    assert saved is not None
    with get_db().session() as session:
        assert session.get(Run, run_id).name == "a\ufffdb"
        sample = session.get(Sample, saved.id)
        assert (sample.prompt, sample.completion) == ("P\ufffd", "x\ufffdy")
