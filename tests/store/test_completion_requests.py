"""Completion requests wait in their model's list (app/store/completions.py): a job takes
them oldest first up to a batch's rows, never splits a request, and drops those whose client
has given up."""

from __future__ import annotations

import json
import time

from app.store.broker import client
from app.store.completions import take_requests, waiting_key
from app.store.settings import get_settings


def waiting(conn, request_id: str, prompts: int = 1, n: int = 1, expires_in: float = 60) -> None:
    payload = {"checkpoint": "ckpt.pt", "prompts": ["a"] * prompts, "options": {"n": n}}
    entry = {"request_id": request_id, "payload": payload, "expires_at": time.time() + expires_in}
    conn.rpush(waiting_key(7, "ckpt.pt"), json.dumps(entry))


def test_a_batch_takes_the_oldest_requests_up_to_its_rows(local_env) -> None:
    conn = client(get_settings())
    conn.delete(waiting_key(7, "ckpt.pt"))
    waiting(conn, "gone", expires_in=-1)  # its client gave up: dropped
    waiting(conn, "a", n=3)
    waiting(conn, "b", prompts=2, n=2)  # 4 rows: would pass 6
    waiting(conn, "c")
    first = take_requests(conn, run_id=7, checkpoint="ckpt.pt", rows=6)
    assert [e["request_id"] for e in first] == ["a"]
    second = take_requests(conn, run_id=7, checkpoint="ckpt.pt", rows=6)
    assert [e["request_id"] for e in second] == ["b", "c"]
    assert take_requests(conn, run_id=7, checkpoint="ckpt.pt", rows=6) == []
    # a request larger than a batch is still taken, alone
    waiting(conn, "big", n=10)
    assert [
        e["request_id"] for e in take_requests(conn, run_id=7, checkpoint="ckpt.pt", rows=6)
    ] == ["big"]
    other_model = take_requests(conn, run_id=8, checkpoint="ckpt.pt", rows=6)
    assert other_model == []
