"""Reading back what a batch run wrote, and running the CLI as a separate process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg

from models.embedder import LocalTextEmbedder
from tellmemore.index import FixedIndex, SearchIndex, connect, registry
from tellmemore.search import SearchEngine
from tellmemore.settings import Settings
from tests.storage.helpers import rows
from tests.support.cli_env import cli_env as settings_env

ROOT = Path(__file__).resolve().parent.parent.parent


def lance_rows(
    settings: Settings, table: str, podcast_id: str | None = None
) -> list[dict[str, Any]]:
    db = connect(settings.lance, settings.s3)
    if table not in db.table_names():
        return []
    query = db.open_table(table).search()
    if podcast_id:
        query = query.where(f"podcast_id = '{podcast_id}'")
    result: list[dict[str, Any]] = query.limit(None).to_arrow().to_pylist()
    return result


def cli(settings: Settings, *args: str, check: bool = True) -> str:
    tool = str(Path(sys.executable).parent / args[0])
    done = subprocess.run([tool, *args[1:]], env={**os.environ, **cli_env(settings)}, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout
    assert done.returncode == 1 and "index_not_found" in done.stderr, done.stderr
    return ""


def search_engine(settings: Settings, index: FixedIndex) -> SearchEngine:
    return SearchEngine(connect(settings.lance, settings.s3),
                        LocalTextEmbedder(settings.models.embedder), settings.search,
                        index=index)  # fmt: skip


def active_index(database_url: str) -> SearchIndex | None:
    async def get() -> SearchIndex | None:
        async with await psycopg.AsyncConnection.connect(database_url) as conn:
            return await registry.active(conn)

    return asyncio.run(get())


def done_in_ledger(database_url: str, podcast_id: str) -> dict[str, Any]:
    found = rows(database_url, "SELECT b.episode_id::text, b.updated_at FROM batch_items b "
                 "JOIN episodes e ON e.id = b.episode_id WHERE e.podcast_id = %s "
                 "AND b.outcome = 'done'", podcast_id)  # fmt: skip
    return {r["episode_id"]: r["updated_at"] for r in found}


def cli_env(settings: Settings) -> dict[str, str]:
    """The settings as a CLI's environment, one episode per block (kill tests count on it)."""
    return {**settings_env(settings), "TMM_BATCH__EPISODES_PER_BLOCK": "1",
            "TMM_BATCH__EMBED_BATCH_EPISODES": "1"}  # fmt: skip
