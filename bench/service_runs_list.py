"""`GET /api/v1/runs` latency with many runs in the database.

    python bench/service_runs_list.py [--runs 10000] [--requests 500] [--database-url URL]

Fills a fresh database (SQLite in a temp dir unless --database-url) with --runs runs, some
queued (so queue positions are computed), starts the API, and times --requests list calls
(first page of 50, and a filtered page) over loopback: p50/p99 in ms, client side."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._stack import machine, percentile, service


def fill(count: int, queued: int = 20) -> None:
    """count finished runs, the newest `queued` of them waiting on the train queue."""
    from sqlalchemy import insert

    from app.store.db import get_db
    from app.store.models import Run, utcnow
    from worker.engine.config.presets import preset_config

    config = preset_config("tiny-cpu").to_dict()
    start = utcnow() - timedelta(seconds=count)
    states = ("succeeded", "failed", "cancelled", "succeeded", "succeeded")

    def row(i: int) -> dict:
        when = start + timedelta(seconds=i)
        state = "queued" if i >= count - queued else states[i % len(states)]
        return {
            "name": f"run {i}", "tokenizer": "char", "val_fraction": 0.1, "preset": "tiny-cpu",
            "config": config, "state": state, "cancel_requested": False, "iter": 2000,
            "max_iters": 2000, "attempts": 1, "created_at": when, "queued_at": when,
            "best_val_loss": 1.5, "last_train_loss": 1.4,
        }  # fmt: skip

    with get_db().transaction() as session:
        for first in range(0, count, 1000):
            session.execute(insert(Run), [row(i) for i in range(first, min(count, first + 1000))])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    import os

    with service(workers=False, database_url=args.database_url) as svc:
        os.environ.update({k: v for k, v in svc.env.items() if k.startswith("STUDIO_")})
        from app.store.db import reset_db
        from app.store.settings import get_settings

        get_settings.cache_clear()
        reset_db()
        fill(args.runs)
        print(f"machine: {machine()}")
        with svc.client() as client:
            for label, params in (("first page", {}), ("state=succeeded", {"state": "succeeded"})):
                for _ in range(20):  # warm up
                    client.get("/runs", params=params)
                times = []
                for _ in range(args.requests):
                    started = time.perf_counter()
                    response = client.get("/runs", params=params)
                    times.append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200
                total = response.json()["total"]
                print(
                    f"GET /runs ({label}, {total} of {args.runs} runs, 50 per page): "
                    f"p50 {percentile(times, 50):.1f} ms, p99 {percentile(times, 99):.1f} ms"
                )
        if args.database_url:
            from sqlalchemy import delete

            from app.store.db import get_db
            from app.store.models import Run

            with get_db().transaction() as session:
                session.execute(delete(Run))


if __name__ == "__main__":
    main()
