"""Summaries of whole episodes: summary, topics, and a title per chapter (a run of retrieval
segments).

Transcripts longer than the model's context are summarized part by part and the part summaries
combined (map-reduce). Every answer is parsed and validated against bounded lengths; a malformed
answer is asked for once more, and then the episode fails with :class:`SummaryError` — nothing
malformed is ever returned for storage.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from models.errors import SummaryError
from models.summarizer import prompts
from models.summarizer.backends import ChatBackend
from models.types import Chapter, RetrievalSegment, Summary

# A conservative characters-per-token ratio for English with BPE tokenizers; budgets computed
# with it leave room rather than overflow the context.
CHARS_PER_TOKEN = 3.2
PROMPT_OVERHEAD_TOKENS = 200
RETRY_TEMPERATURE = 0.7
MAX_SUMMARY_CHARS = 700


class Progress(Protocol):
    """Where a summary's model requests are counted, for the episode's status: ``expect`` the
    number planned (it may grow with a reduce round), ``add`` as answers come. Called from the
    summarizing thread."""

    def expect(self, total: int) -> None: ...

    def add(self, amount: float = 1.0) -> None: ...


class _NoProgress:
    def expect(self, total: int) -> None:
        pass

    def add(self, amount: float = 1.0) -> None:
        pass


@dataclass
class _Run:
    """One summary's own state (a summarizer serves several episodes at once, from threads)."""

    progress: Progress
    planned: int


@dataclass(frozen=True)
class _Answer:
    summary: str
    topics: tuple[str, ...]


class Summarizer:
    def __init__(
        self, backend: ChatBackend, *, max_output_tokens: int = 400, chapter_s: float = 300.0
    ) -> None:
        self._backend = backend
        self._max_output = max_output_tokens
        self._chapter_s = chapter_s
        budget = backend.context_tokens - max_output_tokens - PROMPT_OVERHEAD_TOKENS
        self.budget_chars = int(budget * CHARS_PER_TOKEN)
        # Each reduce round must at least halve the part summaries, or it would never end.
        if self.budget_chars < 2 * MAX_SUMMARY_CHARS + 100:
            raise ValueError("the model's context is too small to combine part summaries")

    def summarize(
        self,
        segments: Sequence[RetrievalSegment],
        *,
        title: str | None = None,
        progress: Progress | None = None,
    ) -> Summary:
        """Summary, topics and chapters of one episode from its retrieval segments; the model
        requests answered are counted on ``progress``."""
        if not segments or not any(s.text.strip() for s in segments):
            raise SummaryError("There is no transcript text to summarize.", code="summary_no_text")
        run = _Run(progress or _NoProgress(), self._requests(segments))
        run.progress.expect(run.planned)
        answer = self._summary(run, segments, title)
        chapters = self._chapters(run, segments)
        return Summary(answer.summary, answer.topics, chapters, self._backend.model)

    def _requests(self, segments: Sequence[RetrievalSegment]) -> int:
        """The requests planned: one summary (or one per part and one to combine them), and
        one title per chapter; reduce rounds, when needed, add theirs as they start."""
        text_chars = len(" ".join(s.text for s in segments))
        summary = 1
        if text_chars > self.budget_chars:
            summary = len(_pack([s.text for s in segments], self.budget_chars)) + 1
        return summary + len(_chapter_groups(segments, self._chapter_s))

    # ---- summary (map-reduce when the transcript is long) -------------------------------

    def _summary(
        self, run: _Run, segments: Sequence[RetrievalSegment], title: str | None
    ) -> _Answer:
        text = " ".join(s.text for s in segments)
        if len(text) <= self.budget_chars:
            return self._ask_summaries(run, [prompts.summary_messages(text, title)])[0]
        parts = _pack([s.text for s in segments], self.budget_chars)
        partials = self._ask_summaries(
            run, [prompts.part_messages(p, i, len(parts)) for i, p in enumerate(parts)]
        )
        summaries = [a.summary for a in partials]
        while len("\n".join(summaries)) > self.budget_chars:  # reduce in rounds if needed
            groups = _pack(summaries, self.budget_chars)
            run.planned += len(groups)
            run.progress.expect(run.planned)
            asks = [prompts.combine_messages([g], title) for g in groups]
            summaries = [a.summary for a in self._ask_summaries(run, asks)]
        final = self._ask_summaries(run, [prompts.combine_messages(summaries, title)])[0]
        topics = _unique([*final.topics, *(t for a in partials for t in a.topics)])[:6]
        return _Answer(final.summary, tuple(topics))

    def _ask_summaries(
        self, run: _Run, conversations: list[list[prompts.Message]]
    ) -> list[_Answer]:
        return self._ask(run, conversations, prompts.SUMMARY_SCHEMA, _parse_summary)

    # ---- chapters ----------------------------------------------------------------------

    def _chapters(self, run: _Run, segments: Sequence[RetrievalSegment]) -> tuple[Chapter, ...]:
        groups = _chapter_groups(segments, self._chapter_s)
        texts = [" ".join(s.text for s in g)[: self.budget_chars] for g in groups]
        titles = self._ask(
            run, [prompts.chapter_messages(t) for t in texts], prompts.CHAPTER_SCHEMA, _parse_title
        )
        return tuple(
            Chapter(start_s=g[0].start_s, end_s=g[-1].end_s, title=t)
            for g, t in zip(groups, titles, strict=True)
        )

    # ---- asking, validating, retrying once ---------------------------------------------

    def _ask(
        self,
        run: _Run,
        conversations: list[list[prompts.Message]],
        schema: dict[str, Any],
        parse: Any,
    ) -> list[Any]:
        answers = self._backend.complete(conversations, schema, self._max_output, None)
        run.progress.add(len(conversations))
        results: list[Any] = [None] * len(conversations)
        retry: list[int] = []
        for i, raw in enumerate(answers):
            try:
                results[i] = parse(raw)
            except SummaryError:
                retry.append(i)
        if retry:
            # The same greedy request would give the same answer: sample, with more room.
            again = self._backend.complete(
                [conversations[i] for i in retry], schema, self._max_output * 2, RETRY_TEMPERATURE
            )
            for i, raw in zip(retry, again, strict=True):
                try:
                    results[i] = parse(raw)
                except SummaryError as exc:
                    raise SummaryError(
                        f"The model gave a malformed answer twice: {exc}", code="summary_invalid"
                    ) from exc
        return results


def _load(raw: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, TypeError) as exc:
        raise SummaryError(f"not JSON ({raw[:80]!r})") from exc
    if not isinstance(data, dict):
        raise SummaryError("not a JSON object")
    return data


def _clean(value: Any, low: int, high: int, what: str) -> str:
    if not isinstance(value, str):
        raise SummaryError(f"{what} is not text")
    text = " ".join(value.split())
    if not low <= len(text) <= high:
        raise SummaryError(f"{what} has {len(text)} characters, outside {low}-{high}")
    return text


def _parse_summary(raw: str) -> _Answer:
    data = _load(raw)
    summary = _clean(data.get("summary"), 40, MAX_SUMMARY_CHARS, "the summary")
    topics_raw = data.get("topics")
    if not isinstance(topics_raw, list) or not topics_raw:
        raise SummaryError("topics are missing")
    topics = _unique(_clean(t, 2, 48, "a topic") for t in topics_raw)
    return _Answer(summary, tuple(topics[:6]))


def _parse_title(raw: str) -> str:
    return _clean(_load(raw).get("title"), 3, 90, "the chapter title")


def _unique(items: Any) -> list[str]:
    seen: dict[str, str] = {}
    for item in items:
        seen.setdefault(item.strip().lower().rstrip("."), item.strip().rstrip("."))
    return list(seen.values())


def _pack(texts: Sequence[str], budget: int) -> list[str]:
    """Consecutive texts joined into parts of at most ``budget`` characters (a single longer
    text is cut)."""
    parts: list[str] = []
    current = ""
    for text in texts:
        while len(text) > budget:
            if current:
                parts.append(current)
                current = ""
            parts.append(text[:budget])
            text = text[budget:]
        if current and len(current) + 1 + len(text) > budget:
            parts.append(current)
            current = text
        else:
            current = f"{current} {text}".strip()
    if current:
        parts.append(current)
    return parts


def _chapter_groups(
    segments: Sequence[RetrievalSegment], chapter_s: float
) -> list[list[RetrievalSegment]]:
    """Consecutive segments grouped into chapters of about ``chapter_s`` (at most 12)."""
    duration = max(segments[-1].end_s - segments[0].start_s, 0.0)
    count = max(1, min(12, round(duration / chapter_s) or 1, len(segments)))
    size = -(-len(segments) // count)
    return [list(segments[i : i + size]) for i in range(0, len(segments), size)]
