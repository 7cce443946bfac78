"""The deployment's id in the database: made once, by the API side. The data directory's
marker that must match it is checked in `app.planning.deployment`."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from app.store.db import get_db
from app.store.models import Deployment


def database_id() -> str | None:
    with get_db().session() as session:
        return session.scalar(select(Deployment.id).limit(1))


def ensure_database_id() -> str:
    """The id, made on first use."""
    with get_db().transaction() as session:
        found = session.scalar(select(Deployment.id).limit(1))
        if found is None:
            found = uuid.uuid4().hex
            session.add(Deployment(id=found))
    return found
