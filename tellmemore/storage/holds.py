"""Holds: a job-queue lease taken by something that is not a queue worker (a batch run).

The online worker and a batch run must never process one episode at the same time, so both go
through the one lease there is for it: the ``jobs`` row of the episode's key, of which at most
one is live (``jobs_one_live_per_key``).

- **Taking a hold** inserts that row already ``running``, leased to the holder and marked
  ``payload.hold``. It fails for a key with a live job (queued, or leased to a worker): the
  online worker has that episode, and the holder leaves it alone. A holder may take its own
  holds again (a batch run resumed after its driver died gets its episodes back at once).
- **The online worker skips held keys** without knowing about holds: ``claim`` takes only
  queued jobs and expired leases.
- **A request while held is kept, not lost**: enqueueing a held key marks the hold
  ``requested`` (see :meth:`~tellmemore.storage.jobs.JobQueue.enqueue`) instead of failing.
- **Letting go** (the holder is done with the key, whatever the outcome, or its lease expired
  because it died) deletes a hold nobody asked for, and turns a requested one into a queued
  job with fresh attempts, so the request is served after the holder. A held row therefore
  never becomes online work by itself: a batch driver killed with a thousand holds leaves no
  thousand jobs behind.
- **Fencing**: a holder renews its leases while it lives and checks its hold right before it
  writes (:func:`keep`), so a holder that stalled past its lease does not write over work the
  online worker took up meanwhile.

Synchronous psycopg: the batch driver and its writer actors are plain threads.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

# A hold's row, as the queue's own statements recognise it.
HOLD = "payload ? 'hold'"
REQUESTED = "payload ? 'requested'"

# Letting go of the held rows matching a condition: delete what nobody asked for, queue the rest.
LET_GO_UNREQUESTED = f"DELETE FROM jobs WHERE {HOLD} AND NOT {REQUESTED} AND "
LET_GO_REQUESTED = (
    "UPDATE jobs SET state = 'queued', attempts = 0, run_after = now(), locked_until = NULL, "
    "locked_by = NULL, payload = payload - 'hold' - 'requested', updated_at = now() "
    f"WHERE {HOLD} AND {REQUESTED} AND "
)
EXPIRED = "state = 'running' AND locked_until < now() AND kind = ANY(%s)"


def take(
    conn: psycopg.Connection[Any], kind: str, keys: list[str], holder: str, lease_s: float
) -> set[str]:
    """Hold ``keys`` for ``holder``; returns those held (the others have a live job)."""
    keys = sorted(set(keys))  # one statement may not touch a row twice
    if not keys:
        return set()
    with conn.transaction():
        # Expired holds of others first: their holder is gone (and a requested one is queued
        # now, which makes it the online worker's again).
        let_go_expired(conn, [kind])
        rows = conn.execute(
            "INSERT INTO jobs (kind, key, payload, state, attempts, max_attempts, locked_by, "
            "locked_until) SELECT %s, k, %s, 'running', 0, 1, %s, "
            "now() + make_interval(secs => %s) FROM unnest(%s::text[]) AS k "
            "ON CONFLICT (kind, key) WHERE state IN ('queued', 'running') DO UPDATE SET "
            "locked_until = EXCLUDED.locked_until, updated_at = now() "
            "WHERE jobs.locked_by = EXCLUDED.locked_by AND jobs.payload ? 'hold' RETURNING key",
            (kind, Jsonb({"hold": True}), holder, lease_s, keys),
        ).fetchall()
    return {str(r[0]) for r in rows}


def renew(conn: psycopg.Connection[Any], holder: str, lease_s: float) -> int:
    """Extend every hold of ``holder`` (its heartbeat); returns how many it still has."""
    cur = conn.execute(
        "UPDATE jobs SET locked_until = now() + make_interval(secs => %s), updated_at = now() "
        f"WHERE locked_by = %s AND state = 'running' AND {HOLD}",
        (lease_s, holder),
    )
    return cur.rowcount


def keep(conn: psycopg.Connection[Any], kind: str, key: str, holder: str, lease_s: float) -> bool:
    """Right before writing: extend the hold on ``key``; False if it is no longer ours."""
    row = conn.execute(
        "UPDATE jobs SET locked_until = now() + make_interval(secs => %s), updated_at = now() "
        f"WHERE kind = %s AND key = %s AND locked_by = %s AND state = 'running' AND {HOLD} "
        "RETURNING id",
        (lease_s, kind, key, holder),
    ).fetchone()
    return row is not None


def let_go(conn: psycopg.Connection[Any], kind: str, keys: list[str], holder: str) -> int:
    """Release ``holder``'s holds on ``keys``; returns how many became queued jobs."""
    where = "kind = %s AND key = ANY(%s::text[]) AND locked_by = %s AND state = 'running'"
    return _let_go(conn, where, (kind, keys, holder))


def let_go_all(conn: psycopg.Connection[Any], holder: str) -> int:
    """Release every hold of ``holder`` (its run ends); returns how many became queued jobs."""
    return _let_go(conn, "locked_by = %s AND state = 'running'", (holder,))


def let_go_expired(conn: psycopg.Connection[Any], kinds: list[str]) -> int:
    """Release every hold whose lease expired (its holder died)."""
    return _let_go(conn, EXPIRED, (kinds,))


def _let_go(conn: psycopg.Connection[Any], where: str, params: tuple[Any, ...]) -> int:
    with conn.transaction():
        conn.execute((LET_GO_UNREQUESTED + where).encode(), params)
        queued = conn.execute((LET_GO_REQUESTED + where).encode(), params).rowcount
        if queued:  # wake the workers (jobs.CHANNEL; jobs imports this module)
            conn.execute("SELECT pg_notify('tmm_jobs', 'released')")
    return queued


__all__ = [
    "EXPIRED",
    "HOLD",
    "LET_GO_REQUESTED",
    "LET_GO_UNREQUESTED",
    "REQUESTED",
    "keep",
    "let_go",
    "let_go_all",
    "let_go_expired",
    "renew",
    "take",
]
