"""Settings, cursors and the in-process cache/budget."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest
from pydantic import ValidationError

from tellmemore.catalog import CallBudget, TTLCache
from tellmemore.errors import CatalogError
from tellmemore.settings import load_settings
from tellmemore.storage import Cursor


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_ttl_cache_expires_and_evicts() -> None:
    clock = Clock()
    cache: TTLCache[int] = TTLCache(ttl_s=10, max_entries=2, clock=clock)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)  # evicts b, the least recently used
    assert cache.get("b") is None
    clock.now += 11
    assert cache.get("a") is None and cache.get("c") is None
    assert (cache.hits, cache.misses) == (1, 3)


def test_call_budget_is_a_sliding_window() -> None:
    clock = Clock()
    budget = CallBudget(calls=2, window_s=60, clock=clock)
    assert budget.try_acquire() == 0 and budget.try_acquire() == 0
    assert budget.try_acquire() == 60
    clock.now += 30
    assert budget.try_acquire() == 30
    clock.now += 30
    assert budget.try_acquire() == 0


def test_cursor_round_trip_and_garbage() -> None:
    cursor = Cursor(datetime(2026, 11, 1, tzinfo=UTC), uuid4())
    assert Cursor.decode(cursor.encode()) == cursor
    for token in ("", "!!!", "e30", "eyJ0IjogIjIwMjYtMTEtMDEiLCAiaWQiOiAieCJ9"):
        with pytest.raises(CatalogError) as caught:
            Cursor.decode(token)
        assert caught.value.code == "invalid_cursor"


def test_settings_come_from_env_and_env_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TMM_DATABASE__URL", "postgresql://u@db.example:5433/x")
    monkeypatch.setenv("TMM_FEEDS__ALLOW_PRIVATE_HOSTS", "true")
    settings = load_settings()
    assert settings.database.url == "postgresql://u@db.example:5433/x"
    assert settings.feeds.allow_private_hosts is True
    env_file = tmp_path / "custom.env"
    env_file.write_text("TMM_API__PORT=9123\nTMM_APPLE__COUNTRY=GB\n")
    from_file = load_settings(env_file=env_file)
    assert (from_file.api.port, from_file.apple.country) == (9123, "GB")


@pytest.mark.parametrize("secret", [None, "", "changeme", "secret", "short-but-random-9f2"])
@pytest.mark.parametrize("environment", ["production", "test"])
def test_outside_development_a_real_jwt_secret_is_required(
    secret: str | None, environment: str
) -> None:
    auth = {} if secret is None else {"jwt_secret": secret}
    with pytest.raises(ValidationError, match="jwt_secret"):
        load_settings(_env_file=None, environment=environment, auth=auth)


def test_a_real_secret_starts_and_development_gets_an_ephemeral_one() -> None:
    real = "k" * 16 + "9f2c1e7a0b3d4c5e6f708192a3b4c5d6"
    production = load_settings(_env_file=None, environment="production", auth={"jwt_secret": real})
    assert production.jwt_secret() == real
    development = load_settings(_env_file=None)
    assert len(development.jwt_secret()) >= 32


def test_defaults_are_safe_for_production() -> None:
    settings = load_settings(_env_file=None)
    assert settings.feeds.allow_private_hosts is False
    assert settings.demo.enabled is False
    assert settings.apple.calls_per_minute <= 20
    assert settings.auth.bcrypt_rounds == 12
    assert settings.auth.access_token_ttl_s == 15 * 60
    limits = settings.rate_limit
    assert (limits.per_user_per_minute, limits.per_ip_per_minute) == (100, 100)
    assert limits.auth_per_minute < limits.per_ip_per_minute
    assert settings.api.cors_origins == []  # no origin is trusted unless configured
