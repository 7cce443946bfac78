"""The access token: random on first start, kept 0600 in the data directory, or STUDIO_TOKEN."""

import stat

from app.store.access import load_or_create_token, session_matches, session_value
from app.store.settings import Settings


def test_token_is_made_once_and_kept_private(tmp_path):
    settings = Settings(data_dir=tmp_path, token=None)
    first = load_or_create_token(settings)
    assert len(first) >= 24
    assert load_or_create_token(settings) == first
    mode = stat.S_IMODE((tmp_path / "token").stat().st_mode)
    assert mode == 0o600


def test_env_token_wins(tmp_path):
    token = "abc-0123456789-xyz"
    assert load_or_create_token(Settings(data_dir=tmp_path, token=token)) == token
    assert not (tmp_path / "token").exists()


def test_a_short_env_token_is_refused(tmp_path):
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="at least 16 characters"):
        Settings(data_dir=tmp_path, token="abc")


def test_session_value_is_not_the_token():
    assert session_value("t") != "t"
    assert session_matches(session_value("t"), "t")
    assert not session_matches(session_value("t"), "u")
