"""Reading runs (app/store/run_queries.py) on each database: a run's best val loss in bits
per character, from its evaluations."""

from __future__ import annotations

from studio_rows import make_evaluations, make_run

from app.store import run_queries
from app.store.db import get_db
from app.store.models import Run


def test_best_bits_per_character_is_the_lowest_evaluation_s(services) -> None:
    evaluated = make_run(name="evaluated")
    make_evaluations(evaluated, (0, 4.2, 6.06), (50, 2.1, 3.03), (100, 2.3, 3.32))
    old_data = make_run(name="data without character counts")
    make_evaluations(old_data, (0, 4.2, None))
    fresh = make_run(name="never evaluated")
    with get_db().session() as session:
        runs = [session.get(Run, i) for i in (evaluated, old_data, fresh)]
        assert run_queries.best_val_bpcs(session, runs) == {evaluated: 3.03}
        assert run_queries.best_val_bpcs(session, []) == {}
