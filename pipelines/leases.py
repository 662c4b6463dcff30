"""A batch run's hold on the episodes it processes: the online worker's own job-queue lease.

Before an episode enters the stages the driver takes the lease of its ``process_episode`` job
(:mod:`tellmemore.storage.holds`); an episode the online worker has (queued or running) is
skipped and left to it. While the run goes on, a heartbeat thread renews every hold of the run;
the writer checks its hold right before it writes (:func:`still_ours`); the driver lets go of
each episode when its outcome comes back, and of all the rest when the run ends.

The holder is named after the plan (``batch:<plan key>``), not the run: a rerun of the same
command after its driver was killed takes its episodes back at once instead of waiting for the
old leases to expire.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

import psycopg

from pipelines import ledger
from pipelines.plan import Plan
from tellmemore.processing import PROCESS_EPISODE
from tellmemore.storage import holds

log = logging.getLogger(__name__)


def holder_of(plan: Plan) -> str:
    return f"batch:{plan.key}"


class Holds:
    """The run's holds, renewed every third of ``lease_s`` until :meth:`close`."""

    def __init__(self, database_url: str, plan: Plan, *, lease_s: float) -> None:
        self.holder = holder_of(plan)
        self._url = database_url
        self._lease_s = lease_s
        self._conn = ledger.connect(database_url)
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, name="batch-holds", daemon=True)
        self._beat.start()

    def take(self, episode_ids: list[str]) -> set[str]:
        """Hold these episodes; returns the ones held (the others are the online worker's)."""
        return holds.take(self._conn, PROCESS_EPISODE, episode_ids, self.holder, self._lease_s)

    def let_go(self, episode_ids: list[str]) -> None:
        if episode_ids:
            holds.let_go(self._conn, PROCESS_EPISODE, episode_ids, self.holder)

    def close(self) -> None:
        """Stop renewing and let go of every hold still taken (what the run did not reach)."""
        self._stop.set()
        self._beat.join(timeout=10)
        try:
            holds.let_go_all(self._conn, self.holder)
        finally:
            self._conn.close()

    def _heartbeat(self) -> None:
        interval = max(1.0, self._lease_s / 3)
        with contextlib.closing(ledger.connect(self._url)) as conn:
            while not self._stop.wait(interval):
                try:
                    holds.renew(conn, self.holder, self._lease_s)
                except psycopg.Error:  # the database is away: the next beat tries again
                    log.exception("renewing the batch run's holds failed")


def still_ours(conn: psycopg.Connection[Any], plan: Plan, episode_id: str, lease_s: float) -> bool:
    """The writer's fence: extend the hold on ``episode_id`` right before writing it; False if
    the run lost it (its lease lapsed and the online worker may have the episode now)."""
    return holds.keep(conn, PROCESS_EPISODE, episode_id, holder_of(plan), lease_s)


__all__ = ["Holds", "holder_of", "still_ours"]
