"""/openapi.json behind the API's access check (Bearer token or the session cookie).

FastAPI's own OpenAPI, Swagger and ReDoc routes are turned off in `app.main.create_app`:
its /docs loads Swagger UI from a CDN, and its schema route would be open to anyone."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.api.deps import ApiAccess

OPENAPI_URL = "/openapi.json"

router = APIRouter(include_in_schema=False)


@router.get(OPENAPI_URL, dependencies=[ApiAccess])
def openapi_schema(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())
