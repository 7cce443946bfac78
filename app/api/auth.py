"""Access: `Authorization: Bearer <token>` for scripts, a session cookie for the browser.

A GET of any page with `?token=...` trades the token for an HttpOnly, SameSite=Lax cookie
holding an HMAC of the token (never the token), then redirects to the URL without it. A wrong
token is a JSON 401, except for a browser opening a page: it goes to /login, which says why.
"""

from __future__ import annotations

from types import MappingProxyType
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from starlette.datastructures import URL, Headers
from starlette.requests import HTTPConnection
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.error_handlers import LoginRequiredError, error_response, is_api_path
from app.api.guesses import GuessLimiter, TooManyAttemptsError
from app.store.access import session_matches, session_value, token_matches
from app.store.errors import ForbiddenError, StudioError

COOKIE_NAME = "studio_session"
COOKIE_MAX_AGE = 30 * 24 * 3600
# /login?reason=… : the login page says what went wrong (app.web.pages.login).
BAD_LINK_REASON = "bad_token"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class UnauthorizedError(StudioError):
    status = 401
    code = "unauthorized"
    headers = MappingProxyType({"WWW-Authenticate": "Bearer"})


class TokenExchangeMiddleware:
    """Turns `?token=` on a GET into the session cookie and a clean redirect."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        if "token=" not in query:
            await self.app(scope, receive, send)
            return
        pairs = parse_qsl(query, keep_blank_values=True)
        given = next((v for k, v in pairs if k == "token"), None)
        if given is None:
            await self.app(scope, receive, send)
            return
        guesses, client = limiter(scope), client_address(scope)
        try:
            guesses.check(client, field="token")
        except TooManyAttemptsError as exc:
            response = error_response(exc)
            await response(scope, receive, send)
            return
        rest = urlencode([(k, v) for k, v in pairs if k != "token"])
        target = URL(scope=scope).replace(query=rest)
        location = local_path(target.path) + (f"?{rest}" if rest else "")
        if token_matches(given, self.token):
            response = RedirectResponse(location, status_code=303)
            set_session_cookie(response, self.token, secure=target.scheme == "https")
        else:
            guesses.failed(client)
            response = self._refusal(scope, location)
        await response(scope, receive, send)

    @staticmethod
    def _refusal(scope: Scope, location: str) -> Response:
        if _opens_a_page(scope):
            # A person with a stale or mistyped link: the login form, saying so; the wrong
            # token stays out of the URL (and so out of history and logs).
            login = f"/login?next={quote(location, safe='/')}&reason={BAD_LINK_REASON}"
            return RedirectResponse(login, status_code=303)
        return error_response(UnauthorizedError("wrong token", field="token"))


def local_path(path: str) -> str:
    """A path on this site to redirect to: `//evil.com/` (or `/\\evil.com`) would send a
    browser to another host, so leading slashes and backslashes collapse into one slash."""
    return "/" + path.lstrip("/\\")


def safe_next(target: str | None) -> str:
    """Only a path on this site: never `//host` or `https://host` (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def limiter(scope: Scope) -> GuessLimiter:
    """The app's wrong-token limiter (app.state.guesses)."""
    return scope["app"].state.guesses


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


def _opens_a_page(scope: Scope) -> bool:
    """A browser navigating to a page (it accepts HTML), not a script or the API."""
    accept = Headers(scope=scope).get("accept", "")
    return "text/html" in accept and not is_api_path(scope["path"])


def set_session_cookie(response: RedirectResponse, token: str, *, secure: bool) -> None:
    response.set_cookie(
        COOKIE_NAME,
        session_value(token),
        max_age=COOKIE_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )


def _bearer(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value else None


def has_session(conn: HTTPConnection, token: str) -> bool:
    return session_matches(conn.cookies.get(COOKIE_NAME), token)


def check_api_access(conn: HTTPConnection, token: str) -> None:
    """Bearer token, or the session cookie on a same-origin request; else 401."""
    bearer = _bearer(conn)
    if bearer is not None:
        guesses, client = limiter(conn.scope), client_address(conn.scope)
        guesses.check(client, field="authorization")
        if token_matches(bearer, token):
            return
        guesses.failed(client)
        raise UnauthorizedError("wrong token", field="authorization")
    if has_session(conn, token):
        method = conn.scope.get("method", "GET")
        if method not in _SAFE_METHODS and not same_origin(conn):
            # SameSite=Lax still lets another port of this host post with our cookie.
            raise ForbiddenError("cross-origin request refused", field="origin")
        return
    raise UnauthorizedError("missing token: send `Authorization: Bearer <token>`")


def check_page_access(conn: HTTPConnection, token: str) -> None:
    if not has_session(conn, token):
        raise LoginRequiredError(
            str(conn.url.path) + (f"?{conn.url.query}" if conn.url.query else "")
        )


def same_origin(conn: HTTPConnection) -> bool:
    """The request's Origin (if it has one) is this site: scheme and host as the browser
    used them, which behind a trusted proxy are X-Forwarded-Proto and -Host
    (app.api.forwarded). No Origin is not a browser's cross-site request (browsers send it
    on those); `null` (a sandboxed or privacy-stripped page) is not this site."""
    origin = conn.headers.get("origin")
    if origin is None:
        return True
    host = conn.headers.get("host", "")
    return origin.lower() == f"{conn.url.scheme}://{host}".lower()
