"""The FastAPI application: REST API under /api/v1 (OpenAPI at /openapi.json, read at /docs),
OpenAI's completions API under /v1, plus the pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI

from app.api.auth import TokenExchangeMiddleware
from app.api.deps import require_api_access
from app.api.error_handlers import OPENAI_PREFIX, install_error_handlers
from app.api.forwarded import ForwardedHeadersMiddleware
from app.api.guesses import GuessLimiter
from app.api.limits import RequestLimitsMiddleware
from app.api.openapi import router as openapi_router
from app.api.routes import (
    configs,
    datasets,
    evaluations,
    exports,
    metrics,
    openai_compat,
    runs,
    samples,
    sweeps,
    system,
)
from app.store.access import load_or_create_token
from app.store.settings import Settings, get_settings

API_PREFIX = "/api/v1"


def _api_router() -> APIRouter:
    api = APIRouter(prefix=API_PREFIX)
    api.include_router(system.router)  # /health is open; /system checks access itself
    guarded = APIRouter(dependencies=[Depends(require_api_access)])
    for module in (datasets, runs, metrics, samples, exports, evaluations, configs, sweeps):
        guarded.include_router(module.router)
    guarded.include_router(runs.presets_router)
    api.include_router(guarded)
    return api


def include_pages(app: FastAPI) -> None:
    """The dashboard (`app.web`): Jinja2 pages (guarded by `app.api.deps.PageAccess`),
    /static, and HTML error pages for page paths (the API keeps its JSON errors)."""
    from app.web import install

    install(app)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    redis = getattr(app.state, "redis", None)
    if redis is not None:
        await redis.aclose()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = FastAPI(
        title="nanoGPT Studio",
        version="0.1.0",
        summary="From a raw text file to a trained GPT you can talk to.",
        lifespan=_lifespan,
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # Ours instead: /openapi.json behind the API's access check (app.api.openapi) and
        # /docs as a page with Swagger UI vendored (app.web.pages.docs), not from a CDN.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.token = load_or_create_token(settings)
    app.state.guesses = GuessLimiter(settings.token_attempts_per_minute)
    app.state.redis = None
    install_error_handlers(app)
    app.include_router(_api_router())
    app.include_router(
        openai_compat.router, prefix=OPENAI_PREFIX, dependencies=[Depends(require_api_access)]
    )
    app.include_router(openapi_router)
    include_pages(app)
    app.add_middleware(TokenExchangeMiddleware, token=app.state.token)
    app.add_middleware(RequestLimitsMiddleware)  # before anything reads a request
    if settings.forwarded_allow_ips:
        # Outermost: every layer below sees the scheme, host and client the browser used.
        app.add_middleware(ForwardedHeadersMiddleware, trusted=settings.forwarded_allow_ips)
    return app
