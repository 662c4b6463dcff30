"""Selecting a backlog for a batch run: every filter, their combination, order and limit."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from pipelines.selection import Selection, select_episodes

START = datetime(2026, 1, 1, tzinfo=UTC)
OLD_EMBEDDER = "embedding:old@1"
NEW_EMBEDDER = "embedding:new@2"


@pytest.fixture
def catalog(database_url: str, clean_db: None) -> dict[str, list[uuid.UUID]]:
    """Two podcasts of five episodes, a day apart; statuses and embedders vary."""
    made: dict[str, list[uuid.UUID]] = {}
    with psycopg.connect(database_url, autocommit=True) as conn:
        for name in ("a", "b"):
            podcast = uuid.uuid4()
            conn.execute(
                "INSERT INTO podcasts (id, feed_url, title) VALUES (%s, %s, %s)",
                (podcast, f"https://example.invalid/{name}.xml", name),
            )
            made[name] = []
            for day in range(5):
                episode = uuid.uuid4()
                status = "done" if day % 2 == 0 else ("failed" if day == 1 else "new")
                embedder = (OLD_EMBEDDER if day < 2 else NEW_EMBEDDER) if status == "done" else None
                conn.execute(
                    "INSERT INTO episodes (id, podcast_id, identity_key, title, published_at,"
                    " content_sha256, status, embedding_model) VALUES (%s, %s, %s, %s, %s,"
                    " 'x', %s, %s)",
                    (episode, podcast, f"{name}{day}", f"{name}-{day}",
                     START + timedelta(days=day), status, embedder),
                )  # fmt: skip
                made[name].append(episode)
            made[f"{name}-podcast"] = [podcast]
    return made


async def _ids(database_url: str, selection: Selection) -> list[uuid.UUID]:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        return [e.episode_id for e in await select_episodes(conn, selection)]


async def test_filters_combine_and_order_is_stable(
    database_url: str, catalog: dict[str, list[uuid.UUID]]
) -> None:
    a, b = catalog["a"], catalog["b"]
    everything = await _ids(database_url, Selection())
    assert sorted(everything) == sorted(a + b)
    # oldest first: day 0 of both podcasts before day 1 of either
    assert set(everything[:2]) == {a[0], b[0]}

    only_a = await _ids(database_url, Selection(podcast_ids=(catalog["a-podcast"][0],)))
    assert only_a == a
    window = Selection(published_after=START + timedelta(days=1),
                       published_before=START + timedelta(days=3))  # fmt: skip
    assert set(await _ids(database_url, window)) == {a[1], a[2], b[1], b[2]}
    failed = await _ids(database_url, Selection(statuses=("failed",)))
    assert set(failed) == {a[1], b[1]}
    # re-embed: done episodes made by another embedder, or none at all
    stale = Selection(statuses=("done",), not_made_by=(("embedding", NEW_EMBEDDER),))
    assert set(await _ids(database_url, stale)) == {a[0], b[0]}
    head = await _ids(database_url, Selection(statuses=("done",), limit=3))
    assert head == (await _ids(database_url, Selection(statuses=("done",))))[:3]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"published_after": datetime(2026, 1, 1)}, "timezone-aware"),
        ({"limit": 0}, "at least 1"),
        ({"not_made_by": (("vibes", "x"),)}, "Unknown model kind"),
    ],
)
def test_bad_selections_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Selection(**kwargs)  # type: ignore[arg-type]
