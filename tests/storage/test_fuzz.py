"""The whole API under a schema fuzzer (schemathesis), anonymous and signed in: no input the
OpenAPI document allows, or almost allows, may make the server answer 5xx.

The app runs under uvicorn on loopback against the real PostgreSQL and Redis. Operations that
make the server fetch a URL the fuzzer made up are left out (no test touches the internet):
adding a feed, importing OPML and refreshing a feed; ``/llm`` needs the Serve app.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from api.app import create_app
from tellmemore.settings import Settings
from tests.conftest import make_settings
from tests.support.apple import FakeApple
from tests.support.fake_cluster import free_port

pytestmark = pytest.mark.slow

_FETCHING = r"^/(podcasts|opml/import|podcasts/\{podcast_id\}/refresh|llm/.*)$"
# Examples per operation and caller (hypothesis stops early where the schema allows fewer).
EXAMPLES = 40


@pytest.fixture(scope="module")
def server(
    database_url: str, apple_server: Any, redis_settings: Any, lance_dir: Any
) -> Iterator[str]:
    fuzz_settings: Settings = make_settings(
        database_url, apple_server.base_url, redis_settings, lance_dir
    )
    # Our own guard on Apple's quota (503 upstream_throttled past it) is tested elsewhere.
    apple = fuzz_settings.apple.model_copy(update={"calls_per_minute": 100_000})
    fuzz_settings = fuzz_settings.model_copy(update={"apple": apple})
    # Apple's directory as Apple answers it: any search term is a 200, most with no results.
    apple_server.reset()
    FakeApple(apple_server, "http://127.0.0.1:9")
    port = free_port()
    config = uvicorn.Config(create_app(fuzz_settings), host="127.0.0.1", port=port,
                            log_level="warning", lifespan="on")  # fmt: skip
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not running.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(timeout=30)


@pytest.fixture(scope="module")
def api_schema(server: str) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_url(f"{server}/openapi.json")
    # Logging out would end the signed-in caller's session for the rest of the run.
    return schema.exclude(path_regex=_FETCHING).exclude(path="/auth/logout")


@pytest.fixture(scope="module")
def signed_in(server: str, clean_fuzz_db: None) -> dict[str, str]:
    email = f"fuzzer-{uuid.uuid4().hex[:8]}@example.com"
    answer = httpx.post(f"{server}/auth/register",
                        json={"email": email, "password": "correct horse battery"})  # fmt: skip
    assert answer.status_code == 201, answer.text
    return {"Authorization": f"Bearer {answer.json()['tokens']['access_token']}"}


def _fuzz(
    api: schemathesis.BaseSchema, server: str, headers: dict[str, str]
) -> tuple[int, list[str]]:
    """Every operation with up to EXAMPLES generated cases; the number of requests made and
    what answered 5xx (one line per operation, with the smallest case hypothesis found)."""
    requests = 0
    failures: list[str] = []
    for result in api.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # our own schema is valid

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def run(case: Any) -> None:
            nonlocal requests
            requests += 1
            case.call_and_validate(base_url=server, headers=headers, checks=[not_a_server_error])

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # report every operation, not the first
            failures.append(f"{operation.label}: {str(exc).strip()[:800]}")
    return requests, failures


def test_anonymous_callers_get_no_server_error(
    api_schema: schemathesis.BaseSchema, server: str, clean_fuzz_db: None
) -> None:
    requests, failures = _fuzz(api_schema, server, {})
    print(f"\nschemathesis, anonymous: {requests} requests, {len(failures)} failing operations")
    assert requests > 200 and not failures, "\n\n".join(failures)


def test_signed_in_callers_get_no_server_error(
    api_schema: schemathesis.BaseSchema, server: str, signed_in: dict[str, str]
) -> None:
    requests, failures = _fuzz(api_schema, server, signed_in)
    print(f"\nschemathesis, signed in: {requests} requests, {len(failures)} failing operations")
    assert requests > 200 and not failures, "\n\n".join(failures)


@pytest.fixture(scope="module")
def clean_fuzz_db(database_url: str) -> None:
    """The module's run starts from empty tables; what the fuzzer adds stays for the next."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE podcasts, podcast_feed_urls, episodes, users CASCADE")
