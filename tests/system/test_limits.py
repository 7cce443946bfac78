"""Request limits: headers (431) and bodies (413) in the one error shape, before any route
reads them; uploads keep their own, streamed limit; the real server refuses what no route
should ever see."""

from __future__ import annotations

import httpx
from studio_stack import assert_error

from app.api.limits import MAX_BODY_BYTES, MAX_HEADER_BYTES


def test_a_large_json_body_is_a_413(client):
    body = b'{"dataset_id": 1, "name": "' + b"x" * (MAX_BODY_BYTES + 10) + b'"}'
    response = client.post(
        "/api/v1/runs", content=body, headers={"content-type": "application/json"}
    )
    assert_error(response, 413, "too_large")


def test_a_chunked_body_without_a_length_is_counted(client):
    def chunks():
        for _ in range(20):
            yield b"x" * 65536

    response = client.post(
        "/api/v1/runs", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "too_large")


def test_large_headers_are_a_431(client):
    response = client.get("/api/v1/runs", headers={"x-padding": "x" * MAX_HEADER_BYTES})
    assert_error(response, 431, "headers_too_large")


def test_uploads_keep_their_own_limit(client):
    text = ("To be, or not to be, that is the question.\n" * 40_000).encode()
    assert len(text) > MAX_BODY_BYTES
    response = client.post("/api/v1/datasets", files={"file": ("big.txt", text, "text/plain")})
    assert response.status_code == 201, response.text


def test_a_small_body_still_arrives_whole(client):
    response = client.post("/api/v1/runs", json={"dataset_id": 987654321})
    assert_error(response, 404, field="dataset_id")


def test_the_real_server_bounds_a_request_s_head(stack):
    with httpx.Client(base_url=stack.url, timeout=30) as plain:
        padded = plain.get("/api/v1/health", headers={"x-padding": "x" * 20_000})
        assert_error(padded, 431, "headers_too_large")
        try:
            huge = plain.get("/api/v1/health", headers={"x-padding": "x" * 200_000})
        except httpx.HTTPError:
            return  # the server dropped the connection: refused, which is what we want
        assert huge.status_code in (400, 431)
