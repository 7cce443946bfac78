"""The API's reference: Swagger UI, vendored (static/vendor/swagger-ui/), over /openapi.json.

FastAPI's own /docs loads Swagger UI from a CDN with an inline script; this page loads the
vendored copy and starts it from static/js/api_docs.js, under the pages' CSP."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from app.api.deps import PageAccess
from app.web.templating import render

router = APIRouter(dependencies=[PageAccess])


@router.get("/docs")
def api_docs(request: Request) -> Response:
    # The quick start's base URL as this browser reaches the API (docs/api.md's is the
    # default `make run` address).
    api_url = str(request.base_url).rstrip("/") + "/api/v1"
    return render(request, "docs.html", active="docs", openapi_url="/openapi.json", api_url=api_url)
