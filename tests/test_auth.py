"""Bearer token for scripts; the browser trades ?token= for a session cookie."""

from studio_stack import TOKEN, assert_error

from app.api.auth import COOKIE_NAME
from app.core.access import session_value


def test_health_is_open(client):
    response = client.get("/api/v1/health", headers={"Authorization": ""})
    assert response.status_code in (200, 503)
    assert set(response.json()) == {"status", "database", "broker", "workers"}


def test_bearer_token_opens_the_api(client):
    assert client.get("/api/v1/runs").status_code == 200


def test_token_in_the_url_becomes_a_cookie_and_a_clean_redirect(client):
    client.headers.pop("Authorization")
    response = client.get(f"/?token={TOKEN}&tab=runs", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/?tab=runs"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    value = response.cookies[COOKIE_NAME]
    assert value == session_value(TOKEN) and TOKEN not in value
    # The cookie now opens pages and the API (for EventSource and fetch).
    client.cookies.set(COOKIE_NAME, value)
    assert client.get("/", follow_redirects=False).status_code == 200
    assert client.get("/api/v1/runs").status_code == 200


def test_wrong_token_in_the_url_is_refused(client):
    client.headers.pop("Authorization")
    assert_error(client.get("/?token=wrong", follow_redirects=False), 401, "unauthorized", "token")


def test_pages_without_a_session_go_to_login(client):
    client.headers.pop("Authorization")
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=/")


def test_cookie_posts_from_another_origin_are_refused(client):
    client.headers.pop("Authorization")
    client.cookies.set(COOKIE_NAME, session_value(TOKEN))
    evil = {"Origin": "http://127.0.0.1:9999"}
    assert_error(client.post("/api/v1/datasets/sample", headers=evil), 403, "forbidden", "origin")
