"""The token never reaches a log line: `?token=` links are logged redacted."""

from __future__ import annotations

import logging

import httpx
from studio_stack import TOKEN

from app.api.access_log import RedactTokens, redact
from app.commands import warn_if_exposed


def test_tokens_are_redacted_wherever_they_are_in_a_query() -> None:
    assert redact("/?token=s3cret") == "/?token=[redacted]"
    assert redact("/runs/3?a=1&token=s3cret&b=2") == "/runs/3?a=1&token=[redacted]&b=2"
    assert redact("/runs/3?tokenizer=char") == "/runs/3?tokenizer=char"


def test_the_filter_rewrites_uvicorn_s_access_record() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", f"/?token={TOKEN}", "1.1", 303), None,
    )  # fmt: skip
    assert RedactTokens().filter(record)
    assert TOKEN not in record.getMessage() and "[redacted]" in record.getMessage()


def test_the_real_server_s_log_has_no_token(stack) -> None:
    link = httpx.get(f"{stack.url}/?token={TOKEN}", follow_redirects=False)
    assert link.status_code == 303
    httpx.get(f"{stack.url}/api/v1/health")  # a later line: the first one is flushed
    log = (stack.logs / "api.log").read_text()
    assert "token=[redacted]" in log
    assert TOKEN not in log


def test_binding_beyond_loopback_warns(capsys) -> None:
    assert not warn_if_exposed("127.0.0.1")
    assert warn_if_exposed("0.0.0.0")
    said = capsys.readouterr().err
    assert "only lock" in said and "TLS" in said
