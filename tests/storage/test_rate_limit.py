"""Rate limits in Redis: the production numbers, across two app instances, and with Redis down."""

from __future__ import annotations

import asyncio
import socket

import pytest

from tellmemore.settings import RateLimitSettings, RedisSettings, Settings
from tests.conftest import bearer, register, serve


@pytest.fixture
def production_limits(settings: Settings) -> Settings:
    """The default limits (100/min per user and per IP, 10/min on account routes)."""
    limited = settings.model_copy(update={"rate_limit": RateLimitSettings()})
    assert limited.rate_limit.per_user_per_minute == 100
    return limited


async def test_user_limit_holds_across_two_app_instances(
    production_limits: Settings, clean_db: None
) -> None:
    async with (
        serve(production_limits, client_ip="10.9.0.1") as one,
        serve(production_limits, client_ip="10.9.0.2") as two,
    ):
        tokens = (await register(one))["tokens"]
        other = (await register(two))["tokens"]
        statuses = []
        for i in range(100):
            app = one if i % 2 else two
            statuses.append(
                (await app.get("/me/subscriptions", headers=bearer(tokens))).status_code
            )
        assert statuses == [200] * 100
        over = await one.get("/me/subscriptions", headers=bearer(tokens))
        assert over.status_code == 429
        assert over.json()["error"]["code"] == "rate_limited"
        assert 40 <= int(over.headers["Retry-After"]) <= 60  # when the oldest leaves the window
        assert over.headers["RateLimit-Remaining"] == "0"
        assert (await two.get("/me/subscriptions", headers=bearer(tokens))).status_code == 429
        # Another user is not affected.
        assert (await two.get("/me/subscriptions", headers=bearer(other))).status_code == 200


async def test_the_window_slides(settings: Settings, clean_db: None) -> None:
    """At most N in any window: capacity comes back as old requests age out, and refused
    requests do not count (a window of 1 s here stands in for the minute)."""
    fast = settings.model_copy(
        update={"rate_limit": RateLimitSettings(per_user_per_minute=5, window_s=1.0)}
    )
    async with serve(fast) as http:
        tokens = (await register(http))["tokens"]
        first = [(await http.get("/me", headers=bearer(tokens))).status_code for _ in range(8)]
        assert first == [200] * 5 + [429] * 3
        await asyncio.sleep(1.05)
        again = [(await http.get("/me", headers=bearer(tokens))).status_code for _ in range(6)]
        assert again == [200] * 5 + [429]


async def test_anonymous_requests_are_limited_per_ip(
    production_limits: Settings, clean_db: None
) -> None:
    async with (
        serve(production_limits, client_ip="10.9.1.1") as here,
        serve(production_limits, client_ip="10.9.1.2") as elsewhere,
    ):
        results = await asyncio.gather(*(here.get("/podcasts") for _ in range(101)))
        assert sorted(r.status_code for r in results) == [200] * 100 + [429]
        assert (await elsewhere.get("/podcasts")).status_code == 200
        assert int((await here.get("/podcasts")).headers["Retry-After"]) >= 1


async def test_login_has_a_stricter_limit(production_limits: Settings, clean_db: None) -> None:
    async with (
        serve(production_limits, client_ip="10.9.2.1") as attacker,
        serve(production_limits, client_ip="10.9.2.2") as someone_else,
    ):
        await register(someone_else, "victim@example.com")
        guesses = [
            (
                await attacker.post(
                    "/auth/login",
                    json={"email": "victim@example.com", "password": f"guess-{i:04d}xx"},
                )
            ).status_code
            for i in range(11)
        ]
        assert guesses == [401] * 10 + [429]
        ok = await someone_else.post(
            "/auth/login", json={"email": "victim@example.com", "password": "correct horse battery"}
        )
        assert ok.status_code == 200


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_redis_down_reads_pass_writes_refused(
    production_limits: Settings, clean_db: None
) -> None:
    """Documented behaviour: GET/HEAD fail open; writes (login, register, adding feeds) answer
    503 so that an outage never switches off brute-force protection."""
    working = production_limits
    down = production_limits.model_copy(
        update={
            "redis": RedisSettings(url=f"redis://127.0.0.1:{_dead_port()}/0", socket_timeout_s=0.2)
        }
    )
    async with serve(working) as healthy:
        tokens = (await register(healthy))["tokens"]
    async with serve(down) as http:
        assert (await http.get("/podcasts")).status_code == 200
        assert (await http.get("/me", headers=bearer(tokens))).status_code == 200
        assert (await http.get("/health")).status_code == 200
        for response in (
            await http.post("/auth/login", json={"email": "a@example.com", "password": "x" * 12}),
            await http.post(
                "/auth/register", json={"email": "b@example.com", "password": "y" * 12}
            ),
            await http.put(
                "/me/subscriptions/00000000-0000-4000-8000-000000000000", headers=bearer(tokens)
            ),
        ):
            assert response.status_code == 503
            assert response.json()["error"]["code"] == "rate_limiter_unavailable"
            assert response.headers["Retry-After"] == "5"
