"""The dashboard's pages through the ASGI client, signed in as a browser is."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from studio_stack import TOKEN, use_environment

from app.api.auth import COOKIE_NAME
from app.store.access import session_value


@pytest.fixture
def web(local_env: dict[str, str]) -> Iterator[object]:
    """The app in this process, signed in with the session cookie (as a browser is)."""
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.store.settings import get_settings

    use_environment(local_env)
    app = create_app(get_settings())
    with TestClient(app, raise_server_exceptions=False) as client:
        client.cookies.set(COOKIE_NAME, session_value(TOKEN))
        yield client
