"""Bearer token for scripts; the browser trades ?token= for a session cookie."""

import pytest
from studio_stack import TOKEN, assert_error

from app.api.auth import COOKIE_NAME
from app.store.access import session_value


def test_health_is_open(client):
    response = client.get("/api/v1/health", headers={"Authorization": ""})
    assert response.status_code in (200, 503)
    assert set(response.json()) == {"status", "database", "broker", "workers", "reason"}


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


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("//evil.com/", "/evil.com/"),
        ("///evil.com/x", "/evil.com/x"),
        ("/\\evil.com/", "/%5Cevil.com/"),  # sent encoded: one path segment, not a host
    ],
)
def test_the_token_link_redirects_only_to_this_sites_paths(client, path, expected):
    """`//evil.com/` as a Location is another host to a browser: it stays a path here."""
    client.headers.pop("Authorization")
    response = client.get(f"http://testserver{path}?token={TOKEN}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == expected
    wrong = client.get(
        f"http://testserver{path}?token=wrong", headers=BROWSER, follow_redirects=False
    )
    login = wrong.headers["location"]
    assert login.startswith("/login?next=/") and not login.startswith("/login?next=//")


BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def test_wrong_token_in_the_url_is_refused(client):
    client.headers.pop("Authorization")
    assert_error(client.get("/?token=wrong", follow_redirects=False), 401, "unauthorized", "token")


def test_wrong_token_in_a_page_link_goes_to_login_saying_why(client):
    """A browser opening a page with a stale token: the login form, no token in any URL."""
    client.headers.pop("Authorization")
    response = client.get(
        "/runs/new?token=wrong-one&dataset=3", headers=BROWSER, follow_redirects=False
    )
    assert response.status_code == 303
    location = response.headers["location"]
    assert location == "/login?next=/runs/new%3Fdataset%3D3&reason=bad_token"
    assert "wrong-one" not in location and "token=" not in location
    assert COOKIE_NAME not in response.cookies
    page = client.get(location, headers=BROWSER)
    assert page.status_code == 200
    assert "That link&#39;s token is not valid for this server" in page.text
    assert 'value="/runs/new?dataset=3"' in page.text  # signing in goes back there
    assert "wrong-one" not in page.text
    # Without a reason (or with one it does not know) the form says nothing of the kind.
    assert "not valid" not in client.get("/login?reason=whatever", headers=BROWSER).text


@pytest.mark.parametrize("path", ["/api/v1/runs", "/openapi.json", "/api"])
def test_wrong_token_on_an_api_path_stays_a_json_401(client, path):
    client.headers.pop("Authorization")
    response = client.get(f"{path}?token=wrong", headers=BROWSER, follow_redirects=False)
    assert_error(response, 401, "unauthorized", "token")


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
