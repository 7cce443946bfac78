"""One studio, one data directory: the deployment's id lives in the database and in a marker
file in the data directory. The API side (`migrate`, `serve`, `api`) writes both; a worker
checks that the folder it sees holds the database's id, so a host that mounted the wrong
folder (or none: an empty local directory) refuses to start instead of training on files
the API never wrote and writing checkpoints the API never sees."""

from __future__ import annotations

import os
from pathlib import Path

from app.store.deployment_id import database_id, ensure_database_id
from app.store.errors import ConflictError
from app.store.settings import Settings

MARKER = "deployment-id"


class WrongDataDirError(ConflictError):
    """The data directory is not the one the database's studio writes to."""


def marker_path(settings: Settings) -> Path:
    return settings.data_dir / MARKER


def ensure(settings: Settings) -> str:
    """The deployment's id: made on first use, written to the data directory when missing
    there; refused when the directory already belongs to another deployment."""
    found = ensure_database_id()
    path = marker_path(settings)
    on_disk = _read(path)
    if on_disk is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{MARKER}.{os.getpid()}.partial")
        partial.write_text(found + "\n", encoding="ascii")
        partial.replace(path)  # whole or not at all
    elif on_disk != found:
        raise WrongDataDirError(_mismatch(settings, on_disk, found))
    return found


def check(settings: Settings) -> str:
    """What a worker does before it consumes anything: the id, or a message saying why not."""
    found = database_id()
    if found is None:
        raise WrongDataDirError(
            "the database has no deployment id yet: run `nanogpt-studio migrate` (or start "
            "the API) once before starting workers"
        )
    on_disk = _read(marker_path(settings))
    if on_disk is None:
        raise WrongDataDirError(
            f"{marker_path(settings)} is missing: STUDIO_DATA_DIR ({settings.data_dir}) is not "
            "the data directory the API writes to. Mount the shared data directory there "
            "(docs/deploy.md, 'Adding a GPU host') or point STUDIO_DATA_DIR at it"
        )
    if on_disk != found:
        raise WrongDataDirError(_mismatch(settings, on_disk, found))
    return found


def _mismatch(settings: Settings, on_disk: str, found: str) -> str:
    return (
        f"{marker_path(settings)} holds deployment {on_disk}, but the database "
        f"({settings.sqlalchemy_url.split('@')[-1]}) belongs to deployment {found}: this data "
        "directory belongs to another studio"
    )


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip() or None
    except FileNotFoundError:
        return None
