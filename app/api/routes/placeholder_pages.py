"""Stand-in pages until the dashboard (app/web) exists; create_app uses app.web instead
as soon as it exports a `router`."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from app.api.deps import require_page_access

router = APIRouter(include_in_schema=False)


@router.get("/", dependencies=[Depends(require_page_access)], response_class=HTMLResponse)
def index() -> str:
    return (
        "<!doctype html><title>nanoGPT Studio</title><p>nanoGPT Studio: see <a href=/docs>/docs</a>"
    )


@router.get("/login", response_class=HTMLResponse)
def login() -> str:
    return (
        "<!doctype html><title>nanoGPT Studio</title>"
        "<p>Open the link with <code>?token=…</code> that "
        "<code>nanogpt-studio serve</code> printed."
    )
