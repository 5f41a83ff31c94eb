from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from genai_shared.db.pagination import InvalidCursor, decode_cursor, encode_cursor, split_page
from genai_shared.settings import DEFAULT_SECRET_KEY, BaseAppSettings, normalize_database_url


def test_cursor_round_trip_is_opaque_and_exact():
    when, row_id = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), uuid.uuid4()
    cursor = encode_cursor(when, row_id)
    assert str(row_id) not in cursor
    assert "=" not in cursor
    assert decode_cursor(cursor) == (when, row_id)


@pytest.mark.parametrize("cursor", ["", "!!!", "e30", "WzFd", "WyJub3QtYS1kYXRlIiwgIngiXQ"])
def test_bad_cursor_raises_invalid_cursor(cursor):
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor)


def test_split_page():
    rows = [SimpleNamespace(created_at=datetime.now(UTC), id=uuid.uuid4()) for _ in range(4)]
    page, cursor = split_page(rows, 3)
    assert page == rows[:3]
    assert decode_cursor(cursor) == (rows[2].created_at, rows[2].id)
    assert split_page(rows[:3], 3) == (rows[:3], None)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:///./x.db", "sqlite+aiosqlite:///./x.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_database_url_normalisation(given, expected):
    assert normalize_database_url(given) == expected


def test_secret_key_is_hidden_in_repr():
    settings = BaseAppSettings(_env_file=None, secret_key="top-secret-value-" * 3)
    assert "top-secret-value" not in repr(settings)
    assert "top-secret-value" not in str(settings.model_dump())


def test_staging_refuses_default_secret():
    with pytest.raises(ValueError, match="SECRET_KEY"):
        BaseAppSettings(_env_file=None, environment="staging")


def test_empty_redis_url_means_no_redis(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    settings = BaseAppSettings(_env_file=None)
    assert settings.redis_url is None
    assert settings.log_level == "DEBUG"


def test_empty_secret_key_means_unset_and_short_ones_are_refused(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "")
    assert BaseAppSettings(_env_file=None).secret_key.get_secret_value() == DEFAULT_SECRET_KEY
    with pytest.raises(ValueError, match="SECRET_KEY"):
        BaseAppSettings(_env_file=None, environment="production")  # empty: still the dev key
    with pytest.raises(ValueError, match="at least 32"):
        BaseAppSettings(_env_file=None, secret_key="short")
    assert BaseAppSettings(_env_file=None, secret_key="k" * 32)
