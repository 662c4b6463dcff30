"""Embedding spaces and the search index each one has.

Vectors are only comparable within one *embedding space*: the same model with the same query
and passage prefixes. Each space has its own pair of LanceDB tables (an *index*); the default
space keeps the historical names ``segments`` / ``episode_summaries``. Which index readers and
the online processor use is recorded in PostgreSQL (``search_indexes.active``), so a re-embedding
backfill can build a new index beside the live one and flip readers over when it is complete,
and an operator can flip back.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from models.settings import EmbedderSettings

DEFAULT_MODEL = "all-MiniLM-L6-v2"
DEFAULT_SEGMENTS = "segments"
DEFAULT_SUMMARIES = "episode_summaries"


@dataclass(frozen=True)
class SearchIndex:
    """One embedding space's tables and the settings that embed queries and passages for it."""

    name: str
    segments_table: str
    summaries_table: str
    embedder: EmbedderSettings


def space_of(embedder: EmbedderSettings) -> EmbedderSettings:
    """Only what changes vectors: model and prefixes (device and batch size do not)."""
    return EmbedderSettings(
        model=embedder.model,
        query_prefix=embedder.query_prefix,
        passage_prefix=embedder.passage_prefix,
    )


def index_for(embedder: EmbedderSettings) -> SearchIndex:
    """The index of ``embedder``'s space, named deterministically: every process that embeds
    with the same model and prefixes agrees on the tables without asking anyone."""
    space = space_of(embedder)
    if space.model == DEFAULT_MODEL and not space.query_prefix and not space.passage_prefix:
        return SearchIndex("default", DEFAULT_SEGMENTS, DEFAULT_SUMMARIES, space)
    key = "\x1f".join((space.model, space.query_prefix, space.passage_prefix))
    digest = hashlib.sha256(key.encode()).hexdigest()[:8]
    stem = re.sub(r"[^a-z0-9]+", "_", space.model.lower().rsplit("/", 1)[-1]).strip("_")[:40]
    name = f"{stem}_{digest}"
    return SearchIndex(name, f"segments__{name}", f"episode_summaries__{name}", space)


def resegmented(index: SearchIndex, segmenter_id: str) -> SearchIndex:
    """The version of ``index`` whose passages ``segmenter_id`` cut: the same embedding space
    in tables of its own, so re-cutting every episode's passages (``tmm-batch run --stages
    segment,embed``) builds beside the live index and readers switch when it is complete.
    Named by the segmenter (a rerun resumes the same build); any earlier version's suffix is
    replaced, not stacked."""
    base = _VERSION.sub("", index.name)
    digest = hashlib.sha256(segmenter_id.encode()).hexdigest()[:8]
    name = f"{base}_s{digest}"
    return SearchIndex(name, f"segments__{name}", f"episode_summaries__{name}", index.embedder)


_VERSION = re.compile(r"_s[0-9a-f]{8}$")


def with_runtime(index: SearchIndex, runtime: EmbedderSettings) -> EmbedderSettings:
    """The index's space with this process's device and batch size."""
    return runtime.model_copy(
        update={
            "model": index.embedder.model,
            "query_prefix": index.embedder.query_prefix,
            "passage_prefix": index.embedder.passage_prefix,
        }
    )


class ActiveIndex:
    """The index readers should use now, looked up at most every ``ttl_s`` (a switch-over
    reaches every replica within that), or the process's own space when none is recorded."""

    def __init__(
        self,
        lookup: Callable[[], Awaitable[SearchIndex | None]],
        fallback: EmbedderSettings,
        *,
        ttl_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self._fallback = index_for(fallback)
        self._ttl = ttl_s
        self._clock = clock
        self._current: SearchIndex | None = None
        self._checked = float("-inf")

    async def current(self) -> SearchIndex:
        now = self._clock()
        if self._current is None or now - self._checked >= self._ttl:
            found = await self._lookup()
            self._current = found or self._fallback
            self._checked = now
        return self._current

    def forget(self) -> None:
        """Look again on the next call (after this process switched the index itself)."""
        self._checked = float("-inf")


class FixedIndex:
    """Always the same index: tests, benchmarks, and a notebook pointed at one table pair."""

    def __init__(self, index: SearchIndex) -> None:
        self._index = index

    async def current(self) -> SearchIndex:
        return self._index
