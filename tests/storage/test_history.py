"""Listening history over HTTP on a real PostgreSQL, and playlists that skip what was heard."""

from __future__ import annotations

import math
import uuid
from typing import Any

import pytest
from httpx import AsyncClient

from tellmemore.playlists import ListeningHistory
from tellmemore.settings import Settings
from tellmemore.storage import make_pool
from tests.conftest import bearer, register
from tests.storage.test_playlists import Shelf, add, add_shelf, code_of, new_playlist


@pytest.fixture
def shelf(database_url: str, clean_db: None) -> Shelf:
    return add_shelf(database_url)


async def heard(
    http: AsyncClient, tokens: dict[str, Any], episode_id: str, **times: float
) -> dict[str, Any]:
    response = await http.post(
        "/me/history", json={"episode_id": episode_id, **times}, headers=bearer(tokens)
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_record_list_and_clear(anon: AsyncClient, shelf: Shelf) -> None:
    me, other = (await register(anon))["tokens"], (await register(anon))["tokens"]
    whole = await heard(anon, me, shelf.short)
    assert (whole["start_s"], whole["end_s"], whole["episode_title"]) == (
        None, None, "CRISPR patents, explained",
    )  # fmt: skip
    ranged = await heard(anon, me, shelf.long, start_s=10, end_s=20.5)
    await heard(anon, other, shelf.long)
    first = (await anon.get("/me/history", params={"limit": 1}, headers=bearer(me))).json()
    assert [e["id"] for e in first["items"]] == [ranged["id"]]  # latest first
    second = (
        await anon.get("/me/history", params={"cursor": first["next_cursor"]}, headers=bearer(me))
    ).json()
    assert [e["id"] for e in second["items"]] == [whole["id"]]
    assert second["next_cursor"] is None
    assert (await anon.delete("/me/history", headers=bearer(me))).status_code == 204
    assert (await anon.get("/me/history", headers=bearer(me))).json()["items"] == []
    # Only my own history went.
    assert len((await anon.get("/me/history", headers=bearer(other))).json()["items"]) == 1
    assert code_of(await anon.get("/me/history"), 401) == "not_authenticated"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"start_s": -5, "end_s": 10}, "invalid_time_range"),
        ({"start_s": 50, "end_s": 40}, "invalid_time_range"),
        ({"end_s": 40}, "time_range_incomplete"),
        ({"start_s": 10, "end_s": 601}, "time_range_beyond_episode"),
        ({"episode_id": "{missing}"}, "episode_not_found"),
        ({"start_s": "soon", "end_s": 40}, "validation_error"),
        ({"heard": True}, "validation_error"),
    ],
)
async def test_bad_history_input(
    anon: AsyncClient, shelf: Shelf, body: dict[str, Any], code: str
) -> None:
    me = (await register(anon))["tokens"]
    sent = {"episode_id": shelf.short, **body}
    if sent["episode_id"] == "{missing}":
        sent["episode_id"] = str(uuid.uuid4())
    response = await anon.post("/me/history", json=sent, headers=bearer(me))
    assert code_of(response, 422) == code
    assert (await anon.get("/me/history", headers=bearer(me))).json()["items"] == []


async def test_skip_heard(anon: AsyncClient, shelf: Shelf) -> None:
    owner, other = (await register(anon))["tokens"], (await register(anon))["tokens"]
    pid = (await new_playlist(anon, owner, visibility="public"))["id"]
    whole_short = await add(anon, owner, pid, shelf.short)
    early = await add(anon, owner, pid, shelf.long, start_s=100, end_s=200)
    middle = await add(anon, owner, pid, shelf.long, start_s=300, end_s=400)
    whole_unknown = await add(anon, owner, pid, shelf.unknown)
    late = await add(anon, owner, pid, shelf.long, start_s=500, end_s=600)

    async def visible(tokens: dict[str, Any] | None, **params: Any) -> list[str]:
        headers = bearer(tokens) if tokens else {}
        body = (await anon.get(f"/playlists/{pid}", params=params, headers=headers)).json()
        assert body["skipped_heard"] + len(body["items"]) == 5
        return [i["id"] for i in body["items"]]

    everything = [i["id"] for i in (whole_short, early, middle, whole_unknown, late)]
    # Two reports that only together cover 100..200; half of 300..400.
    await heard(anon, owner, shelf.long, start_s=90, end_s=150)
    await heard(anon, owner, shelf.long, start_s=150, end_s=200.5)
    await heard(anon, owner, shelf.long, start_s=300, end_s=350)
    # 89% of the short episode, then 91%.
    await heard(anon, owner, shelf.short, start_s=0, end_s=300)
    await heard(anon, owner, shelf.short, start_s=290, end_s=534)
    # No duration is known for this one: a range of it never makes it "heard as a whole".
    await heard(anon, owner, shelf.unknown, start_s=0, end_s=5000)
    assert await visible(owner, skip_heard="true") == [
        whole_short["id"], middle["id"], whole_unknown["id"], late["id"],
    ]  # fmt: skip
    await heard(anon, owner, shelf.short, start_s=530, end_s=546)
    marked = await anon.post(f"/playlists/{pid}/items/{late['id']}/heard", headers=bearer(owner))
    assert marked.status_code == 201
    assert (marked.json()["start_s"], marked.json()["end_s"]) == (500.0, 600.0)
    remaining = [middle["id"], whole_unknown["id"]]
    assert await visible(owner, skip_heard="true") == remaining
    body = (await anon.get(f"/playlists/{pid}?skip_heard=true", headers=bearer(owner))).json()
    assert [i["position"] for i in body["items"]] == [2, 3]  # positions stay the real ones
    assert body["skipped_heard"] == 3

    assert await visible(owner) == everything  # the playlist does not skip by default
    await anon.patch(f"/playlists/{pid}", json={"skip_heard": True}, headers=bearer(owner))
    assert await visible(owner) == remaining
    assert await visible(owner, skip_heard="false") == everything
    # The setting is the owner's; another reader's history applies only when they ask.
    await heard(anon, other, shelf.unknown)
    assert await visible(other) == everything
    assert await visible(other, skip_heard="true") == [i for i in everything
                                                        if i != whole_unknown["id"]]  # fmt: skip
    assert await visible(None, skip_heard="true") == everything  # anonymous: nothing heard

    m3u = await anon.get(f"/playlists/{pid}/export?format=m3u", headers=bearer(owner))
    assert m3u.text.count("#EXTINF") == 2  # the export skips what the reader heard, too
    await heard(anon, owner, shelf.unknown)  # the whole episode, now
    assert await visible(owner) == [middle["id"]]
    await anon.delete("/me/history", headers=bearer(owner))
    assert await visible(owner) == everything


async def test_marking_an_item_needs_a_playlist_i_can_see(anon: AsyncClient, shelf: Shelf) -> None:
    owner, other = (await register(anon))["tokens"], (await register(anon))["tokens"]
    pid = (await new_playlist(anon, owner))["id"]
    item = await add(anon, owner, pid, shelf.short)
    hidden = await anon.post(f"/playlists/{pid}/items/{item['id']}/heard", headers=bearer(other))
    assert code_of(hidden, 404) == "playlist_not_found"
    assert (await anon.get("/me/history", headers=bearer(other))).json()["items"] == []
    await anon.patch(f"/playlists/{pid}", json={"visibility": "public"}, headers=bearer(owner))
    seen = await anon.post(f"/playlists/{pid}/items/{item['id']}/heard", headers=bearer(other))
    assert seen.status_code == 201  # the reader's own history
    assert (await anon.get("/me/history", headers=bearer(owner))).json()["items"] == []
    wrong_item = await anon.post(
        f"/playlists/{pid}/items/{uuid.uuid4()}/heard", headers=bearer(other)
    )
    assert code_of(wrong_item, 404) == "item_not_found"


async def test_heard_ranges_for_the_topic_builder(
    settings: Settings, anon: AsyncClient, shelf: Shelf
) -> None:
    tokens = (await register(anon))["tokens"]
    user_id = uuid.UUID((await anon.get("/me", headers=bearer(tokens))).json()["id"])
    for start, end in ((50, 60), (10, 20), (15, 30), (30, 40)):
        await heard(anon, tokens, shelf.long, start_s=start, end_s=end)
    await heard(anon, tokens, shelf.short, start_s=5, end_s=6)
    await heard(anon, tokens, shelf.short)
    pool = make_pool(settings.database)
    await pool.open(wait=True)
    try:
        service = ListeningHistory(pool)
        ranges = await service.heard_ranges(
            user_id, [uuid.UUID(shelf.long), uuid.UUID(shelf.short), uuid.UUID(shelf.unknown)]
        )
        assert ranges == {
            uuid.UUID(shelf.long): [(10.0, 40.0), (50.0, 60.0)],
            uuid.UUID(shelf.short): [(0.0, math.inf)],  # heard as a whole
        }
        assert await service.heard_ranges(user_id, []) == {}
    finally:
        await pool.close()
