"""One error table: every error class carries its status and code, and both the API's JSON
errors and the pages' HTML errors answer from them; page paths never answer JSON."""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Iterator

import pytest
import redis
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from studio_stack import TOKEN, assert_error, use_environment

import app
from app.api.auth import COOKIE_NAME
from app.api.guesses import TooManyAttemptsError
from app.store.access import session_value
from app.store.errors import Choice, ChoiceError, Problem, ProblemsError, StudioError
from worker.engine.errors import DataError, DivergedError

BEARER = {"Authorization": f"Bearer {TOKEN}"}
SNAKE_CASE = re.compile(r"[a-z]+(_[a-z]+)*")


def _all_studio_errors() -> list[type[StudioError]]:
    """Every StudioError class in the app, the classes defined in any module of it included."""
    for module in pkgutil.walk_packages(app.__path__, "app."):
        importlib.import_module(module.name)
    found, todo = [], [StudioError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: c.__name__)


# Classes with a constructor of their own: how to make one.
_MADE: dict[type[StudioError], Callable[[], StudioError]] = {
    ChoiceError: lambda: ChoiceError(
        "pick one", field="tokenizer", code="ambiguous", choices=[Choice("char", ["a"])]
    ),
    ProblemsError: lambda: ProblemsError([Problem("invalid", "too big", "n_embd")]),
    TooManyAttemptsError: lambda: TooManyAttemptsError(5.0, field="token"),
}


def _made(cls: type[StudioError]) -> StudioError:
    if cls in _MADE:
        return _MADE[cls]()
    own_init = "__init__" in vars(cls) and cls is not StudioError
    assert not own_init, f"{cls.__name__} has its own constructor: add it to _MADE"
    return cls("something is wrong", field="thing")


STUDIO_ERRORS = _all_studio_errors()


@pytest.fixture
def web(local_env: dict[str, str]) -> Iterator[object]:
    """The app, signed in as a browser is, with a route that raises what it is handed: once
    on a page path, once on an API path."""
    from fastapi.testclient import TestClient

    from app.main import create_app
    from app.store.settings import get_settings

    use_environment(local_env)
    application = create_app(get_settings())
    raised: list[Exception] = []

    def raise_it() -> None:
        raise raised[-1]

    application.add_api_route("/raise-for-test", raise_it)
    application.add_api_route("/api/v1/raise-for-test", raise_it)
    with TestClient(application, raise_server_exceptions=False) as client:
        client.cookies.set(COOKIE_NAME, session_value(TOKEN))
        client.raised = raised
        yield client


def _raising(web, exc: Exception, path: str):
    web.raised.append(exc)
    return web.get(path, headers=BEARER)


def _assert_html(response, status: int) -> str:
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"].startswith("text/html")
    assert f'<div class="error-code" aria-hidden="true">{status}</div>' in response.text
    return response.text


def test_every_error_class_has_a_status_and_a_code():
    assert len(STUDIO_ERRORS) >= 15, [c.__name__ for c in STUDIO_ERRORS]
    for cls in STUDIO_ERRORS:
        assert isinstance(cls.status, int) and 400 <= cls.status < 600, cls
        assert SNAKE_CASE.fullmatch(cls.code), cls


@pytest.mark.parametrize("cls", STUDIO_ERRORS, ids=lambda c: c.__name__)
def test_both_handlers_answer_the_class_status_and_code(web, cls):
    exc = _made(cls)
    error = assert_error(_raising(web, exc, "/api/v1/raise-for-test"), cls.status, exc.code)
    assert error["message"] == exc.message and error["field"] == exc.field
    if isinstance(exc, ChoiceError):
        assert error["choices"] == [{"value": "char", "examples": ["a"]}]
    page = _raising(web, exc, "/raise-for-test")
    html = _assert_html(page, cls.status)
    if cls.status < 500:
        assert exc.message in html
    for name, value in exc.headers.items():
        assert page.headers[name] == value


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (DataError("the file is empty", field="file"), 422, "data"),
        (DivergedError("the loss is NaN"), 422, "diverged"),
        (HTTPException(405), 405, "method_not_allowed"),
        (HTTPException(422, "not like that"), 422, "invalid"),
        (HTTPException(418), 418, "i'm_a_teapot"),
        (RequestValidationError([]), 422, "invalid"),
        (redis.exceptions.ConnectionError("refused"), 503, "broker_unavailable"),
        (RuntimeError("kaput"), 500, "internal"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_errors_not_ours_are_mapped_once_for_both(web, exc, status, code):
    assert_error(_raising(web, exc, "/api/v1/raise-for-test"), status, code)
    html = _assert_html(_raising(web, exc, "/raise-for-test"), status)
    assert "kaput" not in html  # internals stay in the server log


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        ("/?runs_offset=-1", 422, "runs_offset"),
        ("/compare?run=abc", 422, "run"),
        ("/runs/new?dataset=abc", 422, "dataset"),
        ("/runs/999999", 404, None),
        ("/datasets/999999", 404, None),
        ("/no/such/page", 404, None),
    ],
)
def test_a_bad_address_of_a_page_is_an_html_page(web, path, status, field):
    html = _assert_html(web.get(path), status)
    assert 'href="/"' in html and "/static/css/studio.css" in html
    if field is not None:
        assert f"{field}" in html  # the detail names what is wrong


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        ("/api/v1/runs?offset=-1", 422, "offset"),
        ("/api/v1/runs?limit=abc", 422, "limit"),
        ("/api/v1/runs/999999", 404, "run_id"),
        ("/api/v1/no/such/thing", 404, None),
    ],
)
def test_the_same_on_the_api_is_json(web, path, status, field):
    assert_error(web.get(path, headers=BEARER), status, field=field)


def test_a_new_error_class_needs_no_other_table(web):
    """The handlers read the class's status and code: a class nobody mapped answers both."""

    class TeapotError(StudioError):
        status = 418
        code = "teapot"

    assert_error(
        _raising(web, TeapotError("short and stout"), "/api/v1/raise-for-test"), 418, "teapot"
    )
    assert "short and stout" in _assert_html(
        _raising(web, TeapotError("short and stout"), "/raise-for-test"), 418
    )
