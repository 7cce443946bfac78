"""Wrong tokens are rate-limited per client, on every way in: Bearer, ?token= and the login
form; a right token waits too while the client has no guesses left."""

from __future__ import annotations

import time

import pytest
from studio_stack import TOKEN, assert_error

from app.api.guesses import GuessLimiter, TooManyAttemptsError


def test_the_bucket_empties_and_refills() -> None:
    limiter = GuessLimiter(per_minute=600)  # 10 a second, so the test is quick
    for _ in range(600):
        limiter.check("a")
        limiter.failed("a")
    with pytest.raises(TooManyAttemptsError) as caught:
        limiter.check("a")
    assert 1 <= int(caught.value.headers["Retry-After"]) <= 1
    limiter.check("b")  # another client is not held up
    time.sleep(0.15)
    limiter.check("a")  # one guess back


def test_wrong_bearer_tokens_are_limited_then_refused(client) -> None:
    limit = client.app.state.guesses.burst
    wrong = {"Authorization": "Bearer not-the-token-at-all"}
    for _ in range(int(limit)):
        assert_error(client.get("/api/v1/runs", headers=wrong), 401, "unauthorized")
    refused = client.get("/api/v1/runs", headers=wrong)
    assert_error(refused, 429, "too_many_attempts")
    assert int(refused.headers["retry-after"]) >= 1
    right = client.get("/api/v1/runs", headers={"Authorization": f"Bearer {TOKEN}"})
    assert_error(right, 429, "too_many_attempts")  # no guessing on until one is right


def test_wrong_login_links_and_forms_count_too(client) -> None:
    limit = int(client.app.state.guesses.burst)
    for _ in range(limit):
        client.get("/?token=wrong-wrong-wrong", follow_redirects=False)
    assert_error(client.get("/?token=wrong", follow_redirects=False), 429, "too_many_attempts")
    form = client.post("/login", data={"token": TOKEN, "next": "/"}, follow_redirects=False)
    assert form.status_code == 429 and "too many wrong tokens" in form.text
