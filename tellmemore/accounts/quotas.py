"""Daily quotas per account: feeds added (one by one or as OPML entries) and episodes queued.

A rate limit bounds how fast someone asks; a quota bounds how much they make us spend. Adding
a feed fetches up to megabytes and stores its episodes; every queued episode costs minutes of
GPU. Accounts are free, so each gets a budget per UTC day (``settings.quotas``). Counters live
in Redis under the rate limiter's keys for the user, so deleting an account deletes them too.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from typing import Literal
from uuid import UUID

from tellmemore.accounts.ratelimit import LimiterUnavailable, RateLimiter
from tellmemore.clock import Clock
from tellmemore.errors import CatalogError, ErrorKind
from tellmemore.settings import QuotaSettings

Kind = Literal["feeds", "episodes"]
_WHAT = {"feeds": "feeds added", "episodes": "episodes queued for processing"}


class Quotas:
    def __init__(self, limiter: RateLimiter, settings: QuotaSettings, clock: Clock) -> None:
        self._limiter = limiter
        self._settings = settings
        self._clock = clock

    def _limit(self, kind: Kind) -> int:
        return self._settings.feeds_per_day if kind == "feeds" else self._settings.episodes_per_day

    def _day(self) -> tuple[str, int]:
        """Today's bucket (UTC) and the seconds until it ends."""
        now = self._clock().astimezone(UTC)
        tomorrow = datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1)
        return now.strftime("%Y%m%d"), max(int((tomorrow - now).total_seconds()), 1)

    async def take(self, kind: Kind, user_id: UUID, n: int) -> None:
        """Spend ``n`` of today's ``kind``, or refuse with 429 ``quota_exceeded`` (nothing
        spent) saying how much is left and when it resets."""
        if not self._settings.enabled or n <= 0:
            return
        limit = self._limit(kind)
        day, resets_in = self._day()
        try:
            taken, left = await self._limiter.take(
                f"quota-{kind}-{day}", f"user:{user_id}", n, limit, resets_in + 3600
            )
        except LimiterUnavailable as exc:
            raise CatalogError(
                "rate_limiter_unavailable",
                "Quotas cannot be checked right now; try again shortly.",
                ErrorKind.UNAVAILABLE,
                retry_after_s=5,
            ) from exc
        if not taken:
            raise CatalogError(
                "quota_exceeded",
                f"This asks for {n} {_WHAT[kind]}, but your account has {left} of {limit} "
                "left today (UTC); the quota resets at midnight UTC.",
                ErrorKind.RATE_LIMITED,
                details={"quota": f"{kind}_per_day", "limit": limit, "remaining": left,
                         "requested": n},
                retry_after_s=resets_in,
            )  # fmt: skip

    async def take_up_to(self, kind: Kind, user_id: UUID, n: int) -> int:
        """Spend as much of ``n`` as today's quota has left (0 when it is spent): for work
        still worth doing in part, such as queueing a new subscription's newest episodes."""
        if not self._settings.enabled:
            return n
        wanted = n
        while wanted > 0:
            try:
                await self.take(kind, user_id, wanted)
                return wanted
            except CatalogError as exc:
                if exc.code != "quota_exceeded":
                    raise
                left = int(exc.details["remaining"])
                wanted = left if left < wanted else wanted - 1  # another request took some
        return 0

    async def give_back(self, kind: Kind, user_id: UUID, n: int) -> None:
        """Return ``n`` taken for work that turned out not to be needed."""
        if not self._settings.enabled or n <= 0:
            return
        day, resets_in = self._day()
        # Redis down: the user loses a little of today's quota; nothing else depends on it.
        with contextlib.suppress(LimiterUnavailable):
            await self._limiter.take(f"quota-{kind}-{day}", f"user:{user_id}", -n,
                                     self._limit(kind), resets_in + 3600)  # fmt: skip
