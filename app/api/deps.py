"""Annotated dependencies: settings, database session, access checks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from app.api.auth import check_api_access, check_page_access
from app.core.db import get_db
from app.core.settings import Settings

_READ_METHODS = {"GET", "HEAD", "OPTIONS"}


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    # Writers take SQLite's write lock up front (see app.core.db).
    with get_db().session(write=request.method not in _READ_METHODS) as session:
        yield session


def require_api_access(request: Request) -> None:
    check_api_access(request, request.app.state.token)


def require_page_access(request: Request) -> None:
    """For HTML pages: no session cookie → 303 to /login?next=..."""
    check_page_access(request, request.app.state.token)


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[Session, Depends(get_session)]
ApiAccess = Depends(require_api_access)
PageAccess = Depends(require_page_access)
