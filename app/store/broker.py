"""The Redis-protocol broker as the store uses it: clients, the run and sample channels, and
the registry in which each worker reports itself (read by /health and /system)."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from typing import Any

import redis
import redis.asyncio
import redis.exceptions

from app.store.errors import UnavailableError
from app.store.settings import Settings

AsyncClient = redis.asyncio.Redis  # the API's client type, so it needs no redis import
Connection = redis.Redis  # the workers' (`client`), likewise
BrokerError = redis.exceptions.RedisError  # what a broker that is away raises

WORKER_KEY_PREFIX = "studio:worker:"
CONNECT_TIMEOUT_S = 5


class OutageLog:
    """Logs a broker outage once when it starts, then at most every `every_s` with a count,
    and once when it ends: a broker that is away for an hour is a few lines, not megabytes."""

    def __init__(self, logger: logging.Logger, what: str, every_s: float = 60.0) -> None:
        self.logger, self.what, self.every_s = logger, what, every_s
        self._lock = threading.Lock()
        self._failures = 0
        self._logged_at = 0.0

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            self._failures += 1
            now = time.monotonic()
            if self._failures == 1 or now - self._logged_at >= self.every_s:
                self._logged_at = now
                self.logger.warning(
                    "%s: the broker is not answering (%d failure(s) so far): %s",
                    self.what,
                    self._failures,
                    exc,
                )

    def ok(self) -> None:
        with self._lock:
            if self._failures:
                self.logger.warning("%s: the broker answers again", self.what)
            self._failures = 0


class BrokerRefusesWritesError(redis.exceptions.ConnectionError):
    """The broker answers but refuses writes: to a client, a connection that is not there
    yet (kombu and Celery try again later)."""


RefusalError = redis.exceptions.ResponseError  # what the broker answers a refused command


PROBE_KEY = "studio:probe"
NOT_ANSWERING = "the broker (Redis) is not answering; try again in a moment"


# The broker answers but will not store anything, and what to do about it.
_REFUSALS = {
    "MISCONF": "free space where it keeps its data (a full disk) and it takes them again by itself",
    "READONLY": "it is a read-only replica: point STUDIO_REDIS_URL at the primary",
    "OOM": "it is at its maxmemory: raise it, or free memory",
}


def refuses_writes(exc: BaseException) -> bool:
    return isinstance(exc, RefusalError) and str(exc).split(" ", 1)[0] in _REFUSALS


def describe(exc: BaseException) -> str:
    """What a broker error means for a request that needed the broker."""
    if refuses_writes(exc):
        return f"the broker refuses writes ({exc}); {_REFUSALS[str(exc).split(' ', 1)[0]]}"
    return NOT_ANSWERING


def write_refusal(settings: Settings) -> str | None:
    """Why the broker cannot take jobs though it answers (describe()), or None. A write
    probes it; its own record of a failed write to disk (INFO persistence) counts too, since
    valkey takes writes into memory for a moment before it says MISCONF. BrokerError when
    it does not answer at all."""
    conn = client(settings)
    try:
        try:
            conn.set(PROBE_KEY, int(time.time()), ex=60)
        except redis.exceptions.ResponseError as exc:
            if refuses_writes(exc):
                return describe(exc)
            raise
        info = conn.info("persistence")
    finally:
        conn.close()
    if info.get("aof_enabled") and info.get("aof_last_write_status", "ok") != "ok":
        return describe(redis.exceptions.ResponseError("MISCONF writing its append-only file"))
    return None


def run_channel(run_id: int) -> str:
    """Pub/sub channel of a run: its metric, log and state events (`app.store.event_wire`)."""
    return f"studio:run:{run_id}"


def sample_channel(request_id: str) -> str:
    """Pub/sub channel of one sample request (`app.store.samples`)."""
    return f"studio:sample:{request_id}"


def worker_key(worker_name: str) -> str:
    return WORKER_KEY_PREFIX + worker_name


def require_url(settings: Settings) -> str:
    if not settings.redis_url:
        raise UnavailableError(
            "no broker configured: set STUDIO_REDIS_URL or start everything with "
            "`nanogpt-studio serve`",
            code="broker_unavailable",
        )
    return settings.redis_url


def client(settings: Settings) -> Connection:
    """A client for a few commands, closed after them: no health-check PING (a broker that
    refuses writes refuses PING too, MISCONF, and would fail reads that it still serves)."""
    return redis.Redis.from_url(require_url(settings), socket_connect_timeout=CONNECT_TIMEOUT_S)


def async_client(app: object) -> AsyncClient:
    """The API process's asyncio client (one pool per app), made on first use."""
    state = app.state  # type: ignore[attr-defined]
    if getattr(state, "redis", None) is None:
        state.redis = redis.asyncio.Redis.from_url(
            require_url(state.settings),
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            health_check_interval=30,
        )
    return state.redis


def report_worker(settings: Settings, name: str, record: dict[str, Any], ttl_s: int) -> None:
    """A worker's entry in the registry; it lapses unless renewed within `ttl_s`."""
    conn = client(settings)
    try:
        conn.set(worker_key(name), json.dumps(record), ex=ttl_s)
    finally:
        conn.close()


def forget_worker(settings: Settings, name: str) -> None:
    conn = client(settings)
    try:
        conn.delete(worker_key(name))
    finally:
        conn.close()


def read_workers(settings: Settings) -> list[dict[str, Any]]:
    """Every live worker's record, as it last reported itself."""
    conn = client(settings)
    try:
        keys = sorted(conn.scan_iter(match=WORKER_KEY_PREFIX + "*", count=100))
        values = conn.mget(keys) if keys else []
    finally:
        conn.close()
    return [json.loads(v) for v in values if v]


def queue_lengths(settings: Settings, queues: tuple[str, ...]) -> dict[str, int]:
    """Messages waiting on each queue (Celery's Redis transport keeps one list per queue)."""
    conn = client(settings)
    try:
        return {name: int(conn.llen(name)) for name in queues}
    finally:
        conn.close()


def pending_first_args(settings: Settings, *, queue: str, task_name: str) -> set[Any]:
    """The first argument of each `task_name` message waiting on `queue`, not yet delivered:
    the wake-ups the next free worker of that queue will get. A message delivered and not
    acknowledged is not counted: the worker it went to may be gone, and Celery's Redis
    transport gives it back only after its visibility timeout (`app.store.lease.resend`).
    Reads kombu's Redis layout (a list per queue of JSON messages with a base64 body)."""
    conn = client(settings)
    try:
        waiting = conn.lrange(queue, 0, -1)
    finally:
        conn.close()
    found = set()
    for message in (json.loads(m) for m in waiting):
        if message.get("headers", {}).get("task") != task_name:
            continue
        args = json.loads(base64.b64decode(message["body"]))[0]
        if args:
            found.add(args[0])
    return found
