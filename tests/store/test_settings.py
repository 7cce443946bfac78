"""One settings object, env prefix STUDIO_, every field documented in .env.example."""

import os
from pathlib import Path

import pytest

from app.store.settings import Settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """Other tests point STUDIO_* at their services; these see none of it."""
    for name in list(os.environ):
        if name.startswith("STUDIO_"):
            monkeypatch.delenv(name)


def test_defaults_are_local_and_safe(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = Settings(_env_file=None)
    assert settings.host == "127.0.0.1" and settings.port == 8000
    assert settings.data_dir == (tmp_path / ".studio").resolve()
    assert settings.sqlalchemy_url == f"sqlite:///{tmp_path.resolve() / '.studio' / 'studio.db'}"
    assert settings.redis_url is None and settings.token is None


def test_env_prefix_and_empty_values(monkeypatch, tmp_path):
    monkeypatch.setenv("STUDIO_PORT", "9001")
    monkeypatch.setenv("STUDIO_REDIS_URL", "")
    monkeypatch.setenv("STUDIO_DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path))
    settings = Settings(_env_file=None)
    assert settings.port == 9001 and settings.redis_url is None
    assert settings.sqlalchemy_url == "postgresql+psycopg://u@h/db"
    assert settings.prepared_dir(3, "char", 0.1) == tmp_path / "datasets" / "3" / "char-val0.1"


def test_every_field_is_in_env_example():
    text = (REPO / ".env.example").read_text()
    documented = {line.split("=")[0] for line in text.splitlines() if line.startswith("STUDIO_")}
    assert documented == {f"STUDIO_{name.upper()}" for name in Settings.model_fields}
