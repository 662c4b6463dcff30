"""Rate limits in Redis: the production numbers, across two app instances, and with Redis down."""

from __future__ import annotations

import asyncio
import socket

import httpx
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
        # One guess per address, so that only the per-IP limit is in play (per-account
        # throttling has its own test below).
        guesses = [
            (
                await attacker.post(
                    "/auth/login",
                    json={"email": f"user-{i}@example.com", "password": f"guess-{i:04d}xx"},
                )
            ).status_code
            for i in range(11)
        ]
        assert guesses == [401] * 10 + [429]
        ok = await someone_else.post(
            "/auth/login", json={"email": "victim@example.com", "password": "correct horse battery"}
        )
        assert ok.status_code == 200


async def test_refreshes_have_a_bucket_of_their_own(
    production_limits: Settings, clean_db: None
) -> None:
    """A web app refreshes on every page load: a person reloading a few tabs must not spend
    the login budget (nor be refused), while refreshes still have a per-address ceiling."""
    limits = production_limits.rate_limit
    assert limits.refresh_per_minute > limits.auth_per_minute
    async with serve(production_limits, client_ip="10.9.3.1") as http:
        refresh = (await register(http))["tokens"]["refresh_token"]
        statuses = []
        for _ in range(limits.refresh_per_minute - 1):  # all but one of the refresh budget
            answer = await http.post("/auth/refresh", json={"refresh_token": refresh})
            statuses.append(answer.status_code)
            if answer.status_code == 200:
                refresh = answer.json()["refresh_token"]
        assert statuses == [200] * (limits.refresh_per_minute - 1)
        # Logging in still has (almost) its whole budget.
        login = await http.post(
            "/auth/login", json={"email": "nobody@example.com", "password": "not-the-one-1"}
        )
        assert login.status_code == 401
        answer = await http.post("/auth/refresh", json={"refresh_token": refresh})
        assert answer.status_code == 200
        over = await http.post("/auth/refresh", json={"refresh_token": refresh})
        assert over.status_code == 429
        assert over.json()["error"]["code"] == "rate_limited"


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


async def test_failed_logins_lock_the_account_with_exponential_backoff(
    settings: Settings, clean_db: None
) -> None:
    """Guesses for one account from ever-new addresses (which no per-IP limit sees): after
    the free failures each failure locks the account twice as long, a locked account is
    refused before its password is checked (the right one too), other accounts are not
    affected, and a success after the lock starts the count again."""
    auth = settings.auth.model_copy(
        update={"login_free_failures": 3, "login_backoff_s": 1.0, "login_backoff_max_s": 4.0}
    )
    throttled = settings.model_copy(update={"auth": auth})
    async with serve(throttled) as owner:
        await register(owner, "target@example.com")
        await register(owner, "bystander@example.com")

    async def login(password: str, ip: int, email: str = "target@example.com") -> httpx.Response:
        async with serve(throttled, client_ip=f"198.51.100.{ip}") as http:
            return await http.post("/auth/login", json={"email": email, "password": password})

    answers = [await login(f"wrong guess {i}", ip=i) for i in range(4)]
    assert [a.status_code for a in answers] == [401] * 4
    locked = await login("correct horse battery", ip=10)
    assert locked.status_code == 429 and locked.json()["error"]["code"] == "login_throttled"
    assert 1 <= int(locked.headers["Retry-After"]) <= 2
    bystander = await login("correct horse battery", ip=11, email="bystander@example.com")
    assert bystander.status_code == 200
    await asyncio.sleep(1.1)
    again = await login("wrong again", ip=12)  # the lock passed; this failure doubles it
    assert again.status_code == 401
    doubled = await login("correct horse battery", ip=13)
    assert doubled.status_code == 429 and int(doubled.headers["Retry-After"]) == 2
    await asyncio.sleep(2.1)
    assert (await login("correct horse battery", ip=14)).status_code == 200
    # The success cleared the count: the next failures are free again.
    assert (await login("wrong once more", ip=15)).status_code == 401
    assert (await login("correct horse battery", ip=16)).status_code == 200


async def test_clients_behind_a_trusted_proxy_get_their_own_buckets(
    production_limits: Settings, clean_db: None
) -> None:
    """Behind the load balancer every request comes from its address: per-IP limits must count
    the address it forwards, and only when it is the one forwarding."""
    behind_lb = production_limits.model_copy(update={"api": production_limits.api.model_copy(
        update={"forwarded_allow_ips": "10.0.0.0/8"})})  # fmt: skip

    async def remaining(http: httpx.AsyncClient, forwarded: str) -> int:
        answer = await http.get("/podcasts", headers={"X-Forwarded-For": forwarded})
        assert answer.status_code == 200
        return int(answer.headers["RateLimit-Remaining"])

    async with serve(behind_lb, client_ip="10.1.2.3") as lb:
        first = await remaining(lb, "203.0.113.1")
        assert await remaining(lb, "203.0.113.1") == first - 1
        assert await remaining(lb, "203.0.113.2") == first  # another listener, own bucket
        # A client's own X-Forwarded-For is not believed past the proxy that appended to it.
        assert await remaining(lb, "203.0.113.2, 203.0.113.1") == first - 2
    async with serve(behind_lb, client_ip="198.51.100.7") as direct:
        # Not a trusted proxy: its header cannot pick a bucket.
        mine = await remaining(direct, "203.0.113.50")
        assert await remaining(direct, "203.0.113.51") == mine - 1
