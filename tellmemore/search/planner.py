""" "Tell me more": a playlist of the minutes, across shows, where a topic is discussed.

1. **Relevant**: hybrid search gives a wide pool of passages; a passage stays if it is close
   enough in meaning (cosine ≥ ``topic_min_similarity``), or if it is a top full-text hit
   that says the topic's words, not just one of them (:func:`shares_topic_words`): all of
   them (a rare name the embedding blurs: "SPIVA", "Hjalmar Schacht"), or at least half while
   also near the top by meaning (cosine ≥ ``_AGREEING_SIMILARITY``: "origins of bebop",
   whose right passage the embedding ranks first at a modest cosine). One shared common word
   ("deep", "dense", "flows") lets nothing in.
2. **Not heard**: passages the listener already heard (≥ 90 % of them) are left out.
3. **Diverse**: maximal marginal relevance picks passages one by one, penalising similarity to
   those already picked — more for the same episode, a little for the same podcast — and never
   takes a near-duplicate (cosine ≥ ``near_duplicate_similarity``: the same story told twice).
4. **Sized**: picking stops at the target length (allowing 10 % over).
5. **Good entry points**: passages start on sentence starts (the segmenter cuts there); picked
   passages adjacent in one episode are merged into one continuous item, then trimmed to the
   sentences about the topic (``trim.py``: the sentences far less similar to the topic than
   the item's best are cut from its start and end). An item whose trimmed part was heard
   already is left out.
6. **Ordered**: episodes by their best relevance, each episode's items in time order, so a
   listener hears each show's part in sequence.

A topic playlist grows through the same rules: its refresh plans over the new episodes only,
naming the passages the playlist already holds, which count as chosen for diversity and the
near-duplicate veto (the same passage from another feed sharing the audio is not added again)
but not for the length: each growth adds at most the playlist's minutes.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from tellmemore.errors import CatalogError
from tellmemore.search.engine import SearchEngine
from tellmemore.search.fusion import maximal_marginal_relevance
from tellmemore.search.trim import TrimRules, trimmed_span
from tellmemore.search.types import NO_FILTERS, Highlight, SearchFilters, SearchMode, SegmentHit
from tellmemore.settings import SearchSettings

HeardRanges = Mapping[str, Sequence[tuple[float, float]]]
# Same-episode passages say similar things in the same voice; the bonus pushes MMR elsewhere.
_SAME_EPISODE = 0.15
_SAME_PODCAST = 0.05
_HEARD_FRACTION = 0.9
_OVERSHOOT = 1.1  # a playlist may run this much past its target
_TOP_FULLTEXT = 3  # full-text ranks that may get in below the cosine floor
_TOP_SEMANTIC = 3  # ... with half the topic's words, if also this high by meaning
_AGREEING_SIMILARITY = 0.2  # ... and at least this close in meaning
_BELOW_BEST = 0.25  # how far under the pool's best cosine a passage may be (dev set)
_WORD = re.compile(r"[^\W_]+(?:['\u2019-][^\W_]+)*")
# Words that say nothing about a topic; a topic made only of them has no words to share.
_FUNCTION_TEXT = (
    "a an and are as at be been but by can could did do does doing for from had has have how i"
    " if in into is it its me my of on or our should so some than that the their them then"
    " there these they this to too was we were what when where which who why will with would"
    " you your about more tell"
)
_FUNCTION_WORDS = frozenset(_FUNCTION_TEXT.split())


@dataclass(frozen=True)
class PlannedItem:
    episode_id: str
    podcast_id: str
    episode_title: str
    podcast_title: str
    start_s: float
    end_s: float
    segment_ids: tuple[str, ...]
    reason: Highlight  # the matching passage, marked
    similarity: float
    summary: str | None

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class Plan:
    topic: str
    target_s: float
    items: tuple[PlannedItem, ...]

    @property
    def total_s(self) -> float:
        return sum(i.duration_s for i in self.items)

    @property
    def shortfall(self) -> bool:
        return self.total_s < 0.9 * self.target_s


def covered_fraction(start: float, end: float, heard: Sequence[tuple[float, float]]) -> float:
    """How much of ``[start, end)`` the (possibly overlapping) ``heard`` ranges cover."""
    length = end - start
    if length <= 0:
        return 1.0
    total, cursor = 0.0, start
    for a, b in sorted(heard):
        a, b = max(a, cursor), min(b, end)
        if b > a:
            total += b - a
            cursor = b
    return total / length


def topic_words(topic: str) -> frozenset[str]:
    """The topic's content words, each cut to a crude stem (see :func:`_stem`)."""
    return frozenset(_stem(w) for w in _WORD.findall(topic.lower()) if w not in _FUNCTION_WORDS)


def shares_topic_words(words: frozenset[str], text: str) -> float:
    """The share of the topic's content ``words`` that ``text`` says (0.0 for a topic of
    function words only: it is matched by meaning alone)."""
    if not words:
        return 0.0
    said = {_stem(w) for w in _WORD.findall(text.lower())}
    return sum(w in said for w in words) / len(words)


def _stem(word: str) -> str:
    """Plural and possessive off, then the first five letters: "flows"/"flow",
    "galaxies"/"galaxy", "clusters"/"cluster" meet, without a stemmer's language data."""
    for suffix in ("'s", "\u2019s"):
        word = word.removesuffix(suffix)
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    return word[:5]


class TopicPlanner:
    def __init__(
        self, engine: SearchEngine, settings: SearchSettings, trim: TrimRules | None = None
    ) -> None:
        self._engine = engine
        self._settings = settings
        self._trim = trim or TrimRules()

    def check_minutes(self, minutes: float) -> float:
        maximum = self._settings.max_playlist_minutes
        if not 0 < minutes <= maximum or minutes != minutes:  # NaN fails both
            raise CatalogError(
                "invalid_length",
                f"A playlist can be from a few seconds up to {maximum} minutes long.",
                details={"max_minutes": maximum},
            )
        return minutes

    async def plan(
        self,
        topic: str,
        minutes: float,
        *,
        filters: SearchFilters = NO_FILTERS,
        heard: Callable[[Sequence[str]], Awaitable[HeardRanges]] | None = None,
        existing_segment_ids: Sequence[str] = (),
        strict: bool = False,
    ) -> Plan:
        """The playlist for ``topic`` of about ``minutes`` (see the module docstring).
        ``existing_segment_ids`` are the passages of the playlist being grown: never picked
        again, nor anything nearly the same as one of them. ``strict`` keeps only passages
        above the similarity floor (a refresh adding to an existing playlist, where a mere
        word match is not enough)."""
        text = self._engine.clean_query(topic)
        target_s = self.check_minutes(minutes) * 60.0
        # Passages run about a minute: ask for a generous multiple of the length wanted.
        pool = int(min(max(minutes * 4, 40), 400))
        if existing_segment_ids:
            filters = replace(filters, exclude_segment_ids=tuple(existing_segment_ids))
        hits = await self._engine.search_segments(
            text,
            filters=filters,
            mode=SearchMode.HYBRID,
            limit=pool,
            candidates=pool,
            with_highlights=False,
            with_vectors=True,
        )
        words = topic_words(text)
        best = max((h.similarity for h in hits if h.similarity is not None), default=0.0)
        floor = max(self._settings.topic_min_similarity, best - _BELOW_BEST)
        hits = [h for h in hits if self._relevant(h, words, floor, strict)]
        ranges: HeardRanges = {}
        if heard is not None and hits:
            ranges = await heard(sorted({h.episode_id for h in hits}))
            hits = [
                h
                for h in hits
                if covered_fraction(h.start_s, h.end_s, ranges.get(h.episode_id, ()))
                < _HEARD_FRACTION
            ]
        existing: list[SegmentHit] = []
        if hits and existing_segment_ids:
            found = await self._engine.segments(existing_segment_ids)
            existing = [h for h in found if h.vector is not None]
        chosen = self._select(hits, target_s, existing)
        items = await self._items(text, chosen, ranges)
        return Plan(text, target_s, tuple(items))

    def _relevant(self, hit: SegmentHit, words: frozenset[str], floor: float, strict: bool) -> bool:
        """See the module docstring, point 1. ``strict`` (growing a saved playlist) lets no
        full-text hit in without the embedding agreeing."""
        similarity = hit.similarity if hit.similarity is not None else -1.0
        if similarity >= floor:
            return True
        if hit.fulltext_rank is None or hit.fulltext_rank > _TOP_FULLTEXT:
            return False
        share = shares_topic_words(words, hit.text)
        agreeing = (
            hit.semantic_rank is not None
            and hit.semantic_rank <= _TOP_SEMANTIC
            and similarity >= _AGREEING_SIMILARITY
        )
        if agreeing and share >= 0.5:
            return True
        return not strict and share == 1.0

    def _select(
        self, hits: list[SegmentHit], target_s: float, existing: Sequence[SegmentHit] = ()
    ) -> list[SegmentHit]:
        """MMR over ``hits`` up to ``target_s``; ``existing`` (what a growing playlist holds)
        counts as chosen for diversity and the near-duplicate veto, not for the length."""
        if not hits:
            return []
        vectors = {h.segment_id: np.asarray(h.vector, dtype=np.float32) for h in (*hits, *existing)}
        top = max(h.score for h in hits)
        relevance = {
            h.segment_id: 0.5 * (h.similarity or 0.0) + 0.5 * (h.score / top) for h in hits
        }
        near_duplicate = self._settings.near_duplicate_similarity

        def similarity(a: SegmentHit, b: SegmentHit) -> float:
            value = float(vectors[a.segment_id] @ vectors[b.segment_id])
            if a.episode_id == b.episode_id:
                value += _SAME_EPISODE
            elif a.podcast_id == b.podcast_id:
                value += _SAME_PODCAST
            return min(value, 1.0)

        def accept(candidate: SegmentHit, chosen: list[SegmentHit]) -> bool:
            if sum(c.duration_s for c in chosen) + candidate.duration_s > target_s * _OVERSHOOT:
                return False
            return all(
                float(vectors[candidate.segment_id] @ vectors[c.segment_id]) < near_duplicate
                for c in (*existing, *chosen)
            )

        def stop(chosen: list[SegmentHit]) -> bool:
            return sum(c.duration_s for c in chosen) >= target_s

        return maximal_marginal_relevance(
            hits,
            lambda h: relevance[h.segment_id],
            similarity,
            trade_off=self._settings.mmr_lambda,
            accept=accept,
            stop=stop,
            chosen_before=existing,
        )

    async def _items(
        self, text: str, chosen: list[SegmentHit], heard: HeardRanges
    ) -> list[PlannedItem]:
        if not chosen:
            return []
        highlighted, scores = await self._engine.highlight_hits(text, chosen)
        marked = {h.segment_id: h for h in highlighted}
        summaries = await self._engine.episode_summaries([h.episode_id for h in chosen])
        by_episode: dict[str, list[SegmentHit]] = {}
        for hit in chosen:
            by_episode.setdefault(hit.episode_id, []).append(hit)
        runs: list[list[SegmentHit]] = []
        for hits in by_episode.values():
            hits.sort(key=lambda h: h.index)
            run = [hits[0]]
            for hit in hits[1:]:
                if hit.index == run[-1].index + 1:
                    run.append(hit)
                else:
                    runs.append(run)
                    run = [hit]
            runs.append(run)
        best_of_episode = {
            episode: max(h.similarity or 0.0 for h in hits) for episode, hits in by_episode.items()
        }
        runs.sort(key=lambda r: (-best_of_episode[r[0].episode_id], r[0].episode_id, r[0].index))
        items = []
        for run in runs:
            best = max(run, key=lambda h: h.similarity or 0.0)
            reason = marked[best.segment_id].highlight
            assert reason is not None
            start_s, end_s = trimmed_span(run, scores, self._trim)
            if covered_fraction(start_s, end_s, heard.get(best.episode_id, ())) >= _HEARD_FRACTION:
                continue  # what is left after trimming was heard already
            items.append(
                PlannedItem(
                    episode_id=best.episode_id,
                    podcast_id=best.podcast_id,
                    episode_title=best.episode_title,
                    podcast_title=best.podcast_title,
                    start_s=start_s,
                    end_s=end_s,
                    segment_ids=tuple(h.segment_id for h in run),
                    reason=reason,
                    similarity=best.similarity or 0.0,
                    summary=summaries.get(best.episode_id),
                )
            )
        return items
