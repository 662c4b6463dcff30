"""The application metrics a process records, read back from its own ``/metrics`` (the API
without Ray): HTTP requests by route template and status, latency, and database statement
time and failures through the pools' timed cursors."""

from __future__ import annotations

import psycopg
import pytest
from httpx import AsyncClient
from pydantic import SecretStr

from tellmemore.settings import DatabaseSettings, Settings
from tellmemore.storage import make_pool, statement_kind
from tests.conftest import bearer, register, serve
from tests.support.scrape import Scrape, parse


async def scrape_app(client: AsyncClient) -> Scrape:
    response = await client.get("/metrics")
    assert response.status_code == 200
    return parse(response.text)


async def test_requests_are_counted_per_route_template_and_status(anon: AsyncClient) -> None:
    before = await scrape_app(anon)
    route = "/episodes/{episode_id}"
    for _ in range(2):
        missing = await anon.get("/episodes/00000000-0000-0000-0000-000000000000")
        assert missing.status_code in (401, 404)
    status = str(missing.status_code)
    assert (await anon.get("/no/such/path")).status_code == 404
    after = await scrape_app(anon)

    def grew(scrape_name: str, **labels: str) -> float:
        return after.total(scrape_name, **labels) - before.total(scrape_name, **labels)

    # One series per route template, not per id; unknown paths share one.
    assert grew("tmm_http_requests_total", route=route, method="GET", status=status) == 2
    assert grew("tmm_http_requests_total", route="unmatched", status="404") == 1
    assert not any("00000000" in s.labels.get("route", "") for s in after.samples)
    assert grew("tmm_http_request_seconds_count", route=route, method="GET") == 2
    assert grew("tmm_http_request_seconds_bucket", route=route, le="+Inf") == 2


async def test_statements_are_timed_and_failures_counted(
    database_url: str, anon: AsyncClient
) -> None:
    pool = make_pool(DatabaseSettings(url=database_url, pool_min_size=0, pool_max_size=2))
    await pool.open()
    try:
        before = await scrape_app(anon)
        async with pool.connection() as conn:
            await conn.execute("SELECT 1")
            async with conn.cursor() as cur:
                await cur.execute(b"  select 2")
            with pytest.raises(psycopg.errors.UndefinedTable):
                await conn.execute("SELECT * FROM no_such_table")
        after = await scrape_app(anon)
    finally:
        await pool.close()
    timed = "tmm_db_query_seconds_count"
    assert after.total(timed, statement="select") - before.total(timed, statement="select") >= 3
    failed = "tmm_db_errors_total"
    assert after.total(failed, statement="select") - before.total(failed, statement="select") == 1


def test_statement_kinds() -> None:
    assert statement_kind("SELECT 1") == "select"
    assert statement_kind(b"\n  insert into x values (1)") == "insert"
    assert statement_kind("WITH a AS (SELECT 1) SELECT * FROM a") == "with"
    assert statement_kind("VACUUM") == "other"
    assert statement_kind("") == "other"
    assert statement_kind(psycopg.sql.SQL("SELECT {}").format(psycopg.sql.Literal(1))) == "other"


async def test_metrics_need_the_operators_token_when_one_is_set(settings: Settings) -> None:
    """Request counts per route and latencies are not for everyone: with
    ``api.metrics_token`` only its bearer is answered (a listener's own token is not it)."""
    token = "metrics-operator-token-0123456789"
    guarded = settings.model_copy(
        update={"api": settings.api.model_copy(update={"metrics_token": SecretStr(token)})}
    )
    async with serve(guarded) as http:
        listener = bearer((await register(http))["tokens"])
        for headers in ({}, {"Authorization": "Bearer wrong"}, listener,
                        {"Authorization": f"Basic {token}"}):  # fmt: skip
            refused = await http.get("/metrics", headers=headers)
            assert refused.status_code == 401, headers
            assert refused.json()["error"]["code"] == "metrics_token_required"
            assert "tmm_http_requests_total" not in refused.text
        allowed = await http.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert allowed.status_code == 200 and "tmm_http_requests_total" in allowed.text


async def test_metrics_are_absent_in_production_without_a_token(settings: Settings) -> None:
    """Production scrapes each Ray node's metrics port; the API's route answers as an unknown
    route does."""
    production = settings.model_copy(update={"environment": "production"})
    async with serve(production) as http:
        metrics = await http.get("/metrics")
        unknown = await http.get("/no-such-route")
    assert metrics.status_code == unknown.status_code == 404
    assert metrics.json() == unknown.json()
