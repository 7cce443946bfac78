"""Wrong tokens cost time: each client (by address) may get the token wrong `burst` times,
then once every 60 / per_minute seconds, whatever it sends meanwhile (a right token too, or
guessing would go on until one is right). At 10 a minute, a 32-character random token is out
of reach; 310 guesses a second were possible before.

A token bucket in memory, one per API process: the studio runs one API process, and a
library (slowapi and the like) would bring its own storage and decorators for a job this
size. Behind a reverse proxy every client has the proxy's address unless the proxy is
trusted to forward the real one, so one guesser can slow everyone's wrong tokens, never a
signed-in browser (a session cookie is not a guess)."""

from __future__ import annotations

import math
import threading
import time

from app.store.errors import StudioError

MAX_CLIENTS = 10_000  # forget the oldest beyond this, so memory stays bounded


class TooManyAttemptsError(StudioError):
    status = 429
    code = "too_many_attempts"

    def __init__(self, retry_after_s: float, *, field: str | None = None) -> None:
        wait = max(1, math.ceil(retry_after_s))
        message = f"too many wrong tokens from this address; try again in {wait} s"
        super().__init__(message, field=field)
        self.headers = {"Retry-After": str(wait)}


class GuessLimiter:
    def __init__(self, per_minute: int) -> None:
        self.burst = float(per_minute)
        self.refill_per_s = per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}  # client → (tokens, as of)
        self._lock = threading.Lock()

    def _level(self, client: str, now: float) -> float:
        tokens, since = self._buckets.get(client, (self.burst, now))
        return min(self.burst, tokens + (now - since) * self.refill_per_s)

    def check(self, client: str, field: str | None = None) -> None:
        """Before a token is compared: refused while the client has no guesses left (the
        refusal names `field`, where the token came in)."""
        with self._lock:
            level = self._level(client, time.monotonic())
        if level < 1.0:
            raise TooManyAttemptsError((1.0 - level) / self.refill_per_s, field=field)

    def failed(self, client: str) -> None:
        """A wrong token: one guess fewer."""
        now = time.monotonic()
        with self._lock:
            self._buckets[client] = (self._level(client, now) - 1.0, now)
            if len(self._buckets) > MAX_CLIENTS:
                oldest = min(self._buckets, key=lambda c: self._buckets[c][1])
                del self._buckets[oldest]
