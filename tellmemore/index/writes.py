"""Writing LanceDB tables safely from several processes at once.

Lance commits optimistically: concurrent writers either rebase or lose with a commit conflict.
The writes that go through here are idempotent and start from the latest version, so a lost one
is simply run again (bounded, with jitter). Tables are opened or created race-safely, and a long-
lived handle is moved to the latest version before it writes.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

import lancedb
import pyarrow as pa

from tellmemore.index.maintenance import ensure_fts_index

log = logging.getLogger(__name__)

T = TypeVar("T")

# Lance's messages for a lost optimistic commit. The writes here are idempotent and start from the
# latest version, so rerunning one is always safe, even after an "incompatible" concurrent
# Overwrite (a racing table creation).
_CONFLICT_MARKERS = (
    "retryable commit conflict",
    "commit conflict for version",
    "too many concurrent writers",
    "incompatible transaction",
)


def open_or_create(db: lancedb.DBConnection, name: str, schema: pa.Schema) -> lancedb.table.Table:
    """The named table, created empty with ``schema`` if missing. Another process may create it
    between our look and our create; Lance then says "already exists" or, when the two commits
    race, reports a commit conflict or an incompatible transaction (or lets ours land as a
    second, empty version). Whatever it says, if the table is now there we open it."""
    try:
        table = db.open_table(name)
    except ValueError:
        try:
            table = db.create_table(name, schema=schema)
        except (ValueError, RuntimeError) as exc:
            try:
                table = db.open_table(name)
            except ValueError:
                raise exc from None
            log.info("LanceDB table %s was created by another process (%s); opened it", name, exc)
    check_schema(name, table.schema, schema)
    return table


def ensure_fts(table: lancedb.table.Table, column: str) -> None:
    # From the latest version: after losing a race, the winner's index is what we must see.
    refresh(table)
    ensure_fts_index(table, column)


def refresh(table: lancedb.table.Table) -> None:
    # A long-lived handle stays at the version it last saw unless the connection was opened with
    # a read_consistency_interval: reads would miss other replicas' writes, and a write based on
    # a version older than a concurrent re-creation (an Overwrite) cannot be rebased. A few ms.
    table.checkout_latest()  # type: ignore[no-untyped-call]


def check_schema(name: str, actual: pa.Schema, expected: pa.Schema) -> None:
    problems = []
    for field in expected:
        index = actual.get_field_index(field.name)
        if index < 0:
            problems.append(f"{field.name} is missing")
        elif actual.field(index).type != field.type:
            problems.append(f"{field.name} is {actual.field(index).type}, not {field.type}")
    if problems:
        raise ValueError(
            f"LanceDB table {name!r} does not have the expected columns ({'; '.join(problems)}). "
            "Vectors of another model or dimension belong in a table of another name."
        )


def merge(
    table: lancedb.table.Table,
    on: str,
    rows: pa.Table,
    *,
    replace_where: str | None = None,
    what: str,
) -> None:
    """Upsert ``rows`` on ``on``; with ``replace_where``, also delete the table's rows matching it
    that ``rows`` does not have, in the same commit."""

    def run() -> object:
        refresh(table)
        builder = table.merge_insert(on).when_matched_update_all().when_not_matched_insert_all()
        if replace_where is not None:
            builder = builder.when_not_matched_by_source_delete(replace_where)
        return builder.execute(rows)

    retry_on_conflict(run, what=what)


def delete(table: lancedb.table.Table, where: str) -> None:
    refresh(table)
    table.delete(where)


def is_conflict(exc: BaseException) -> bool:
    message = str(exc).lower()
    return any(marker in message for marker in _CONFLICT_MARKERS)


def retry_on_conflict(
    operation: Callable[[], T], *, what: str, attempts: int = 4, base_delay_s: float = 0.2
) -> T:
    """Run ``operation``; rerun it after a jittered pause when its commit lost to concurrent
    writers (up to ``attempts`` runs in all). Other errors pass straight through."""
    for attempt in range(1, attempts + 1):
        try:
            return operation()
        except (RuntimeError, OSError) as exc:
            if attempt == attempts or not is_conflict(exc):
                raise
            # Jitter only spreads retries apart; it needs no cryptographic randomness.
            delay = base_delay_s * 2 ** (attempt - 1) * (0.5 + random.random())  # noqa: S311
            log.warning(
                "commit conflict writing %s (attempt %d of %d); retrying in %.2fs: %s",
                what,
                attempt,
                attempts,
                delay,
                exc,
            )
            time.sleep(delay)
    raise AssertionError("unreachable")
