"""Annotated dependencies: settings, database session, access checks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from pydantic import TypeAdapter, ValidationError

from app.api.auth import check_api_access, check_page_access
from app.store.db import Session, get_db
from app.store.settings import Settings

_READ_METHODS = {"GET", "HEAD", "OPTIONS"}
_FLAG = TypeAdapter(bool)  # parses `?dry_run=` exactly as the route's bool parameter does


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    # Writers take SQLite's write lock up front (see app.store.db).
    with get_db().session(write=writes(request)) as session:
        yield session


def writes(request: Request) -> bool:
    """Whether the request may write: not a read, and not a dry run (`?dry_run=true` checks a
    request and stores nothing, so validating as one types never waits for the write lock)."""
    if request.method in _READ_METHODS:
        return False
    try:
        return not _FLAG.validate_python(request.query_params.get("dry_run", False))
    except ValidationError:
        return True  # the route refuses the value (422) anyway


def require_api_access(request: Request) -> None:
    check_api_access(request, request.app.state.token)


def require_page_access(request: Request) -> None:
    """For HTML pages: no session cookie → 303 to /login?next=..."""
    check_page_access(request, request.app.state.token)


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[Session, Depends(get_session)]
ApiAccess = Depends(require_api_access)
PageAccess = Depends(require_page_access)
