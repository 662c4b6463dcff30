"""Shared fixtures: one real PostgreSQL database per test session, real HTTP servers on
127.0.0.1 for feeds and for Apple's search API, and the app built from explicit settings.

PostgreSQL comes from ``TMM_DATABASE__URL`` (default: the standard local server); when nothing
answers there, the same code as ``tmm local up`` installs/starts a private server. Each session
works in a fresh database of its own, dropped at the end.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from httpx import ASGITransport, AsyncClient
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from api.app import create_app
from core.db.migrate import migrate
from core.local_services import ensure_postgres
from core.settings import ApiSettings, AppleSettings, DatabaseSettings, FeedSettings, Settings
from tests.support.apple import FakeApple
from tests.support.http_server import LoopbackHTTPServer

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tier markers follow the folder: tests/unit -> unit, tests/storage -> storage."""
    for item in items:
        parts = Path(str(item.fspath)).relative_to(ROOT / "tests").parts
        if parts and parts[0] in ("unit", "storage"):
            item.add_marker(getattr(pytest.mark, parts[0]))


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


@pytest.fixture
def settings(database_url: str, apple_server: LoopbackHTTPServer) -> Settings:
    """Test settings: loopback feeds allowed, short timeouts, small limits."""
    return Settings(
        environment="test",
        database=DatabaseSettings(url=database_url, pool_min_size=0, pool_max_size=4),
        feeds=FeedSettings(
            allow_private_hosts=True,
            max_bytes=256 * 1024,
            connect_timeout_s=1.0,
            read_timeout_s=1.0,
            total_timeout_s=3.0,
        ),
        apple=AppleSettings(base_url=apple_server.base_url, calls_per_minute=20),
        api=ApiSettings(max_page_size=50),
    )


@pytest.fixture
def clean_db(database_url: str) -> None:
    """Every storage test starts from empty tables (the schema stays)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE podcasts, podcast_feed_urls, episodes CASCADE")


@pytest.fixture
async def client(settings: Settings, clean_db: None) -> AsyncIterator[AsyncClient]:
    """The API in-process over ASGI, with its lifespan (pool, clients) running."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = ASGITransport(app=app)
        async with AsyncClient(transport=transport, base_url="http://api.test") as http:
            yield http
