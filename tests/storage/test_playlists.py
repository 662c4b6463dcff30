"""Playlists end to end over HTTP on a real PostgreSQL: CRUD, who sees what, dense positions
under concurrent edits, If-Match, bad input, export, and the service API the topic builder
uses."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from defusedxml import ElementTree as SafeET
from httpx import AsyncClient

from tellmemore.clock import utc_now
from tellmemore.playlists import NewItem, Playlists
from tellmemore.settings import PlaylistSettings, Settings
from tellmemore.storage import make_pool
from tests.conftest import bearer, register, serve
from tests.storage.helpers import rows


@dataclass(frozen=True)
class Shelf:
    """A podcast and its episodes, written straight into the catalog tables."""

    podcast_id: str
    short: str  # 600 s by the feed
    long: str  # 1200 s by the feed, 1210 s measured
    unknown: str  # no duration known
    tricky: str  # a title that needs escaping, a non-http enclosure


def add_shelf(database_url: str) -> Shelf:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "INSERT INTO podcasts (feed_url, title) VALUES (%s, %s) RETURNING id",
            (f"https://feeds.example.org/{uuid.uuid4().hex}.xml", "Gene Editing Today"),
        ).fetchone()
        assert row is not None
        podcast_id = row[0]

        def episode(title: str, duration: int | None, audio: float | None, url: str) -> str:
            found = conn.execute(
                "INSERT INTO episodes (podcast_id, identity_key, title, duration_s,"
                " audio_duration_s, enclosure_url, enclosure_type, enclosure_length,"
                " content_sha256) VALUES (%s, %s, %s, %s, %s, %s, 'audio/mpeg', 1000, 'x')"
                " RETURNING id",
                (podcast_id, uuid.uuid4().hex, title, duration, audio, url),
            ).fetchone()
            assert found is not None
            return str(found[0])

        return Shelf(
            podcast_id=str(podcast_id),
            short=episode("CRISPR patents, explained", 600, None, "https://m.example.org/1.mp3"),
            long=episode("Base editing", 1200, 1210.0, "https://m.example.org/2.mp3"),
            unknown=episode("Prime editing", None, None, "https://m.example.org/3.mp3"),
            tricky=episode('Ads & <b>"quotes"</b>\nline two', 300, None, "file:///etc/passwd"),
        )


@pytest.fixture
def shelf(database_url: str, clean_db: None) -> Shelf:
    return add_shelf(database_url)


def code_of(response: Any, status: int) -> str:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert len(error["message"]) >= 15, error  # a sentence, not a bare status
    code: str = error["code"]
    return code


async def new_playlist(http: AsyncClient, tokens: dict[str, Any], **fields: Any) -> dict[str, Any]:
    response = await http.post(
        "/playlists", json={"title": "Listen later", **fields}, headers=bearer(tokens)
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def add(
    http: AsyncClient, tokens: dict[str, Any], playlist_id: str, episode_id: str, **fields: Any
) -> dict[str, Any]:
    response = await http.post(
        f"/playlists/{playlist_id}/items",
        json={"episode_id": episode_id, **fields},
        headers=bearer(tokens),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def item_ids(http: AsyncClient, tokens: dict[str, Any], playlist_id: str) -> list[str]:
    """The items in order, after checking their positions are exactly 0..n-1."""
    body = (await http.get(f"/playlists/{playlist_id}", headers=bearer(tokens))).json()
    assert [i["position"] for i in body["items"]] == list(range(len(body["items"])))
    assert body["item_count"] == len(body["items"])
    return [i["id"] for i in body["items"]]


# ---- CRUD ------------------------------------------------------------------------------------


async def test_create_read_update_delete(
    anon: AsyncClient, shelf: Shelf, database_url: str
) -> None:
    owner = (await register(anon))["tokens"]
    created = await anon.post(
        "/playlists",
        json={"title": "  Gene editing  ", "description": "For the commute"},
        headers=bearer(owner),
    )
    assert created.status_code == 201
    playlist = created.json()
    assert created.headers["Location"] == f"/playlists/{playlist['id']}"
    assert created.headers["ETag"] == '"1"'
    assert (playlist["title"], playlist["visibility"], playlist["kind"]) == (
        "Gene editing", "private", "manual",
    )  # fmt: skip
    assert playlist["mine"] is True and len(playlist["share_token"]) >= 20
    await add(anon, owner, playlist["id"], shelf.short)
    await add(anon, owner, playlist["id"], shelf.long, start_s=30, end_s=90.5, note="the gist")
    read = await anon.get(f"/playlists/{playlist['id']}", headers=bearer(owner))
    assert read.headers["ETag"] == '"3"'
    body = read.json()
    assert [(i["episode_id"], i["start_s"], i["end_s"], i["note"]) for i in body["items"]] == [
        (shelf.short, None, None, None),
        (shelf.long, 30.0, 90.5, "the gist"),
    ]
    assert body["items"][1]["episode_duration_s"] == 1210.0  # the longest known duration
    assert body["items"][1]["podcast_title"] == "Gene Editing Today"

    patched = await anon.patch(
        f"/playlists/{playlist['id']}",
        json={"title": "Renamed", "description": None, "visibility": "public"},
        headers=bearer(owner),
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["title"], patched.json()["description"]) == ("Renamed", None)
    assert patched.json()["version"] == 4 and patched.headers["ETag"] == '"4"'
    untouched = await anon.patch(f"/playlists/{playlist['id']}", json={}, headers=bearer(owner))
    assert (untouched.json()["title"], untouched.headers["ETag"]) == ("Renamed", '"4"')

    deleted = await anon.delete(f"/playlists/{playlist['id']}", headers=bearer(owner))
    assert deleted.status_code == 204
    gone = await anon.get(f"/playlists/{playlist['id']}", headers=bearer(owner))
    assert code_of(gone, 404) == "playlist_not_found"
    assert rows(database_url, "SELECT count(*) AS n FROM playlist_items")[0]["n"] == 0


async def test_list_mine_is_paged_and_only_mine(anon: AsyncClient, shelf: Shelf) -> None:
    owner, other = (await register(anon))["tokens"], (await register(anon))["tokens"]
    made = [(await new_playlist(anon, owner, title=f"P{n}"))["id"] for n in range(5)]
    await new_playlist(anon, other, title="Not mine", visibility="public")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await anon.get("/me/playlists", params=params, headers=bearer(owner))).json()
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == made[::-1]  # newest first, each once
    bad = await anon.get("/me/playlists", params={"cursor": "nonsense"}, headers=bearer(owner))
    assert code_of(bad, 422) == "invalid_cursor"
    assert code_of(await anon.get("/me/playlists"), 401) == "not_authenticated"


# ---- who sees what -----------------------------------------------------------------------------

READERS = ("owner", "other", "anonymous")


@pytest.mark.parametrize("visibility", ["private", "unlisted", "public"])
async def test_visibility_matrix(anon: AsyncClient, shelf: Shelf, visibility: str) -> None:
    owner, other = (await register(anon))["tokens"], (await register(anon))["tokens"]
    playlist = await new_playlist(anon, owner, visibility=visibility)
    item = await add(anon, owner, playlist["id"], shelf.short)
    token = playlist["share_token"]
    headers = {"owner": bearer(owner), "other": bearer(other), "anonymous": {}}
    public = (await anon.get("/playlists/public")).json()["items"]
    assert (playlist["id"] in [p["id"] for p in public]) == (visibility == "public")

    for reader in READERS:
        by_id = await anon.get(f"/playlists/{playlist['id']}", headers=headers[reader])
        by_link = await anon.get(f"/shared/playlists/{token}", headers=headers[reader])
        can_by_id = reader == "owner" or visibility == "public"
        can_by_link = reader == "owner" or visibility != "private"
        for response, allowed in ((by_id, can_by_id), (by_link, can_by_link)):
            if allowed:
                assert response.status_code == 200, (reader, response.text)
                body = response.json()
                assert [i["id"] for i in body["items"]] == [item["id"]]
                assert body["mine"] == (reader == "owner")
                # Only the owner learns the share token.
                assert (body["share_token"] == token) == (reader == "owner")
            else:
                assert code_of(response, 404) == "playlist_not_found"
        if reader == "owner":
            continue
        # Nobody but the owner edits: 404 where they cannot see it, 403 where they can.
        expected = (403, "forbidden") if visibility == "public" else (404, "playlist_not_found")
        attempts = [
            anon.patch(f"/playlists/{playlist['id']}", json={"title": "Mine now"},
                       headers=headers[reader]),
            anon.delete(f"/playlists/{playlist['id']}", headers=headers[reader]),
            anon.post(f"/playlists/{playlist['id']}/items", json={"episode_id": shelf.long},
                      headers=headers[reader]),
            anon.patch(f"/playlists/{playlist['id']}/items/{item['id']}", json={"position": 0},
                       headers=headers[reader]),
            anon.delete(f"/playlists/{playlist['id']}/items/{item['id']}",
                        headers=headers[reader]),
            anon.post(f"/playlists/{playlist['id']}/share-token", headers=headers[reader]),
        ]  # fmt: skip
        for response in await asyncio.gather(*attempts):
            if reader == "anonymous":
                assert code_of(response, 401) == "not_authenticated"
            else:
                assert code_of(response, expected[0]) == expected[1]
    after = (await anon.get(f"/playlists/{playlist['id']}", headers=bearer(owner))).json()
    assert (after["title"], after["version"], after["item_count"]) == ("Listen later", 2, 1)


async def test_share_link_can_be_regenerated(anon: AsyncClient, shelf: Shelf) -> None:
    owner = (await register(anon))["tokens"]
    playlist = await new_playlist(anon, owner, visibility="unlisted")
    old = playlist["share_token"]
    assert (await anon.get(f"/shared/playlists/{old}")).status_code == 200
    renewed = await anon.post(f"/playlists/{playlist['id']}/share-token", headers=bearer(owner))
    new = renewed.json()["share_token"]
    assert new != old
    assert code_of(await anon.get(f"/shared/playlists/{old}"), 404) == "playlist_not_found"
    assert (await anon.get(f"/shared/playlists/{new}")).status_code == 200
    await anon.patch(
        f"/playlists/{playlist['id']}", json={"visibility": "private"}, headers=bearer(owner)
    )
    assert code_of(await anon.get(f"/shared/playlists/{new}"), 404) == "playlist_not_found"


# ---- positions -------------------------------------------------------------------------------


async def test_insert_move_remove_keep_positions_dense(anon: AsyncClient, shelf: Shelf) -> None:
    owner = (await register(anon))["tokens"]
    pid = (await new_playlist(anon, owner))["id"]
    a, b, c = [(await add(anon, owner, pid, shelf.short))["id"] for _ in range(3)]
    assert await item_ids(anon, owner, pid) == [a, b, c]
    first = (await add(anon, owner, pid, shelf.long, position=0))["id"]
    middle = (await add(anon, owner, pid, shelf.long, position=2))["id"]
    last = (await add(anon, owner, pid, shelf.long, position=5))["id"]  # == count: appends
    assert await item_ids(anon, owner, pid) == [first, a, middle, b, c, last]

    async def move(item: str, position: int) -> None:
        response = await anon.patch(
            f"/playlists/{pid}/items/{item}", json={"position": position}, headers=bearer(owner)
        )
        assert response.status_code == 200, response.text
        assert response.json()["position"] == position

    await move(first, 5)
    assert await item_ids(anon, owner, pid) == [a, middle, b, c, last, first]
    await move(first, 0)
    await move(c, 1)
    assert await item_ids(anon, owner, pid) == [first, c, a, middle, b, last]
    await move(a, 2)  # where it is already
    noted = await anon.patch(
        f"/playlists/{pid}/items/{a}", json={"note": "  start here "}, headers=bearer(owner)
    )
    assert (noted.json()["note"], noted.json()["position"]) == ("start here", 2)
    cleared = await anon.patch(
        f"/playlists/{pid}/items/{a}", json={"note": None}, headers=bearer(owner)
    )
    assert cleared.json()["note"] is None
    for item in (middle, first, last):
        removed = await anon.delete(f"/playlists/{pid}/items/{item}", headers=bearer(owner))
        assert removed.status_code == 204 and removed.headers["ETag"]
    assert await item_ids(anon, owner, pid) == [c, a, b]
    again = await anon.delete(f"/playlists/{pid}/items/{middle}", headers=bearer(owner))
    assert code_of(again, 404) == "item_not_found"


async def test_positions_close_up_when_an_episode_leaves_the_catalog(
    anon: AsyncClient, shelf: Shelf, database_url: str
) -> None:
    owner = (await register(anon))["tokens"]
    pid = (await new_playlist(anon, owner))["id"]
    a = (await add(anon, owner, pid, shelf.short))["id"]
    await add(anon, owner, pid, shelf.unknown)
    c = (await add(anon, owner, pid, shelf.long))["id"]
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM episodes WHERE id = %s", (shelf.unknown,))
    d = (await add(anon, owner, pid, shelf.long, position=2))["id"]
    assert await item_ids(anon, owner, pid) == [a, c, d]


async def test_concurrent_edits_from_several_clients(anon: AsyncClient, shelf: Shelf) -> None:
    owner = (await register(anon, "busy@example.com"))["tokens"]
    devices = [owner] + [
        (
            await anon.post(
                "/auth/login",
                json={"email": "busy@example.com", "password": "correct horse battery"},
            )
        ).json()
        for _ in range(2)
    ]
    pid = (await new_playlist(anon, owner))["id"]
    initial = [(await add(anon, owner, pid, shelf.short))["id"] for _ in range(10)]
    doomed, kept = initial[:5], initial[5:]
    rng = random.Random(7)  # noqa: S311 (a repeatable shuffle, not a secret)
    # At least 5 items stay throughout, so these positions are always in range.
    operations: list[tuple[str, Any]] = (
        [("remove", item) for item in doomed]
        + [("add", rng.randint(0, 5)) for _ in range(10)]
        + [("move", (rng.choice(kept), rng.randint(0, 4))) for _ in range(8)]
    )
    rng.shuffle(operations)

    async def run(index: int, operation: tuple[str, Any]) -> Any:
        headers = bearer(devices[index % len(devices)])
        kind, arg = operation
        if kind == "remove":
            return await anon.delete(f"/playlists/{pid}/items/{arg}", headers=headers)
        if kind == "add":
            return await anon.post(f"/playlists/{pid}/items", headers=headers,
                                   json={"episode_id": shelf.long, "position": arg})  # fmt: skip
        item, position = arg
        return await anon.patch(f"/playlists/{pid}/items/{item}", headers=headers,
                                json={"position": position})  # fmt: skip

    responses = await asyncio.gather(*(run(i, op) for i, op in enumerate(operations)))
    assert len(responses) >= 20
    assert all(r.status_code in (200, 201, 204) for r in responses), [
        r.text for r in responses if r.status_code >= 300
    ]
    added = {r.json()["id"] for r in responses if r.status_code == 201}
    final = await item_ids(anon, owner, pid)  # checks 0..n-1
    assert len(final) == len(set(final)) == 15
    assert set(final) == set(kept) | added
    versions = {r.headers["ETag"] for r in responses}
    assert len(versions) == len(operations)  # each edit saw its own version
    body = (await anon.get(f"/playlists/{pid}", headers=bearer(owner))).json()
    assert body["version"] == 1 + 10 + len(operations)


# ---- If-Match --------------------------------------------------------------------------------


async def test_if_match(anon: AsyncClient, shelf: Shelf) -> None:
    owner = (await register(anon))["tokens"]
    pid = (await new_playlist(anon, owner))["id"]
    etag = (await anon.get(f"/playlists/{pid}", headers=bearer(owner))).headers["ETag"]
    assert etag == '"1"'

    def headers(value: str) -> dict[str, str]:
        return {**bearer(owner), "If-Match": value}

    ok = await anon.patch(f"/playlists/{pid}", json={"title": "A"}, headers=headers(etag))
    assert ok.status_code == 200 and ok.headers["ETag"] == '"2"'
    stale = await anon.patch(f"/playlists/{pid}", json={"title": "B"}, headers=headers(etag))
    assert code_of(stale, 412) == "playlist_changed"
    assert stale.headers["ETag"] == '"2"' and stale.json()["error"]["details"] == {"version": 2}
    for edit in (
        anon.post(f"/playlists/{pid}/items", json={"episode_id": shelf.short},
                  headers=headers('"1"')),
        anon.delete(f"/playlists/{pid}", headers=headers('"1"')),
        anon.post(f"/playlists/{pid}/share-token", headers=headers("garbage")),
    ):  # fmt: skip
        assert code_of(await edit, 412) == "playlist_changed"
    item = await anon.post(
        f"/playlists/{pid}/items", json={"episode_id": shelf.short}, headers=headers('W/"2"')
    )
    assert item.status_code == 201 and item.headers["ETag"] == '"3"'
    listed = await anon.patch(
        f"/playlists/{pid}/items/{item.json()['id']}",
        json={"note": "hi"},
        headers=headers('"9", "3"'),
    )
    assert listed.status_code == 200 and listed.headers["ETag"] == '"4"'
    anything = await anon.patch(f"/playlists/{pid}", json={"title": "C"}, headers=headers("*"))
    assert anything.status_code == 200
    final = (await anon.get(f"/playlists/{pid}", headers=bearer(owner))).json()
    assert (final["title"], final["version"], final["item_count"]) == ("C", 5, 1)


# ---- bad input -------------------------------------------------------------------------------

LIMITS = PlaylistSettings(
    max_playlists_per_user=2, max_items=3, max_title_chars=40, max_note_chars=20
)


@pytest.fixture
async def limited(settings: Settings, shelf: Shelf) -> Any:
    async with serve(settings.model_copy(update={"playlists": LIMITS})) as http:
        yield http


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("items/{a}", {"position": 2}, 422, "position_out_of_range"),
        ("items/{a}", {"position": -1}, 422, "position_out_of_range"),
        ("items/{a}", {"position": 10**20}, 422, "position_out_of_range"),
        ("items/{a}", {"position": None}, 422, "validation_error"),
        ("items/{a}", {}, 422, "validation_error"),
        ("items/{a}", {"note": "n" * 21}, 422, "note_too_long"),
        ("items/{missing}", {"position": 0}, 404, "item_not_found"),
        ("items", {"episode_id": "{short}", "position": 3}, 422, "position_out_of_range"),
        ("items", {"episode_id": "{short}", "position": -1}, 422, "position_out_of_range"),
        ("items", {"episode_id": "{short}", "start_s": -1, "end_s": 5}, 422,
         "invalid_time_range"),
        ("items", {"episode_id": "{short}", "start_s": 50, "end_s": 10}, 422,
         "invalid_time_range"),
        ("items", {"episode_id": "{short}", "start_s": 10, "end_s": 10}, 422,
         "invalid_time_range"),
        ("items", {"episode_id": "{short}", "start_s": 10}, 422, "time_range_incomplete"),
        ("items", {"episode_id": "{short}", "start_s": 10, "end_s": 601}, 422,
         "time_range_beyond_episode"),
        ("items", {"episode_id": "{short}", "start_s": float("nan"), "end_s": 5}, 422,
         "validation_error"),
        ("items", {"episode_id": "{missing}"}, 422, "episode_not_found"),
        ("items", {"episode_id": "not-a-uuid"}, 422, "validation_error"),
        ("items", {"episode_id": "{short}", "note": "n" * 21}, 422, "note_too_long"),
        ("items", {"episode_id": "{short}", "surprise": 1}, 422, "validation_error"),
        ("", {"title": "t" * 41}, 422, "title_too_long"),
        ("", {"title": "   "}, 422, "title_required"),
        ("", {"title": None}, 422, "validation_error"),
        ("", {"visibility": "secret"}, 422, "validation_error"),
        ("", {"skip_heard": "often"}, 422, "validation_error"),
    ],
    ids=lambda v: str(v)[:40] if not isinstance(v, int) else None,
)  # fmt: skip
async def test_bad_input_gets_a_code(
    limited: AsyncClient, shelf: Shelf, path: str, body: dict[str, Any], status: int, code: str
) -> None:
    owner = (await register(limited))["tokens"]
    pid = (await new_playlist(limited, owner))["id"]
    a = (await add(limited, owner, pid, shelf.short))["id"]
    await add(limited, owner, pid, shelf.long)
    names = {"a": a, "short": shelf.short, "missing": str(uuid.uuid4())}
    filled = {k: v.format(**names) if isinstance(v, str) else v for k, v in body.items()}
    url = f"/playlists/{pid}/{path.format(**names)}".rstrip("/")
    method = "POST" if path == "items" else "PATCH"
    # Encoded by hand: Python's json writes NaN (as some clients do), httpx refuses to.
    headers = {**bearer(owner), "Content-Type": "application/json"}
    response = await limited.request(method, url, content=json.dumps(filled), headers=headers)
    assert code_of(response, status) == code
    after = (await limited.get(f"/playlists/{pid}", headers=bearer(owner))).json()
    assert (after["version"], after["item_count"]) == (3, 2)  # nothing changed


async def test_limits(limited: AsyncClient, shelf: Shelf) -> None:
    owner = (await register(limited))["tokens"]
    long_title = await limited.post("/playlists", json={"title": "x" * 41}, headers=bearer(owner))
    assert code_of(long_title, 422) == "title_too_long"
    assert long_title.json()["error"]["details"] == {"max": 40}
    pid = (await new_playlist(limited, owner))["id"]
    await new_playlist(limited, owner)
    third = await limited.post("/playlists", json={"title": "Third"}, headers=bearer(owner))
    assert code_of(third, 422) == "too_many_playlists"
    for _ in range(3):
        await add(limited, owner, pid, shelf.short)
    full = await limited.post(
        f"/playlists/{pid}/items", json={"episode_id": shelf.short}, headers=bearer(owner)
    )
    assert code_of(full, 422) == "too_many_items"
    other = (await register(limited))["tokens"]
    assert (await new_playlist(limited, other))["title"]  # the limit is per user


async def test_anonymous_and_bad_ids(anon: AsyncClient, shelf: Shelf) -> None:
    assert code_of(await anon.post("/playlists", json={"title": "x"}), 401) == "not_authenticated"
    assert code_of(await anon.get(f"/playlists/{uuid.uuid4()}"), 404) == "playlist_not_found"
    assert code_of(await anon.get("/playlists/not-a-uuid"), 422) == "validation_error"
    assert code_of(await anon.get("/shared/playlists/nope"), 404) == "playlist_not_found"
    bad_token = await anon.get("/playlists/public", headers={"Authorization": "Bearer x.y.z"})
    assert code_of(bad_token, 401) == "token_invalid"


# ---- export ----------------------------------------------------------------------------------


async def test_export_formats(anon: AsyncClient, shelf: Shelf) -> None:
    owner = (await register(anon))["tokens"]
    playlist = await new_playlist(anon, owner, title="Editing <genes> & more")
    pid = playlist["id"]
    await add(anon, owner, pid, shelf.short)
    await add(anon, owner, pid, shelf.long, start_s=750, end_s=900.5, note="a <note> & more")
    await add(anon, owner, pid, shelf.tricky)  # a file:// enclosure: left out of M3U and RSS

    as_json = await anon.get(f"/playlists/{pid}/export", headers=bearer(owner))
    assert as_json.headers["content-type"] == "application/json"
    document = as_json.json()
    assert document["format"] == "tellmemore.playlist/1"
    assert document["playlist"]["title"] == "Editing <genes> & more"
    assert [i["media_url"] for i in document["items"]] == [
        "https://m.example.org/1.mp3",
        "https://m.example.org/2.mp3#t=750,900.5",
        None,
    ]
    assert document["items"][1]["podcast_title"] == "Gene Editing Today"
    assert "share_token" not in str(document) and playlist["share_token"] not in str(document)

    m3u = await anon.get(f"/playlists/{pid}/export?format=m3u", headers=bearer(owner))
    assert m3u.headers["content-type"].startswith("audio/x-mpegurl")
    assert "attachment" in m3u.headers["content-disposition"]
    assert m3u.text.splitlines() == [
        "#EXTM3U",
        "#PLAYLIST:Editing <genes> & more",
        "#EXTINF:600,Gene Editing Today — CRISPR patents, explained",
        "https://m.example.org/1.mp3",
        "#EXTINF:150,Gene Editing Today — Base editing",
        "#EXTVLCOPT:start-time=750",
        "#EXTVLCOPT:stop-time=900.5",
        "https://m.example.org/2.mp3#t=750,900.5",
    ]

    rss = await anon.get(f"/playlists/{pid}/export?format=rss", headers=bearer(owner))
    assert rss.headers["content-type"].startswith("application/rss+xml")
    root = SafeET.fromstring(rss.content)
    channel = root.find("channel")
    assert channel is not None and channel.findtext("title") == "Editing <genes> & more"
    items = channel.findall("item")
    assert len(items) == 2
    soundbite = items[1].find("{https://podcastindex.org/namespace/1.0}soundbite")
    assert soundbite is not None
    assert (soundbite.get("startTime"), soundbite.get("duration")) == ("750", "150.5")
    assert "a <note> & more" in (items[1].findtext("description") or "")
    assert "12:30 to 15:00" in (items[1].findtext("description") or "")

    assert code_of(await anon.get(f"/playlists/{pid}/export"), 404) == "playlist_not_found"
    bad = await anon.get(f"/playlists/{pid}/export?format=pls", headers=bearer(owner))
    assert code_of(bad, 422) == "validation_error"


async def test_export_by_share_link_without_signing_in(anon: AsyncClient, shelf: Shelf) -> None:
    owner = (await register(anon))["tokens"]
    playlist = await new_playlist(anon, owner, visibility="unlisted")
    await add(anon, owner, playlist["id"], shelf.long, start_s=1, end_s=2)
    base = f"/shared/playlists/{playlist['share_token']}/export"
    rss = await anon.get(base, params={"format": "rss"})
    assert rss.status_code == 200
    root = SafeET.fromstring(rss.content)
    atom_link = root.find("channel/{http://www.w3.org/2005/Atom}link")
    assert atom_link is not None and base in (atom_link.get("href") or "")
    assert root.findtext("channel/{http://www.itunes.com/dtds/podcast-1.0.dtd}block") == "Yes"
    m3u = await anon.get(base, params={"format": "m3u"})
    assert "#EXTVLCOPT:start-time=1" in m3u.text
    assert code_of(await anon.get(f"/shared/playlists/{'x' * 22}/export"), 404) == (
        "playlist_not_found"
    )


# ---- the service API (the topic builder's way in) ------------------------------------------


async def test_topic_playlists_through_the_service(
    settings: Settings, shelf: Shelf, anon: AsyncClient
) -> None:
    owner_id = uuid.UUID((await register(anon))["user"]["id"])
    pool = make_pool(settings.database)
    await pool.open(wait=True)
    try:
        service = Playlists(pool, settings.playlists, utc_now)
        topic = {"query": "base editing", "minutes": 20, "filters": {"language": "en"}}
        with pytest.raises(Exception, match="topic"):
            await service.create(owner_id, title="No topic", kind="topic")
        playlist = await service.create(owner_id, title="Base editing", kind="topic", topic=topic)
        assert (playlist.kind, playlist.topic, playlist.refreshed_at) == ("topic", topic, None)
        found = [
            NewItem(uuid.UUID(shelf.long), start_s=10.0, end_s=70.0, segment_id="seg-1",
                    reason="…base editors convert…", summary="How base editors work",
                    score=0.83, added_by="topic"),
            NewItem(uuid.UUID(shelf.short), start_s=0.0, end_s=30.0, segment_id="seg-2",
                    added_by="topic"),
        ]  # fmt: skip
        added, version = await service.add_items(
            playlist.id, owner_id, found, refreshed_at=utc_now()
        )
        assert [(i.position, i.segment_id, i.added_by) for i in added] == [
            (0, "seg-1", "topic"), (1, "seg-2", "topic"),
        ]  # fmt: skip
        assert added[0].score == pytest.approx(0.83) and added[0].reason == "…base editors convert…"
        contents = await service.get(playlist.id, viewer=owner_id)
        assert contents.playlist.version == version == 2
        assert contents.playlist.refreshed_at is not None
        # All or nothing: one bad item refuses the batch.
        bad = [*found, NewItem(uuid.UUID(shelf.short), start_s=0.0, end_s=9999.0)]
        with pytest.raises(Exception, match="past the end") as refused:
            await service.add_items(playlist.id, owner_id, bad)
        assert getattr(refused.value, "code", None) == "time_range_beyond_episode"
        assert len((await service.get(playlist.id, viewer=owner_id)).items) == 2
        changed = await service.update(playlist.id, owner_id, topic={**topic, "minutes": 30})
        assert changed.topic == {**topic, "minutes": 30}
        mine = await service.list_mine(owner_id, limit=10, cursor=None, kind="topic")
        assert [p.id for p in mine.items] == [playlist.id]
    finally:
        await pool.close()
