"""Wire the dashboard into the app: page routes, /static, HTML error pages for page paths."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from app.web.error_pages import install_error_pages
from app.web.pages import router
from app.web.templating import STATIC_DIR


class RevalidatedStaticFiles(StaticFiles):
    """Static files the browser revalidates (ETag → 304) on every use, so an upgrade is never
    half-cached: ES modules import each other without version strings."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/static", RevalidatedStaticFiles(directory=STATIC_DIR), name="static")
    install_error_pages(app)
