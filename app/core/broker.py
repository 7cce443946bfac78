"""Redis-protocol names and clients: run channels, sample channels and the worker registry."""

from __future__ import annotations

import json
from typing import Any

import redis

from app.core.errors import UnavailableError
from app.core.settings import Settings

QUEUES = ("prepare", "train", "sample")
WORKER_KEY_PREFIX = "studio:worker:"


def run_channel(run_id: int) -> str:
    """Pub/sub channel of a run: metric, log and state messages, JSON with a "type"."""
    return f"studio:run:{run_id}"


def sample_channel(request_id: str) -> str:
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


def client(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(
        require_url(settings), socket_connect_timeout=5, health_check_interval=30
    )


def publish(conn: redis.Redis, channel: str, message: dict[str, Any]) -> None:
    conn.publish(channel, json.dumps(message, separators=(",", ":")))


def async_client(app: object) -> redis.asyncio.Redis:
    """The API process's asyncio client (one pool per app), made on first use."""
    import redis.asyncio

    state = app.state  # type: ignore[attr-defined]
    if getattr(state, "redis", None) is None:
        state.redis = redis.asyncio.Redis.from_url(
            require_url(state.settings), socket_connect_timeout=5, health_check_interval=30
        )
    return state.redis
