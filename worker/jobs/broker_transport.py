"""The workers' Redis transport: kombu's, except that a broker which answers but refuses
writes (MISCONF: the disk where it keeps its data is full) is waited out like one that is
away, instead of ending the worker.

kombu counts a refusal (redis' ResponseError) as a channel error, which Celery's consumer
does not survive ("Unrecoverable error"): the worker exits, and `serve` starts it again into
the same refusal. Here a refusal is a connection error, so the consumer reconnects; and
connecting first asks the broker whether it takes writes (app.store.broker.write_refusal),
failing while it does not, so Celery's retry waits longer each time (2, 4, ... 30 s) until
the disk has room again."""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis

from app.store.broker import BrokerRefusesWritesError, RefusalError, write_refusal
from app.store.settings import get_settings


class Transport(kombu_redis.Transport):
    connection_errors = (*kombu_redis.Transport.connection_errors, RefusalError)

    def establish_connection(self) -> Any:
        refusal = write_refusal(get_settings())
        if refusal is not None:
            raise BrokerRefusesWritesError(refusal)
        return super().establish_connection()


TRANSPORT = f"{__name__}:Transport"
