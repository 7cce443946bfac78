"""What a worker's main process does besides consuming: report itself and its devices in
Redis (for /health and /system), and run the reaper at start and every reaper_interval_s."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from typing import Any

from celery import signals
from kombu.exceptions import OperationalError

from app.store.broker import BrokerError, OutageLog, forget_worker, report_worker
from app.store.db import get_db
from app.store.settings import Settings, get_settings
from worker.jobs import stopping
from worker.jobs.identity import worker_id

log = logging.getLogger(__name__)
REGISTRY_EVERY_S = 10.0
REGISTRY_TTL_S = 45
DEVICES_EVERY_S = 600.0

_stop = threading.Event()
_registry_outage = OutageLog(log, "worker registry")
_reaper_outage = OutageLog(log, "reaper")
_name = worker_id()


def _queues(sender: Any) -> list[str]:
    try:
        return sorted(q.name for q in sender.task_consumer.queues)
    except AttributeError:
        return []


def _registry_loop(queues: list[str]) -> None:
    from app.planning.routing import is_train_queue
    from worker.jobs.device_probe import probe
    from worker.jobs.speed_probe import with_speed

    settings = get_settings()
    started = time.time()
    devices: list[dict[str, Any]] = []
    probed_at = 0.0
    # a train worker reports its device's speed (budget runs): measured after its first report
    measures = settings.calibrate and any(is_train_queue(q) for q in queues)
    first = True
    while not _stop.is_set():
        if time.monotonic() - probed_at > DEVICES_EVERY_S or not devices:
            devices = probe()
            probed_at = time.monotonic()
            if measures and not first:
                devices = with_speed(devices, settings.data_dir)  # the figure kept on disk
        _report(settings, queues, devices, started)
        if measures and first:
            first = False
            devices = with_speed(devices, settings.data_dir)  # seconds, the first time here
            continue  # report it at once
        _stop.wait(REGISTRY_EVERY_S)


def _report(
    settings: Settings, queues: list[str], devices: list[dict[str, Any]], started: float
) -> None:
    record = {
        "name": _name,
        "queues": queues,
        "pid": os.getpid(),
        "devices": devices,
        "started_at": started,
        "seen_at": time.time(),
    }
    try:
        report_worker(settings, _name, record, REGISTRY_TTL_S)
        _registry_outage.ok()
    except Exception as exc:
        _registry_outage.failed(exc)


def _reaper_loop() -> None:
    from worker.jobs.reaper import reap

    settings = get_settings()
    while not _stop.is_set():
        try:
            reap(settings)
            _reaper_outage.ok()
        except (BrokerError, OperationalError, ConnectionError) as exc:
            _reaper_outage.failed(exc)
        except Exception:
            log.exception("reaper pass failed")
        _stop.wait(settings.reaper_interval_s)


@signals.worker_ready.connect
def _on_ready(sender: Any = None, **_: Any) -> None:
    queues = _queues(sender)
    threading.Thread(target=_registry_loop, args=(queues,), name="registry", daemon=True).start()
    from app.planning.routing import is_train_queue

    if "prepare" in queues or any(is_train_queue(q) for q in queues) or not queues:
        threading.Thread(target=_reaper_loop, name="reaper", daemon=True).start()


@signals.worker_process_init.connect
def _on_child(**_: Any) -> None:
    get_db()  # a pool process opens its own connections, never its parent's
    stopping.install()  # the service stopping lets it finish its task (worker/jobs/stopping.py)


@signals.worker_shutdown.connect
def _on_shutdown(**_: Any) -> None:
    _stop.set()
    with contextlib.suppress(Exception):
        forget_worker(get_settings(), _name)
