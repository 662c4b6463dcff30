"""Backups and restores on the real PostgreSQL, the S3 server and LanceDB: a catalog with
processed episodes and a playlist is backed up; then new episodes arrive, the playlist is
deleted and a LanceDB table dropped; a restore brings back exactly the backed-up state, every
PostgreSQL table row for row, the LanceDB tables and the same search results."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from models.embedder import Embedder, LocalTextEmbedder
from models.types import Embeddings
from tellmemore.index import SegmentStore, connect, live_tables
from tellmemore.ops import BackupError, Backups
from tellmemore.ops.backup.postgres import dump_command
from tellmemore.research import EvalSet, load_eval_catalog, load_eval_set
from tellmemore.search import SearchEngine, SearchMode
from tellmemore.settings import BackupSettings, LanceSettings, RedisSettings, S3Settings, Settings
from tellmemore.storage import ObjectStore, make_pool, migrate
from tests.conftest import bearer, make_settings, register, serve
from tests.support.cli_env import cli_env
from tests.support.http_server import LoopbackHTTPServer

ROOT = Path(__file__).resolve().parent.parent.parent
QUERIES = ("fermented cabbage and gut bacteria", "why does inflation eat savings", "sleep debt")


def _database(server_url: str) -> str:
    """A new, empty database on the same server; returns its URL."""
    name = f"tmm_backup_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(make_conninfo(server_url, dbname="postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_conninfo(server_url, dbname=name)


@pytest.fixture(scope="module")
def databases(database_url: str) -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    with psycopg.connect(make_conninfo(database_url, dbname="postgres"), autocommit=True) as c:
        for url in made:
            name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(str(name))))  # fmt: skip


@pytest.fixture(scope="module")
def settings(
    database_url: str,
    databases: list[str],
    apple_server: LoopbackHTTPServer,
    redis_settings: RedisSettings,
    s3_settings: S3Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> Settings:
    url = _database(database_url)
    databases.append(url)
    asyncio.run(migrate(url))
    base = make_settings(url, apple_server.base_url, redis_settings,
                         tmp_path_factory.mktemp("unused"))  # fmt: skip
    key = uuid.uuid4().hex[:8]
    return base.model_copy(update={
        "s3": s3_settings,
        "lance": LanceSettings(prefix=f"lance-backup-{key}"),
        "backup": BackupSettings(prefix=f"backups-{key}"),
    })  # fmt: skip


@pytest.fixture(scope="module")
def model() -> Embedder:
    return Embedder(Settings().models.embedder)


def load(settings: Settings, model: Embedder, corpus: EvalSet) -> None:
    """Episodes as processing leaves them: rows done in PostgreSQL, passages and summaries in
    LanceDB on S3, transcripts in S3."""

    async def embed(texts: Any, space: Any = None) -> Embeddings:
        return await asyncio.to_thread(model.embed_passages, list(texts))

    async def run() -> None:
        store = SegmentStore(connect(settings.lance, settings.s3), model.dimension)
        pool = make_pool(settings.database)
        await pool.open(wait=True)
        try:
            await load_eval_catalog(corpus, pool, store, embed,
                                    objects=ObjectStore(settings.s3))  # fmt: skip
        finally:
            await pool.close()

    asyncio.run(run())


def postgres_state(url: str) -> dict[str, list[str]]:
    """Every table's rows, each as its JSON text, sorted: row counts and content."""
    with psycopg.connect(url, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]  # fmt: skip
        return {
            table: sorted(
                str(row[0]) for row in conn.execute(
                    sql.SQL("SELECT to_jsonb(t)::text FROM {} t").format(sql.Identifier(table)))
            )
            for table in tables
        }  # fmt: skip


def lance_state(settings: Settings) -> dict[str, Any]:
    db = connect(settings.lance, settings.s3)
    counts = {name: table.count_rows() for name, table in live_tables(db).items()}
    engine = SearchEngine(db, LocalTextEmbedder(settings.models.embedder), settings.search)

    async def searches() -> dict[str, Any]:
        out: dict[str, Any] = {}
        for query in QUERIES:
            segments = await engine.search_segments(query, mode=SearchMode.HYBRID, limit=5,
                                                    with_highlights=False)  # fmt: skip
            episodes = await engine.search_episodes(query, limit=3)
            out[query] = ([s.segment_id for s in segments], [e.episode_id for e in episodes])
        return out

    return {"rows": counts, "search": asyncio.run(searches())}


def tmm(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **cli_env(settings),
           "TMM_BACKUP__PREFIX": settings.backup.prefix}  # fmt: skip
    return subprocess.run([str(Path(sys.executable).parent / "tmm"), *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip


async def make_playlist(settings: Settings, episode_ids: list[str]) -> tuple[str, str]:
    async with serve(settings) as http:
        user = await register(http)
        auth = bearer(user["tokens"])
        made = await http.post("/playlists", json={"title": "Backed up"}, headers=auth)
        assert made.status_code == 201, made.text
        playlist_id = made.json()["id"]
        for episode_id in episode_ids:
            added = await http.post(
                f"/playlists/{playlist_id}/items",
                headers=auth,
                json={"episode_id": episode_id, "start_s": 10, "end_s": 70},
            )
            assert added.status_code == 201, added.text  # fmt: skip
        return playlist_id, user["tokens"]["access_token"]


async def delete_playlist(settings: Settings, playlist_id: str, token: str) -> None:
    async with serve(settings) as http:
        auth = {"Authorization": f"Bearer {token}"}
        current = await http.get(f"/playlists/{playlist_id}", headers=auth)
        gone = await http.delete(
            f"/playlists/{playlist_id}", headers={**auth, "If-Match": current.headers["ETag"]}
        )
        assert gone.status_code == 204, gone.text  # fmt: skip


def test_a_restore_brings_back_exactly_the_backed_up_state(
    settings: Settings, databases: list[str], model: Embedder
) -> None:
    corpus = load_eval_set()
    first = EvalSet(podcasts=corpus.podcasts[:4], queries=())
    later = EvalSet(podcasts=corpus.podcasts[4:], queries=())
    load(settings, model, first)
    with psycopg.connect(settings.database.url) as conn:
        episode_ids = [str(r[0]) for r in conn.execute("SELECT id FROM episodes LIMIT 2")]
    playlist_id, token = asyncio.run(make_playlist(settings, episode_ids))
    before_pg, before_lance = postgres_state(settings.database.url), lance_state(settings)
    assert before_pg["playlist_items"] and len(before_pg["episodes"]) == 16

    made = tmm(settings, "backup", "create")
    assert made.returncode == 0, made.stderr
    manifest = json.loads(made.stdout)
    assert manifest["schema_version"] >= 8 and manifest["postgres_bytes"] > 0
    assert {t["name"]: t["rows"] for t in manifest["tables"]} == before_lance["rows"]

    # After the backup: new episodes, a deleted playlist, a dropped table.
    load(settings, model, later)
    asyncio.run(delete_playlist(settings, playlist_id, token))
    connect(settings.lance, settings.s3).drop_table("episode_summaries")
    changed = postgres_state(settings.database.url)
    assert len(changed["episodes"]) == 24 and not changed["playlist_items"]
    assert "episode_summaries" not in lance_state(settings)["rows"]

    # The live database is refused without --force; a fresh database is not.
    refused = tmm(settings, "backup", "restore", manifest["id"])
    assert refused.returncode == 1 and "target_not_empty" in refused.stderr
    fresh = _database(settings.database.url)
    databases.append(fresh)
    restored = tmm(settings, "backup", "restore", manifest["id"], "--database-url", fresh)
    assert restored.returncode == 0, restored.stderr
    report = json.loads(restored.stdout)
    assert report["lance"]["from_copy"] == ["episode_summaries"]
    assert report["lance"]["from_tag"] == ["segments"]
    assert postgres_state(fresh) == before_pg
    assert lance_state(settings) == before_lance

    forced = tmm(settings, "backup", "restore", manifest["id"], "--force")
    assert forced.returncode == 0, forced.stderr
    assert postgres_state(settings.database.url) == before_pg
    assert lance_state(settings) == before_lance


def test_old_backups_are_pruned_and_the_newest_kept(settings: Settings) -> None:
    backups = Backups(settings)
    now = datetime.now(UTC)
    old = backups.create(now=now - timedelta(days=9))
    newer = backups.create(now=now - timedelta(days=8))
    kept = backups.create(now=now - timedelta(hours=1))
    assert backups.prune(now=now) == [old.id, newer.id]
    remaining = [m.id for m in backups.backups()]
    assert old.id not in remaining and newer.id not in remaining and kept.id in remaining
    objects = ObjectStore(settings.s3)
    assert objects.keys(f"{settings.backup.prefix}/{old.id}/") == []
    segments = connect(settings.lance, settings.s3).open_table("segments")
    tags = set(segments.tags.list())
    assert f"backup-{old.id}" not in tags and f"backup-{kept.id}" in tags
    # However old they all are, the newest stays.
    everything = [m.id for m in backups.backups()]
    assert backups.prune(now=now + timedelta(days=30)) == everything[:-1]
    assert [m.id for m in backups.backups()] == everything[-1:]


def test_an_unknown_backup_is_a_clear_error(settings: Settings) -> None:
    missing = tmm(settings, "backup", "restore", "20000101T000000Z")
    assert missing.returncode == 1 and "backup_not_found" in missing.stderr


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda dump: dump[: len(dump) // 2], "bytes; the backup recorded"),
        (lambda dump: dump[:-1] + bytes([dump[-1] ^ 0xFF]), "sha256 differs"),
    ],
    ids=["truncated", "same size, other bytes"],
)
def test_a_forced_restore_of_a_damaged_dump_changes_nothing(
    settings: Settings, damage: Any, reason: str
) -> None:
    """The dump is downloaded and checked against the manifest before anything is touched:
    a damaged one leaves the live database exactly as it was (the old code dropped the schema
    first, then found out), and no half-restored database behind."""
    manifest = Backups(settings).create()
    objects = ObjectStore(settings.s3)
    dump = objects.get_bytes(manifest.postgres_key)
    objects.put_bytes(manifest.postgres_key, damage(dump), "application/octet-stream")
    before = postgres_state(settings.database.url)
    with pytest.raises(BackupError) as failed:
        Backups(settings).restore(manifest.id, force=True)
    assert failed.value.code == "dump_corrupt" and reason in failed.value.message
    assert "Nothing was changed" in failed.value.message
    assert postgres_state(settings.database.url) == before
    with psycopg.connect(make_conninfo(settings.database.url, dbname="postgres")) as conn:
        left = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                            ("%_restoring_%",)).fetchall()  # fmt: skip
    assert left == []


def test_the_database_password_never_reaches_the_tools_arguments(tmp_path: Path) -> None:
    """Any local user can read a process's arguments (`ps`); libpq reads PGPASSWORD from the
    tool's own environment instead."""
    url = "postgresql://tmm:s3cr3t-pa55@127.0.0.1:5432/tellmemore?sslmode=prefer"
    args, env = dump_command(url, tmp_path / "x.dump")
    assert not any("s3cr3t-pa55" in arg for arg in args), args
    assert env["PGPASSWORD"] == "s3cr3t-pa55"
    assert any("dbname=tellmemore" in a and "user=tmm" in a for a in args)
