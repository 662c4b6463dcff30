"""Cursors that time every statement, so database time shows up in the metrics.

The pools create connections with these as their ``cursor_factory``; ``conn.execute`` and
``conn.cursor()`` then go through them, with no call site having to remember to measure.
The statement kind (the first SQL keyword) is the only label: the text itself would give one
series per query.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from psycopg import AsyncCursor, Cursor
from psycopg.abc import Params, Query
from psycopg.rows import Row

from tellmemore.metrics import DB_ERRORS, DB_QUERY_SECONDS

_KINDS = frozenset({"select", "insert", "update", "delete", "with", "copy", "create", "alter"})


def statement_kind(query: Query | str) -> str:
    """``select``, ``insert``… from the query's first word; ``other`` when it is none of those
    (or is composed with ``psycopg.sql``, whose text needs a connection to render)."""
    if isinstance(query, bytes):
        head = query[:32].decode(errors="replace")
    elif isinstance(query, str):
        head = query[:32]
    else:  # sql.Composable, a template
        return "other"
    words = head.split(None, 1)
    word = words[0].lower() if words else ""
    return word if word in _KINDS else "other"


class _Timer:
    def __init__(self, query: Query | str) -> None:
        self.kind = statement_kind(query)
        self.started = time.perf_counter()

    def done(self, failed: bool) -> None:
        DB_QUERY_SECONDS.labels(self.kind).observe(time.perf_counter() - self.started)
        if failed:
            DB_ERRORS.labels(self.kind).inc()


class TimedAsyncCursor(AsyncCursor[Row]):
    """``AsyncCursor`` recording each ``execute``/``executemany`` in ``tmm_db_query_seconds``."""

    async def execute(self, query: Any, params: Params | None = None, **kw: Any) -> Any:
        timer = _Timer(query)
        failed = True
        try:
            result = await super().execute(query, params, **kw)
            failed = False
            return result
        finally:
            timer.done(failed)

    async def executemany(self, query: Any, params_seq: Iterable[Params], **kw: Any) -> None:
        timer = _Timer(query)
        failed = True
        try:
            await super().executemany(query, params_seq, **kw)
            failed = False
        finally:
            timer.done(failed)


class TimedCursor(Cursor[Row]):
    """The synchronous twin, for the batch pipeline's ledger."""

    def execute(self, query: Any, params: Params | None = None, **kw: Any) -> Any:
        timer = _Timer(query)
        failed = True
        try:
            result = super().execute(query, params, **kw)
            failed = False
            return result
        finally:
            timer.done(failed)

    def executemany(self, query: Any, params_seq: Iterable[Params], **kw: Any) -> None:
        timer = _Timer(query)
        failed = True
        try:
            super().executemany(query, params_seq, **kw)
            failed = False
        finally:
            timer.done(failed)
