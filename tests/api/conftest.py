"""Fixtures of the API tests."""

from __future__ import annotations

import pytest

from app.store.broker import forget_worker, report_worker
from app.store.settings import get_settings

GiB = 2**30


@pytest.fixture
def train_worker(client):
    """A train worker whose CPU has 2 GiB free, as its registry entry says."""
    settings = get_settings()
    cpu = {"kind": "cpu", "name": "test CPU", "cores": 2, "memory_total": 4 * GiB,
           "memory_free": 2 * GiB}  # fmt: skip
    record = {"name": "train@test", "queues": ["train"], "pid": 1, "devices": [cpu],
              "started_at": 0, "seen_at": 0}  # fmt: skip
    report_worker(settings, "train@test", record, 60)
    yield cpu
    forget_worker(settings, "train@test")
