"""/v1 in process (no workers): OpenAI's error shape there, ours on /api/v1, and what a request
is refused for before any worker is asked."""

from __future__ import annotations

from pathlib import Path

import pytest
from studio_stack import assert_error

from app.store.settings import get_settings


def assert_openai_error(response, status: int, code: str, param: str | None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}, body
    assert body["error"]["code"] == code and body["error"]["param"] == param, body
    return body["error"]


def test_no_token_is_a_401_in_openai_s_shape(client) -> None:
    response = client.get("/v1/models", headers={"Authorization": ""})
    error = assert_openai_error(response, 401, "unauthorized", None)
    assert error["type"] == "authentication_error"
    assert response.headers["www-authenticate"] == "Bearer"
    wrong = client.post(
        "/v1/completions", json={"model": "run-1"}, headers={"Authorization": "Bearer nope"}
    )
    assert_openai_error(wrong, 401, "unauthorized", "authorization")


def test_our_own_shape_stays_on_api_v1(client) -> None:
    assert_error(client.get("/api/v1/runs/999999"), 404, "not_found")


def test_models_lists_only_runs_with_a_checkpoint(client) -> None:
    assert client.get("/v1/models").json() == {"object": "list", "data": []}


def test_a_bad_model_names_the_models_there_are(client) -> None:
    error = assert_openai_error(
        client.post("/v1/completions", json={"model": "gpt-4", "prompt": "hi"}),
        404,
        "model_not_found",
        "model",
    )
    assert error["type"] == "invalid_request_error"
    assert "'gpt-4' does not exist" in error["message"] and "none yet" in error["message"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "run-1", "n": 0}, "n"),
        ({"model": "run-1", "logprobs": 6}, "logprobs"),
        ({"model": "run-1", "temperature": -1}, "temperature"),
        ({"model": "run-1", "stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"model": "run-1", "prompt": []}, "prompt"),
        ({"model": "run-1", "best_of": 2}, "best_of"),
        ({"prompt": "hi"}, "model"),
    ],
)
def test_bad_parameters_are_422_naming_them(client, body, param) -> None:
    error = assert_openai_error(client.post("/v1/completions", json=body), 422, "invalid", param)
    assert error["type"] == "invalid_request_error"


def test_unknown_paths_and_big_bodies_answer_in_openai_s_shape(client) -> None:
    assert_openai_error(client.get("/v1/engines"), 404, "not_found", None)
    big = {"model": "run-1", "prompt": "x" * (2 * 1024 * 1024)}
    assert_openai_error(client.post("/v1/completions", json=big), 413, "too_large", None)


def test_a_run_without_its_best_checkpoint_has_no_best_model(client) -> None:
    folder = Path(get_settings().run_dir(424242))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ckpt.pt").write_bytes(b"not read by a listing")
    try:
        error = assert_openai_error(
            client.post("/v1/completions", json={"model": "run-424242@best"}),
            404,
            "model_not_found",
            "model",
        )
        assert "'run-424242@best'" in error["message"]
    finally:
        (folder / "ckpt.pt").unlink()
