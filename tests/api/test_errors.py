"""Every error path answers in the one shape {"error": {"code", "message", "field"}}."""

from fastapi.testclient import TestClient
from studio_stack import TOKEN, assert_error

from app.main import create_app
from app.store.settings import get_settings


def test_401_without_and_with_a_wrong_token(client):
    assert_error(client.get("/api/v1/runs", headers={"Authorization": ""}), 401, "unauthorized")
    bad = {"Authorization": "Bearer nope"}
    assert_error(client.get("/api/v1/runs", headers=bad), 401, "unauthorized", "authorization")


def test_404_for_missing_things_and_routes(client):
    assert_error(client.get("/api/v1/runs/999999"), 404, "not_found", "run_id")
    assert_error(client.get("/api/v1/datasets/999999"), 404, "not_found", "dataset_id")
    assert_error(client.get("/api/v1/no-such-thing"), 404, "not_found")
    assert_error(client.get("/api/v1/runs/999999/metrics"), 404, "not_found")


def test_405_and_422_from_the_framework(client):
    assert_error(client.put("/api/v1/runs"), 405, "method_not_allowed")
    assert_error(client.get("/api/v1/runs/abc"), 422, "invalid", "run_id")
    assert_error(client.get("/api/v1/runs?limit=0"), 422, "invalid", "limit")
    assert_error(client.post("/api/v1/runs", content=b"{not json"), 422, "invalid")


def test_unknown_body_field_is_named(client):
    response = client.post("/api/v1/runs", json={"dataset_id": 1, "colour": "red"})
    error = assert_error(response, 422, "invalid", "colour")
    assert "unknown" in error["message"]


def test_413_415_422_on_upload(client, monkeypatch):
    assert_error(client.post("/api/v1/datasets?name=a", content=b"\x00\x01\x02"), 415, field="file")
    assert_error(client.post("/api/v1/datasets?name=a", content=b""), 422, "data", "file")
    monkeypatch.setattr(client.app.state.settings, "max_upload_bytes", 10)
    assert_error(client.post("/api/v1/datasets?name=a", content=b"x" * 100), 413, "too_large")


def test_500_is_in_the_shape_too(local_env):
    app = create_app(get_settings())

    @app.get("/api/v1/boom")
    def boom() -> None:
        raise RuntimeError("kaput")

    with TestClient(app, raise_server_exceptions=False) as c:
        error = assert_error(
            c.get("/api/v1/boom", headers={"Authorization": f"Bearer {TOKEN}"}), 500
        )
    assert error["code"] == "internal"
    assert "kaput" not in error["message"]  # internals stay in the server log


def test_503_when_no_sample_worker_answers(client, monkeypatch):
    from studio_rows import make_run

    run_id = make_run(state="succeeded")
    run_dir = client.app.state.settings.run_dir(run_id)
    run_dir.mkdir(parents=True)
    (run_dir / "ckpt.pt").write_bytes(b"not read by the API")
    monkeypatch.setattr(client.app.state.settings, "sample_timeout_s", 1.0)
    response = client.post(f"/api/v1/runs/{run_id}/samples", json={"max_new_tokens": 5})
    assert_error(response, 503, "no_worker")
    assert_error(
        client.post(f"/api/v1/runs/{run_id}/samples", json={"checkpoint": "best"}),
        404,
        field="checkpoint",
    )
