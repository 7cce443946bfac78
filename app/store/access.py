"""The access token and the browser session value derived from it."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from app.store.settings import Settings

TOKEN_FILE = "token"


def load_or_create_token(settings: Settings) -> str:
    """STUDIO_TOKEN, else the token kept in data_dir (made at random on first start, 0600)."""
    if settings.token:
        return settings.token
    path = settings.data_dir / TOKEN_FILE
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(24)
    _write_private(path, token)
    return path.read_text(encoding="utf-8").strip()


def _write_private(path: Path, text: str) -> None:
    # O_EXCL: if two processes race on first start, the first one's token wins.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text + "\n")


def session_value(token: str) -> str:
    """What the session cookie holds: an HMAC of the token, never the token itself.
    Changing the token invalidates every session."""
    return hmac.new(token.encode(), b"nanogpt-studio session v1", hashlib.sha256).hexdigest()


def token_matches(candidate: str | None, token: str) -> bool:
    return candidate is not None and hmac.compare_digest(candidate.encode(), token.encode())


def session_matches(candidate: str | None, token: str) -> bool:
    return candidate is not None and hmac.compare_digest(
        candidate.encode(), session_value(token).encode()
    )
