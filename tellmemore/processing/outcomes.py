"""Who writes an episode's outcome on its row, and when a later attempt may change it.

The online worker and batch runs both process episodes, and both record what happened on the
same ``episodes`` row. Two rules keep one of them from spoiling the other's result:

1. **Done beats failed.** An episode with outputs (``status = 'done'``, or ``processed_at`` set:
   it was done once and is being redone) stays ``done`` after any later attempt fails, online or
   batch: its transcript, summary and passages still serve. The failure is kept where the
   attempt's owner keeps it (the job's last error online, the batch ledger for a run) instead of
   on the row.
2. **Queued and processing belong to the online worker.** A batch failure never writes over
   them: the online worker has the episode (or will have it once the batch run lets go of its
   hold, :mod:`tellmemore.storage.holds`) and records its own outcome.

A success is always written, by whoever had it: it carries the outputs.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg
from psycopg import AsyncConnection

HAS_OUTPUTS = "(status = 'done' OR processed_at IS NOT NULL)"


async def online_failed(
    conn: AsyncConnection[Any], episode_id: UUID, *, code: str, message: str, final: bool
) -> None:
    """An online attempt failed: ``queued`` again while attempts remain; after the last one
    ``failed``, or ``done`` again when the episode has outputs (rule 1)."""
    await conn.execute(
        "UPDATE episodes SET "
        f"status = CASE WHEN NOT %(final)s THEN 'queued' WHEN {HAS_OUTPUTS} THEN 'done' "
        "ELSE 'failed' END, "
        f"error_code = CASE WHEN %(final)s AND {HAS_OUTPUTS} THEN NULL ELSE %(code)s END, "
        f"error_message = CASE WHEN %(final)s AND {HAS_OUTPUTS} THEN NULL ELSE %(message)s END, "
        "processing_step = NULL, processing_progress = NULL, updated_at = now() "
        "WHERE id = %(id)s".encode(),
        {"final": final, "code": code, "message": message[:2000], "id": episode_id},
    )


def batch_failed(
    conn: psycopg.Connection[Any], episode_id: str, *, code: str, message: str
) -> bool:
    """A batch attempt failed: shown on the row only for an episode without outputs that the
    online worker does not have (rules 1 and 2); True if the row changed."""
    cur = conn.execute(
        "UPDATE episodes SET status = 'failed', error_code = %s, error_message = %s, "
        "processing_step = NULL, updated_at = now() "
        f"WHERE id = %s AND NOT {HAS_OUTPUTS} AND status NOT IN ('queued', 'processing')".encode(),
        (code, message[:2000], episode_id),
    )
    return cur.rowcount > 0


__all__ = ["HAS_OUTPUTS", "batch_failed", "online_failed"]
