"""Read access to the search tables, reopened lazily and refreshed at a bounded rate.

A search replica keeps its table handles; another process (a processor replica, a batch job)
writes new versions. Checking for a newer version costs a manifest read (a round trip on S3),
so it happens at most every ``read_consistency_s``; a table that does not exist yet (nothing
processed) reads as empty instead of failing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from models.settings import EmbedderSettings
from tellmemore.index.spaces import SearchIndex

log = logging.getLogger(__name__)


class IndexSource(Protocol):
    """Which index to read now (the registry's active one in servers, a fixed one in tests)."""

    async def current(self) -> SearchIndex: ...


@dataclass(frozen=True)
class IndexView:
    """One request's tables and embedding space: a switch-over mid-request cannot mix a query
    vector of one space with the tables of another."""

    segments: TableReader
    summaries: TableReader
    space: EmbedderSettings


class IndexTables:
    """Readers of every index's tables seen so far, each kept (and refreshed) across requests."""

    def __init__(self, db: TableSource, *, read_consistency_s: float) -> None:
        self._db = db
        self._interval = read_consistency_s
        self._readers: dict[str, TableReader] = {}
        self._lock = threading.Lock()

    def view(self, index: SearchIndex) -> IndexView:
        return IndexView(
            self._reader(index.segments_table), self._reader(index.summaries_table), index.embedder
        )

    def _reader(self, name: str) -> TableReader:
        with self._lock:
            reader = self._readers.get(name)
            if reader is None:
                reader = TableReader(self._db, name, read_consistency_s=self._interval)
                self._readers[name] = reader
            return reader


class TableSource(Protocol):
    """A LanceDB connection, or anything that opens tables by name like one."""

    def open_table(self, name: str) -> Any: ...


class TableReader:
    def __init__(
        self,
        db: TableSource,
        name: str,
        *,
        read_consistency_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self.name = name
        self._interval = read_consistency_s
        self._clock = clock
        self._table: Any = None
        self._checked = float("-inf")
        self._lock = threading.Lock()
        self._indexes: frozenset[tuple[str, str]] = frozenset()

    def get(self) -> Any | None:
        """The table at a version at most ``read_consistency_s`` old, or None if missing."""
        with self._lock:
            now = self._clock()
            if self._table is None:
                try:
                    self._table = self._db.open_table(self.name)
                except (ValueError, FileNotFoundError):
                    return None  # not created yet: nothing processed
                except (OSError, RuntimeError) as exc:  # storage unreachable, bucket missing
                    log.warning("search table %s cannot be opened: %s", self.name, exc)
                    return None
                self._checked = now
                self._indexes = _indexes(self._table)
            elif now - self._checked >= self._interval:
                self._table.checkout_latest()
                self._checked = now
                self._indexes = _indexes(self._table)
            return self._table

    def has_index(self, column: str, kind_prefix: str) -> bool:
        """Whether ``column`` has an index whose type starts with ``kind_prefix`` ("IVF",
        "FTS"), as of the last refresh."""
        return any(c == column and k.startswith(kind_prefix) for c, k in self._indexes)


def _indexes(table: Any) -> frozenset[tuple[str, str]]:
    return frozenset(
        (column, str(index.index_type).upper())
        for index in table.list_indices()
        for column in index.columns
    )
