"""What a signed-in user owns: profile, sessions, subscriptions; and their GDPR rights (export
everything, delete everything). Every query is scoped by the caller's own user id, so another
user's ids simply match nothing."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from tellmemore.accounts.auth import AuthService, Principal
from tellmemore.accounts.quotas import Quotas
from tellmemore.accounts.ratelimit import LimiterUnavailable, RateLimiter
from tellmemore.accounts.rows import subscriptions as subscription_rows
from tellmemore.accounts.rows import users as user_rows
from tellmemore.accounts.types import Session, Subscription, User
from tellmemore.catalog import (
    EVERYONE,
    AddResult,
    Catalog,
    EpisodeQueue,
    OpmlImportReport,
    Viewer,
    parse_opml,
)
from tellmemore.catalog.rows import podcasts as podcast_rows
from tellmemore.clock import Clock
from tellmemore.errors import CatalogError, ErrorKind

log = logging.getLogger("tellmemore.accounts")
# Counting an OPML file's entries for the quota; the catalog applies its own cap on import.
_COUNT_ANY = 1_000_000


class Accounts:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        auth: AuthService,
        catalog: Catalog,
        limiter: RateLimiter,
        clock: Clock,
        jobs: EpisodeQueue | None = None,
        *,
        quotas: Quotas | None = None,
        episodes_on_subscribe: int = 3,
    ) -> None:
        self._jobs = jobs
        self._quotas = quotas
        self._episodes_on_subscribe = episodes_on_subscribe
        self._pool = pool
        self._auth = auth
        self._catalog = catalog
        self._limiter = limiter
        self._clock = clock

    async def update_profile(
        self,
        principal: Principal,
        *,
        display_name: str | None,
        clear_display_name: bool,
        email: str | None,
        current_password: str | None,
    ) -> User:
        if email is not None and email.strip().lower() != principal.user.email.lower():
            if not current_password:
                raise CatalogError(
                    "password_required", "Changing the email needs the current password."
                )
            await self._auth.verify_password(principal, current_password)
        else:
            email = None
        try:
            async with self._pool.connection() as conn:
                user = await user_rows.update_profile(
                    conn, principal.user.id, email=email, display_name=display_name,
                    clear_name=clear_display_name,
                )  # fmt: skip
        except psycopg.errors.UniqueViolation as exc:
            raise CatalogError(
                "email_taken", "Another account uses this email.", ErrorKind.CONFLICT
            ) from exc
        assert user is not None
        return user

    async def sessions(self, principal: Principal) -> list[Session]:
        async with self._pool.connection() as conn:
            return await user_rows.sessions(conn, principal.user.id)

    async def revoke_session(self, principal: Principal, session_id: UUID) -> None:
        async with self._pool.connection() as conn:
            found = await user_rows.revoke_session(
                conn, principal.user.id, session_id, self._clock()
            )
        if not found:
            raise CatalogError(
                "session_not_found", "You have no such session.", ErrorKind.NOT_FOUND
            )

    # ---- subscriptions -----------------------------------------------------------------

    async def subscribe(
        self, principal: Principal, podcast_id: UUID, *, by_url: bool = False
    ) -> bool:
        """Subscribe to a catalog podcast (False if already subscribed), and queue its newest
        unprocessed episodes so the subscriber soon has something to search. A private podcast
        is joined only ``by_url``: by adding its exact feed URL, never by its id."""
        viewer: Viewer = EVERYONE if by_url else principal.user.id
        async with self._pool.connection() as conn:
            if not await podcast_rows.is_visible(conn, podcast_id, viewer):
                raise CatalogError(
                    "podcast_not_found", "There is no such podcast.", ErrorKind.NOT_FOUND
                )
            added = await subscription_rows.add(conn, principal.user.id, podcast_id)
        if self._jobs is not None:
            await self._queue_newest(principal.user.id, podcast_id)
        return added

    async def _queue_newest(self, user_id: UUID, podcast_id: UUID) -> int:
        """The newest episodes, as many as the user's episode quota still allows today."""
        wanted = self._episodes_on_subscribe
        if self._quotas is not None:
            wanted = await self._quotas.take_up_to("episodes", user_id, wanted)
        assert self._jobs is not None
        queued = await self._jobs.enqueue_newest(podcast_id, wanted) if wanted else []
        if self._quotas is not None:
            await self._quotas.give_back("episodes", user_id, wanted - len(queued))
        return len(queued)

    async def queue_subscriptions(self, user_id: UUID) -> int:
        """Queue the newest episodes of every podcast the user subscribes to, as subscribing
        does (for an account whose email was just verified); returns how many were queued."""
        if self._jobs is None:
            return 0
        async with self._pool.connection() as conn:
            podcasts = [s.podcast_id for s in await subscription_rows.list_for(conn, user_id)]
        queued = 0
        for podcast_id in podcasts:
            queued += await self._queue_newest(user_id, podcast_id)
        return queued

    async def add_and_subscribe(
        self,
        principal: Principal,
        *,
        feed_url: str | None = None,
        apple_id: int | None = None,
        private: bool = False,
    ) -> tuple[UUID, AddResult | None]:
        """Subscribe to a podcast by feed URL or Apple id, adding it to the catalog if it is
        new (``private``: for its subscribers only, as a URL with credentials is anyway).
        Returns the podcast id and, when it was new, what adding it did; 409 if the caller
        already subscribes to it."""
        added: AddResult | None
        if self._quotas is not None:
            await self._quotas.take("feeds", principal.user.id, 1)
        try:
            if apple_id is not None:
                added = await self._catalog.add_apple(apple_id)
            else:
                assert feed_url is not None
                added = await self._catalog.add_feed(feed_url, private=private)
            podcast_id = added.podcast_id
        except CatalogError as exc:
            if exc.code != "podcast_exists":
                raise
            podcast_id, added = UUID(exc.details["podcast_id"]), None
            if self._quotas is not None:  # nothing was fetched for it
                await self._quotas.give_back("feeds", principal.user.id, 1)
        if not await self.subscribe(principal, podcast_id, by_url=True) and added is None:
            raise CatalogError(
                "already_subscribed",
                "You already subscribe to this podcast.",
                ErrorKind.CONFLICT,
                details={"podcast_id": str(podcast_id)},
            )
        return podcast_id, added

    async def import_opml(self, principal: Principal, data: bytes) -> OpmlImportReport:
        """Import an OPML file into the catalog and subscribe the caller to every feed in it
        that could be used (new or already in the catalog)."""
        if self._quotas is not None:
            entries = len(parse_opml(data, max_entries=_COUNT_ANY))
            await self._quotas.take("feeds", principal.user.id, entries)
        report = await self._catalog.import_opml(data)
        if self._quotas is not None:  # feeds already in the catalog were not fetched
            await self._quotas.give_back("feeds", principal.user.id, report.count("exists"))
        for item in report.items:
            if item.podcast_id is not None and item.status in ("created", "exists"):
                await self.subscribe(principal, item.podcast_id, by_url=True)
        return report

    async def unsubscribe(self, principal: Principal, podcast_id: UUID) -> None:
        async with self._pool.connection() as conn:
            removed = await subscription_rows.remove(conn, principal.user.id, podcast_id)
        if not removed:
            raise CatalogError(
                "subscription_not_found",
                "You are not subscribed to this podcast.",
                ErrorKind.NOT_FOUND,
            )

    async def subscriptions(self, principal: Principal) -> list[Subscription]:
        async with self._pool.connection() as conn:
            return await subscription_rows.list_for(conn, principal.user.id)

    # ---- GDPR --------------------------------------------------------------------------

    async def export(self, principal: Principal) -> dict[str, Any]:
        """Everything stored about the user, as one JSON-ready document."""
        user = principal.user
        async with self._pool.connection() as conn:
            sessions = await user_rows.sessions(conn, user.id)
            subscriptions = await subscription_rows.list_for(conn, user.id)
            listening = await _listening_data(conn, user.id)
        return {
            "exported_at": datetime.now(UTC).isoformat(),
            "account": {
                "id": str(user.id),
                "email": user.email,
                "display_name": user.display_name,
                "created_at": user.created_at.isoformat(),
                "updated_at": user.updated_at.isoformat(),
                "password_changed_at": user.password_changed_at.isoformat(),
                "email_verified_at": (
                    user.email_verified_at.isoformat() if user.email_verified_at else None
                ),
                "password": "stored only as a bcrypt hash, which is not exported",
            },
            "sessions": [
                {
                    "id": str(s.id),
                    "user_agent": s.user_agent,
                    "created_at": s.created_at.isoformat(),
                    "last_used_at": s.last_used_at.isoformat(),
                    "revoked_at": s.revoked_at.isoformat() if s.revoked_at else None,
                    "revoked_reason": s.revoked_reason,
                }
                for s in sessions
            ],
            "subscriptions": [
                {
                    "podcast_id": str(s.podcast_id),
                    "title": s.title,
                    "feed_url": s.feed_url,
                    "subscribed_at": s.created_at.isoformat(),
                }
                for s in subscriptions
            ],
            **listening,
        }

    async def delete(self, principal: Principal, password: str) -> None:
        """Delete the account and everything of it: rows (cascading) and Redis keys."""
        await self._auth.verify_password(principal, password)
        async with self._pool.connection() as conn:
            await user_rows.delete(conn, principal.user.id)
        try:
            await self._limiter.forget_user(principal.user.id)
        except LimiterUnavailable:
            # Counters expire within a minute on their own; the account itself is gone.
            log.warning("rate-limit keys not deleted: Redis unavailable",
                        extra={"user_id": str(principal.user.id)})  # fmt: skip
        log.info("account deleted", extra={"user_id": str(principal.user.id)})


async def _listening_data(conn: Any, user_id: Any) -> dict[str, Any]:
    """Playlists (with their items), listening history and email preferences, JSON-ready."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            "SELECT p.id, p.title, p.description, p.visibility, p.kind, p.topic, p.skip_heard,"
            " p.created_at, p.updated_at, coalesce(json_agg(json_build_object("
            "'position', i.position, 'episode_id', i.episode_id, 'start_s', i.start_s,"
            " 'end_s', i.end_s, 'note', i.note, 'added_by', i.added_by, 'added_at', i.added_at)"
            " ORDER BY i.position) FILTER (WHERE i.id IS NOT NULL), '[]') AS items"
            " FROM playlists p LEFT JOIN playlist_items i ON i.playlist_id = p.id"
            " WHERE p.owner_id = %s GROUP BY p.id ORDER BY p.created_at",
            (user_id,),
        )
        playlists = await cur.fetchall()
        await cur.execute(
            "SELECT episode_id, start_s, end_s, heard_at FROM listening_history"
            " WHERE user_id = %s ORDER BY heard_at",
            (user_id,),
        )
        history = await cur.fetchall()
        await cur.execute("SELECT email_digest FROM users WHERE id = %s", (user_id,))
        prefs = await cur.fetchone()
    document: dict[str, Any] = json.loads(
        json.dumps(
            {
                "playlists": playlists,
                "listening_history": history,
                "notifications": {"email_digest": bool(prefs and prefs["email_digest"])},
            },
            default=str,
        )
    )
    return document
