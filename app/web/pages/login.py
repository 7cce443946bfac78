"""Login: the URL `serve` prints logs in by itself (the middleware trades ?token= for the
session cookie); without it, this form takes the token and sets the same cookie."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from app.api.auth import (
    BAD_LINK_REASON,
    COOKIE_NAME,
    client_address,
    has_session,
    limiter,
    safe_next,
    same_origin,
    set_session_cookie,
)
from app.api.guesses import TooManyAttemptsError
from app.store.access import token_matches
from app.web.templating import render

router = APIRouter()


# Why a redirect landed here (`?reason=`); anything else says nothing.
REASONS = {
    BAD_LINK_REASON: (
        "That link's token is not valid for this server; paste the token "
        "nanogpt-studio serve printed (or STUDIO_TOKEN)."
    ),
}


@router.get("/login")
def login_page(request: Request, next: str = "/", reason: str | None = None) -> Response:
    if has_session(request, request.app.state.token):
        return RedirectResponse(safe_next(next), status_code=303)
    message = REASONS.get(reason) if reason else None
    return render(request, "login.html", next=safe_next(next), error=message)


@router.post("/login")
def login(
    request: Request,
    token: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    target = safe_next(next)
    if not same_origin(request):
        return render(
            request, "login.html", status=403, next=target, error="Sign in from this site itself."
        )
    guesses, client = limiter(request.scope), client_address(request.scope)
    try:
        guesses.check(client)
    except TooManyAttemptsError as exc:
        return render(request, "login.html", status=429, next=target, error=exc.message)
    if not token_matches(token.strip(), request.app.state.token):
        guesses.failed(client)
        message = (
            "That token is not right. Use the one in the URL nanogpt-studio serve printed, "
            "or STUDIO_TOKEN."
        )
        return render(request, "login.html", status=401, next=target, error=message)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, request.app.state.token, secure=request.url.scheme == "https")
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    response = RedirectResponse("/login", status_code=303)
    if same_origin(request):
        response.delete_cookie(COOKIE_NAME, path="/")
    return response
