"""What the catalog needs from the floors above it, as small Protocols the composition root
fills (:mod:`tellmemore.wiring`): queueing new episodes for processing lives in
``tellmemore.processing``, which the catalog must not import."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol
from uuid import UUID


class EpisodeQueue(Protocol):
    """Queues episodes for processing; answers the ids it actually queued (an episode already
    queued or processed is not queued again)."""

    async def enqueue(self, episode_ids: Sequence[UUID], *, force: bool = False) -> list[UUID]: ...

    async def enqueue_newest(self, podcast_id: UUID, count: int | None = None) -> list[UUID]: ...
