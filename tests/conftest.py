"""Shared fixtures: one real PostgreSQL database and one real Redis per test session, real
HTTP servers on 127.0.0.1 for feeds and for Apple's search API, and the app built from explicit
settings.

PostgreSQL and Redis come from ``TMM_DATABASE__URL`` / ``TMM_REDIS__URL`` (default: the standard
local servers); when nothing answers there, the same code as ``tmm local up`` installs/starts
private servers. Each session works in a fresh database of its own, dropped at the end, and under
a Redis key prefix of its own, deleted at the end.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from httpx import ASGITransport, AsyncClient
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pydantic import SecretStr

from api.app import create_app
from tellmemore.ops import ensure_postgres, ensure_redis, ensure_s3
from tellmemore.ops.local_services import local_s3_keys
from tellmemore.settings import (
    ApiSettings,
    AppleSettings,
    AuthSettings,
    DatabaseSettings,
    FeedSettings,
    LanceSettings,
    QuotaSettings,
    RateLimitSettings,
    RedisSettings,
    S3Settings,
    Settings,
)
from tellmemore.storage import ObjectStore, make_s3_client, migrate
from tests.support.apple import FakeApple
from tests.support.http_server import LoopbackHTTPServer
from tests.support.secrets import TEST_SECRET
from tests.support.stack import online, online_settings, uses_online  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tier markers follow the folder: tests/unit -> unit, tests/storage -> storage, ...; the
    tests on the shared Serve stack (tests/support/stack.py) go last."""
    for item in items:
        parts = Path(str(item.fspath)).relative_to(ROOT / "tests").parts
        if parts and parts[0] in (
            "unit",
            "storage",
            "models",
            "pipeline",
            "serve",
            "research",
            "cluster",
            "web",
        ):
            item.add_marker(getattr(pytest.mark, parts[0]))
    # The shared Serve stack's processors take any queued job: its tests run last, together.
    late = [item for item in items if uses_online(item)]
    items[:] = [item for item in items if not uses_online(item)] + late


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh, migrated database for this session on a real PostgreSQL server."""
    base = os.environ.get("TMM_DATABASE__URL", DatabaseSettings().url)
    server = ensure_postgres(base, ROOT / ".local").url
    name = f"tmm_test_{uuid.uuid4().hex[:12]}"
    admin = make_conninfo(server, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = conninfo_to_dict(server)
    url = (
        f"postgresql://{params.get('user') or 'postgres'}"
        + (f":{params['password']}" if params.get("password") else "")
        + f"@{params.get('host') or '127.0.0.1'}:{params.get('port') or 5432}/{name}"
    )
    asyncio.run(migrate(url))
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="session")
def redis_settings() -> Iterator[RedisSettings]:
    """A real Redis, under a key prefix that belongs to this session only."""
    url = ensure_redis(os.environ.get("TMM_REDIS__URL", RedisSettings().url), ROOT / ".local")
    settings = RedisSettings(url=url, key_prefix=f"tmm-test-{uuid.uuid4().hex[:8]}:")
    yield settings
    client = redis.Redis.from_url(url)
    for key in client.scan_iter(match=settings.key_prefix + "*"):
        client.delete(key)
    client.close()


@pytest.fixture(scope="session")
def s3_settings() -> Iterator[S3Settings]:
    """A real S3-protocol server on loopback and a bucket of this session's own."""
    defaults = S3Settings()
    endpoint = os.environ.get("TMM_S3__ENDPOINT_URL", defaults.endpoint_url or "")
    # The keys `tmm local up` wrote to .local/services.env (sourced by `make test`), else the
    # local server's development pair: the settings themselves have no default keys.
    access_key, secret = local_s3_keys(
        os.environ.get("TMM_S3__ACCESS_KEY_ID"), os.environ.get("TMM_S3__SECRET_ACCESS_KEY")
    )
    ensure_s3(endpoint, access_key, secret, ROOT / ".local")
    settings = S3Settings(
        endpoint_url=endpoint,
        access_key_id=access_key,
        secret_access_key=SecretStr(secret),
        bucket=f"tmm-test-{uuid.uuid4().hex[:10]}",
    )
    store = ObjectStore(settings)
    store.ensure_bucket()
    yield settings
    for key in store.keys(""):
        store.delete(key)
    make_s3_client(settings).delete_bucket(Bucket=settings.bucket)


@pytest.fixture(scope="session")
def feed_server() -> Iterator[LoopbackHTTPServer]:
    server = LoopbackHTTPServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def apple_server() -> Iterator[LoopbackHTTPServer]:
    server = LoopbackHTTPServer().start()
    yield server
    server.stop()


@pytest.fixture
def feeds(feed_server: LoopbackHTTPServer) -> LoopbackHTTPServer:
    """The feed server with every fixture feed under /feeds/ (``{{base}}`` filled in)."""
    feed_server.reset()
    for path in (FIXTURES / "feeds").iterdir():
        body = path.read_bytes().replace(b"{{base}}", feed_server.base_url.encode())
        kind = "text/html; charset=utf-8" if path.suffix == ".html" else None
        feed_server.add(
            f"/feeds/{path.name}", body=body, content_type=kind or "application/rss+xml"
        )
    return feed_server


@pytest.fixture
def fake_apple(apple_server: LoopbackHTTPServer, feed_server: LoopbackHTTPServer) -> FakeApple:
    apple_server.reset()
    return FakeApple(apple_server, feed_server.base_url)


def opml_fixture(name: str, server: LoopbackHTTPServer) -> bytes:
    return (FIXTURES / "opml" / name).read_bytes().replace(b"{{base}}", server.base_url.encode())


@pytest.fixture(scope="session")
def lance_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The search tables of API tests: a local folder of this session's own (the processing
    and search tests that need S3 say so)."""
    return tmp_path_factory.mktemp("lance")


@pytest.fixture
def settings(
    database_url: str,
    apple_server: LoopbackHTTPServer,
    redis_settings: RedisSettings,
    lance_dir: Path,
) -> Settings:
    return make_settings(database_url, apple_server.base_url, redis_settings, lance_dir)


def make_settings(
    database_url: str, apple_url: str, redis_settings: RedisSettings, lance_dir: Path
) -> Settings:
    """Test settings: loopback feeds allowed, short timeouts, small limits, a cheap bcrypt, and
    rate limits high enough not to couple tests (the rate-limit tests use the real defaults)."""
    return Settings(
        environment="test",
        # Verification is out of the way too (tests/storage/test_email_verification.py turns
        # it on): most tests subscribe and expect the episodes queued.
        auth=AuthSettings(
            jwt_secret=TEST_SECRET, bcrypt_rounds=4, require_email_verification=False
        ),
        redis=redis_settings,
        rate_limit=RateLimitSettings(
            per_user_per_minute=100_000,
            per_ip_per_minute=100_000,
            auth_per_minute=100_000,
            # Every storage test refreshes from 127.0.0.1: 60 a minute is reached by the suite.
            refresh_per_minute=100_000,
        ),
        # Out of the way like the rate limits; tests/storage/test_quotas.py sets its own.
        quotas=QuotaSettings(feeds_per_day=100_000, episodes_per_day=100_000),
        database=DatabaseSettings(url=database_url, pool_min_size=0, pool_max_size=4),
        feeds=FeedSettings(
            allow_private_hosts=True,
            max_bytes=256 * 1024,
            connect_timeout_s=1.0,
            read_timeout_s=1.0,
            total_timeout_s=3.0,
        ),
        apple=AppleSettings(base_url=apple_url, calls_per_minute=20),
        api=ApiSettings(max_page_size=50, ready_cache_s=0),
        lance=LanceSettings(location=str(lance_dir)),
    )


@pytest.fixture
def clean_db(database_url: str, redis_settings: RedisSettings) -> None:
    """Every storage test starts from empty tables (the schema stays) and empty caches: the
    truncation bypasses the catalog, so nothing told the caches."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE podcasts, podcast_feed_urls, episodes, users CASCADE")
    client = redis.Redis.from_url(redis_settings.url)
    try:
        for name in ("catalog", "search"):
            client.incr(f"{redis_settings.key_prefix}cache:{name}:generation")
        # Login failures are counted per email address, and the users are gone.
        for key in client.scan_iter(match=f"{redis_settings.key_prefix}login:*"):
            client.delete(key)
    finally:
        client.close()


@asynccontextmanager
async def serve(
    settings: Settings, *, client_ip: str = "127.0.0.1", **kwargs: Any
) -> AsyncIterator[AsyncClient]:
    """An app instance over ASGI with its lifespan running (``kwargs`` go to create_app);
    requests appear to come from ``client_ip``."""
    app = create_app(settings, **kwargs)
    async with app.router.lifespan_context(app):
        transport = ASGITransport(app=app, client=(client_ip, 50000))
        async with AsyncClient(transport=transport, base_url="http://api.test") as http:
            yield http


async def register(http: AsyncClient, email: str | None = None) -> dict[str, Any]:
    """A new account; returns the register response (``user`` and ``tokens``)."""
    email = email or f"listener-{uuid.uuid4().hex[:10]}@example.com"
    response = await http.post(
        "/auth/register", json={"email": email, "password": "correct horse battery"}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


@pytest.fixture
async def anon(settings: Settings, clean_db: None) -> AsyncIterator[AsyncClient]:
    """The API in-process, no credentials."""
    async with serve(settings) as http:
        yield http


@pytest.fixture
async def client(anon: AsyncClient) -> AsyncClient:
    """The API in-process, signed in as a fresh user."""
    anon.headers.update(bearer((await register(anon))["tokens"]))
    return anon
