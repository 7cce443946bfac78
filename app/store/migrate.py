"""Apply Alembic migrations from code (what `nanogpt-studio migrate` and `serve` do)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

# Package data: a link to the top-level migrations/ in a checkout, a real folder in a wheel.
MIGRATIONS_DIR = (Path(__file__).parent / "migrations").resolve()


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would eat a % in a password.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)
