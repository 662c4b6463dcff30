"""/health and /ready, and the migration runner they report on."""

from __future__ import annotations

import asyncio

import psycopg
from httpx import AsyncClient
from psycopg import sql
from psycopg.conninfo import make_conninfo

from tellmemore.settings import DatabaseSettings, Settings
from tellmemore.storage import load_migrations, migrate
from tests.conftest import serve
from tests.support.scrape import parse


async def test_health_and_ready(client: AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    ready = await client.get("/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready" and body["database"] is True
    assert body["schema_version"] == body["schema_latest"] == load_migrations()[-1].version


async def test_not_ready_without_a_database(settings: Settings) -> None:
    unreachable = settings.model_copy(
        update={
            "database": DatabaseSettings(
                url="postgresql://postgres@127.0.0.1:9/none", connect_timeout_s=1.0
            )
        }
    )
    async with serve(unreachable) as http:
        assert (await http.get("/health")).status_code == 200
        ready = await http.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["database"] is False
        listing = await http.get("/podcasts")
        assert listing.status_code == 503
        assert listing.json()["error"]["code"] == "database_unavailable"


async def test_migrations_are_idempotent_and_detect_edits(
    client: AsyncClient, database_url: str
) -> None:
    assert await migrate(database_url) == []
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
        try:
            ready = await client.get("/ready")
            assert ready.status_code == 503
            assert "edited" in ready.json()["problems"][0]
        finally:
            conn.execute(
                "UPDATE schema_migrations SET checksum = %s WHERE version = 1",
                (load_migrations()[0].checksum,),
            )
    assert (await client.get("/ready")).status_code == 200


async def test_not_ready_until_migrations_are_applied(
    settings: Settings, database_url: str
) -> None:
    name = "tmm_test_unmigrated"
    admin = make_conninfo(database_url, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    empty = make_conninfo(database_url, dbname=name)
    try:
        fresh = settings.model_copy(update={"database": DatabaseSettings(url=empty)})
        async with serve(fresh) as http:
            ready = await http.get("/ready")
            assert ready.status_code == 503
            assert ready.json()["schema_version"] == 0
            assert "tmm db migrate" in ready.json()["problems"][0]
            applied = await migrate(empty)
            assert [m.version for m in applied] == [m.version for m in load_migrations()]
            assert (await http.get("/ready")).status_code == 200
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


async def _statements(http: AsyncClient) -> float:
    scrape = parse((await http.get("/metrics")).text)
    return scrape.total("tmm_db_query_seconds_count")


async def test_ready_is_cheap_however_often_it_is_called(settings: Settings) -> None:
    """Anyone may call /ready: a burst of calls costs one database check per
    ``api.ready_cache_s``, not one each, and it counts against the caller's rate limit."""
    uncached = settings.model_copy(update={"api": settings.api.model_copy(
        update={"ready_cache_s": 0})})  # fmt: skip
    async with serve(uncached) as http:
        before = await _statements(http)
        assert (await http.get("/ready")).status_code == 200
        one_check = await _statements(http) - before
    assert one_check >= 1
    cached = settings.model_copy(update={"api": settings.api.model_copy(
        update={"ready_cache_s": 60})})  # fmt: skip
    async with serve(cached) as http:
        before = await _statements(http)
        answers = await asyncio.gather(*(http.get("/ready") for _ in range(30)))
        burst = await _statements(http) - before
        assert [a.status_code for a in answers] == [200] * 30
        assert "ratelimit-remaining" in {k.lower() for k in answers[0].headers}
    assert burst == one_check, (burst, one_check)
