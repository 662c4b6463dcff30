"""IDOR matrix: for every route that takes an id, user B aims at user A's things.

Private data lives under /me and is looked up within the caller's own rows, so B's requests
must either touch only B's data or answer 404 — and A's data must be exactly as before. The
first test fails when a route with an id is added without a row here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from fastapi.routing import APIRoute
from httpx import AsyncClient

from api.app import create_app
from tellmemore.settings import Settings
from tests.conftest import bearer, register
from tests.support.http_server import LoopbackHTTPServer

Check = Callable[["World"], Awaitable[None]]


class World:
    """User A with a subscription and two sessions; user B with nothing."""

    def __init__(self, http: AsyncClient, a: dict[str, Any], a2: dict[str, Any], b: dict[str, Any],
                 podcast_id: str, episode_id: str) -> None:  # fmt: skip
        self.http, self.a, self.a2, self.b = http, a, a2, b
        self.podcast_id, self.episode_id = podcast_id, episode_id

    async def a_state(self) -> Any:
        me = (await self.http.get("/me", headers=bearer(self.a))).json()
        subs = (await self.http.get("/me/subscriptions", headers=bearer(self.a))).json()
        sessions = (await self.http.get("/me/sessions", headers=bearer(self.a))).json()
        return me, subs, [(s["id"], s["revoked_at"]) for s in sessions]


async def _public_catalog(w: World, method: str, path: str) -> None:
    """Catalog data is shared, not private: B sees what A sees, and nothing of A's account."""
    as_a = await w.http.request(method, path, headers=bearer(w.a))
    as_b = await w.http.request(method, path, headers=bearer(w.b))
    assert as_a.status_code == as_b.status_code == 200
    body = as_b.text
    assert w.a["session_id"] not in body
    assert "owner@example.com" not in body


async def get_podcast(w: World) -> None:
    await _public_catalog(w, "GET", f"/podcasts/{w.podcast_id}")


async def get_episodes(w: World) -> None:
    await _public_catalog(w, "GET", f"/podcasts/{w.podcast_id}/episodes")


async def get_episode(w: World) -> None:
    await _public_catalog(w, "GET", f"/episodes/{w.episode_id}")


async def _same_for_everyone(w: World, method: str, path: str, status: int) -> None:
    """Shared (catalog, demo) or operator-only routes: A and B get the same answer."""
    as_a = await w.http.request(method, path, headers=bearer(w.a))
    as_b = await w.http.request(method, path, headers=bearer(w.b))
    assert as_a.status_code == as_b.status_code == status, (as_a.text, as_b.text)
    assert as_a.content == as_b.content
    assert w.a["session_id"].encode() not in as_b.content


async def get_summary(w: World) -> None:  # not processed here: the same 409 for both
    await _same_for_everyone(w, "GET", f"/episodes/{w.episode_id}/summary", 409)


async def get_transcript(w: World) -> None:
    await _same_for_everyone(w, "GET", f"/episodes/{w.episode_id}/transcript", 409)


async def retry_job(w: World) -> None:  # neither is an operator
    await _same_for_everyone(w, "POST", "/jobs/1/retry", 403)


# The demo's files are public and off in this app (test_demo_files covers them on): the same
# 404 for both.
async def demo_audio(w: World) -> None:
    for method in ("GET", "HEAD"):
        await _same_for_everyone(w, method, "/demo/audio/tmm-demo-0001.mp3", 404)


async def demo_transcript(w: World) -> None:
    for method in ("GET", "HEAD"):
        await _same_for_everyone(w, method, "/demo/transcripts/tmm-demo-0003.vtt", 404)


async def docs_asset(w: World) -> None:
    """The offline documentation's files are the same for everyone; a name outside the
    package's folder is a 404, never a file from elsewhere."""
    await _same_for_everyone(w, "GET", "/docs/assets/swagger-ui.css", 200)
    for name in ("..%2f..%2fpyproject.toml", "%2e%2e", "nope.js"):
        await _same_for_everyone(w, "GET", f"/docs/assets/{name}", 404)


async def refresh_podcast(w: World) -> None:
    await _public_catalog(w, "POST", f"/podcasts/{w.podcast_id}/refresh")


async def subscribe(w: World) -> None:
    before = await w.a_state()
    response = await w.http.put(f"/me/subscriptions/{w.podcast_id}", headers=bearer(w.b))
    assert response.status_code == 201  # B's own new subscription ...
    assert await w.a_state() == before  # ... and A's are untouched
    b_subs = (await w.http.get("/me/subscriptions", headers=bearer(w.b))).json()
    assert [s["podcast_id"] for s in b_subs] == [w.podcast_id]


async def unsubscribe(w: World) -> None:
    before = await w.a_state()
    response = await w.http.delete(f"/me/subscriptions/{w.podcast_id}", headers=bearer(w.b))
    assert response.status_code == 404  # B has no such subscription; A's is not B's to remove
    assert await w.a_state() == before


async def revoke_session(w: World) -> None:
    before = await w.a_state()
    for session in (w.a["session_id"], w.a2["session_id"]):
        response = await w.http.delete(f"/me/sessions/{session}", headers=bearer(w.b))
        assert response.status_code == 404
    assert await w.a_state() == before
    assert (await w.http.get("/me", headers=bearer(w.a2))).status_code == 200


async def revoke_api_key(w: World) -> None:
    made = await w.http.post(
        "/me/api-keys", json={"name": "A's", "scopes": ["read"]}, headers=bearer(w.a)
    )
    key = {"Authorization": f"Bearer {made.json()['key']}"}
    response = await w.http.delete(f"/me/api-keys/{made.json()['id']}", headers=bearer(w.b))
    assert response.status_code == 404  # B cannot end A's key, nor learn it exists
    assert (await w.http.get("/me", headers=key)).status_code == 200


# ---- playlists: A's private, unlisted and public ones ---------------------------------------


async def _a_playlist(w: World, visibility: str) -> tuple[str, str, str]:
    """A new playlist of A's with one item: (id, item id, share token)."""
    made = await w.http.post(
        "/playlists", json={"title": "A's", "visibility": visibility}, headers=bearer(w.a)
    )
    pid, token = made.json()["id"], made.json()["share_token"]
    item = await w.http.post(
        f"/playlists/{pid}/items", json={"episode_id": w.episode_id}, headers=bearer(w.a)
    )
    return pid, item.json()["id"], token


async def _a_playlist_state(w: World, pid: str) -> Any:
    return (await w.http.get(f"/playlists/{pid}", headers=bearer(w.a))).json(), await w.a_state()


async def _playlist_edit(
    w: World, method: str, path: str, body: dict[str, Any] | None = None
) -> None:
    """B edits A's playlists: 404 where B cannot see them, 403 for a public one; nothing of A's
    changes. B's own playlist with A's item id finds no such item."""
    for visibility, status in (("private", 404), ("unlisted", 404), ("public", 403)):
        pid, item_id, _ = await _a_playlist(w, visibility)
        before = await _a_playlist_state(w, pid)
        url = path.format(playlist_id=pid, item_id=item_id)
        response = await w.http.request(method, url, json=body, headers=bearer(w.b))
        assert response.status_code == status, (visibility, response.text)
        assert await _a_playlist_state(w, pid) == before
    if "{item_id}" in path:
        own = await w.http.post("/playlists", json={"title": "B's"}, headers=bearer(w.b))
        url = path.format(playlist_id=own.json()["id"], item_id=item_id)
        response = await w.http.request(method, url, json=body, headers=bearer(w.b))
        assert response.status_code == 404, response.text
        assert await _a_playlist_state(w, pid) == before


async def update_playlist(w: World) -> None:
    await _playlist_edit(w, "PATCH", "/playlists/{playlist_id}", {"title": "B's now"})


async def delete_playlist(w: World) -> None:
    await _playlist_edit(w, "DELETE", "/playlists/{playlist_id}")


async def regenerate_share_token(w: World) -> None:
    await _playlist_edit(w, "POST", "/playlists/{playlist_id}/share-token")


async def add_playlist_item(w: World) -> None:
    body = {"episode_id": w.episode_id}
    await _playlist_edit(w, "POST", "/playlists/{playlist_id}/items", body)


async def edit_playlist_item(w: World) -> None:
    body = {"position": 0, "note": "B was here"}
    await _playlist_edit(w, "PATCH", "/playlists/{playlist_id}/items/{item_id}", body)


async def remove_playlist_item(w: World) -> None:
    await _playlist_edit(w, "DELETE", "/playlists/{playlist_id}/items/{item_id}")


async def _playlist_read(w: World, path: str) -> None:
    """B reads A's playlists by id: only a public one, and never its share token."""
    for visibility, status in (("private", 404), ("unlisted", 404), ("public", 200)):
        pid, _, token = await _a_playlist(w, visibility)
        before = await _a_playlist_state(w, pid)
        for fmt in ("json", "m3u", "rss"):
            response = await w.http.get(
                path.format(playlist_id=pid), params={"format": fmt}, headers=bearer(w.b)
            )
            assert response.status_code == status, (visibility, response.text)
            assert token not in response.text and "owner@example.com" not in response.text
        assert await _a_playlist_state(w, pid) == before


async def get_playlist(w: World) -> None:
    await _playlist_read(w, "/playlists/{playlist_id}")


async def export_playlist(w: World) -> None:
    await _playlist_read(w, "/playlists/{playlist_id}/export")


async def _shared_read(w: World, path: str) -> None:
    """A share link works for whoever holds it, unless the playlist is private; a made-up one
    finds nothing."""
    for visibility, status in (("private", 404), ("unlisted", 200), ("public", 200)):
        pid, _, token = await _a_playlist(w, visibility)
        before = await _a_playlist_state(w, pid)
        response = await w.http.get(path.format(share_token=token), headers=bearer(w.b))
        assert response.status_code == status, (visibility, response.text)
        assert "owner@example.com" not in response.text
        if status == 200 and "export" not in path:
            assert response.json()["share_token"] is None and response.json()["mine"] is False
        assert await _a_playlist_state(w, pid) == before
    guessed = await w.http.get(path.format(share_token="x" * 22), headers=bearer(w.b))
    assert guessed.status_code == 404


async def get_shared_playlist(w: World) -> None:
    await _shared_read(w, "/shared/playlists/{share_token}")


async def export_shared_playlist(w: World) -> None:
    await _shared_read(w, "/shared/playlists/{share_token}/export")


async def mark_item_heard(w: World) -> None:
    """B records only B's own listening, and only through a playlist B can see."""
    for visibility, status in (("private", 404), ("unlisted", 404), ("public", 201)):
        pid, item_id, _ = await _a_playlist(w, visibility)
        before = await _a_playlist_state(w, pid)
        a_history = (await w.http.get("/me/history", headers=bearer(w.a))).json()
        response = await w.http.post(f"/playlists/{pid}/items/{item_id}/heard", headers=bearer(w.b))
        assert response.status_code == status, (visibility, response.text)
        assert await _a_playlist_state(w, pid) == before
        assert (await w.http.get("/me/history", headers=bearer(w.a))).json() == a_history
    b_history = (await w.http.get("/me/history", headers=bearer(w.b))).json()["items"]
    assert len(b_history) == 1


async def similar_segments(w: World) -> None:
    """Passages are public catalog data: everyone gets the same answer, and an unknown id is a
    404 with a code (no tables exist in this world yet)."""
    answers = []
    for headers in ({}, bearer(w.a), bearer(w.b)):
        response = await w.http.get("/segments/no-such-segment:00000/similar", headers=headers)
        answers.append((response.status_code, response.json()["error"]["code"]))
    assert answers == [(404, "segment_not_found")] * 3


MATRIX: dict[tuple[str, str], Check] = {
    ("GET", "/podcasts/{podcast_id}"): get_podcast,
    ("GET", "/podcasts/{podcast_id}/episodes"): get_episodes,
    ("POST", "/podcasts/{podcast_id}/refresh"): refresh_podcast,
    ("GET", "/episodes/{episode_id}"): get_episode,
    ("GET", "/episodes/{episode_id}/summary"): get_summary,
    ("GET", "/episodes/{episode_id}/transcript"): get_transcript,
    ("POST", "/jobs/{job_id}/retry"): retry_job,
    ("GET", "/demo/audio/{name}"): demo_audio,
    ("HEAD", "/demo/audio/{name}"): demo_audio,
    ("GET", "/demo/transcripts/{name}"): demo_transcript,
    ("HEAD", "/demo/transcripts/{name}"): demo_transcript,
    ("GET", "/docs/assets/{name}"): docs_asset,
    ("PUT", "/me/subscriptions/{podcast_id}"): subscribe,
    ("DELETE", "/me/subscriptions/{podcast_id}"): unsubscribe,
    ("DELETE", "/me/sessions/{session_id}"): revoke_session,
    ("DELETE", "/me/api-keys/{key_id}"): revoke_api_key,
    ("GET", "/playlists/{playlist_id}"): get_playlist,
    ("PATCH", "/playlists/{playlist_id}"): update_playlist,
    ("DELETE", "/playlists/{playlist_id}"): delete_playlist,
    ("POST", "/playlists/{playlist_id}/share-token"): regenerate_share_token,
    ("POST", "/playlists/{playlist_id}/items"): add_playlist_item,
    ("PATCH", "/playlists/{playlist_id}/items/{item_id}"): edit_playlist_item,
    ("DELETE", "/playlists/{playlist_id}/items/{item_id}"): remove_playlist_item,
    ("POST", "/playlists/{playlist_id}/items/{item_id}/heard"): mark_item_heard,
    ("GET", "/playlists/{playlist_id}/export"): export_playlist,
    ("GET", "/shared/playlists/{share_token}"): get_shared_playlist,
    ("GET", "/shared/playlists/{share_token}/export"): export_shared_playlist,
    ("GET", "/segments/{segment_id}/similar"): similar_segments,
}


def test_every_route_with_an_id_is_in_the_matrix(settings: Settings) -> None:
    app = create_app(
        settings.model_copy(update={"demo": settings.demo.model_copy(update={"enabled": True})})
    )
    routes = {
        (method, route.path)
        for route in app.routes
        if isinstance(route, APIRoute) and "{" in route.path
        for method in route.methods
    }
    assert routes == set(MATRIX)


@pytest.fixture
async def world(anon: AsyncClient, feeds: LoopbackHTTPServer) -> World:
    a = (await register(anon, "owner@example.com"))["tokens"]
    a2 = (
        await anon.post(
            "/auth/login", json={"email": "owner@example.com", "password": "correct horse battery"}
        )
    ).json()
    b = (await register(anon, "intruder@example.com"))["tokens"]
    added = await anon.post(
        "/podcasts", json={"feed_url": feeds.url("/feeds/basic.xml")}, headers=bearer(a)
    )
    podcast_id = added.json()["podcast"]["id"]
    episodes = (await anon.get(f"/podcasts/{podcast_id}/episodes")).json()["items"]
    return World(anon, a, a2, b, podcast_id, episodes[0]["id"])


@pytest.mark.parametrize("route", sorted(MATRIX), ids=lambda r: f"{r[0]} {r[1]}")
async def test_user_b_cannot_reach_user_a(world: World, route: tuple[str, str]) -> None:
    await MATRIX[route](world)


async def test_my_routes_only_ever_show_my_data(world: World) -> None:
    exported = (await world.http.get("/me/export", headers=bearer(world.b))).json()
    text = str(exported)
    assert "owner@example.com" not in text
    assert world.a["session_id"] not in text
    assert world.podcast_id not in text  # A's subscription is not in B's export
