"""Which part of a passage matched, for display and for the deep link.

A passage is 45-120 s of speech; a listener wants the sentence that matched, marked, and a time
to jump to. Sentences are scored by the query's words (light stemming, stop words ignored); when
no word matches (a purely semantic hit) the caller passes each sentence's similarity to the
query instead. The deep-link time is interpolated by character position, since a passage keeps
its start and end times but not per-word times.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from tellmemore.search.types import Highlight

_APOSTROPHES = "'\u2019"  # straight and typographic
# Hyphens split words, as in the full-text index's tokenizer: "ill-disposed" is "ill" + "disposed".
_WORD = re.compile(rf"[\w{_APOSTROPHES}]+", re.UNICODE)
# A sentence ends at . ! ? (optionally followed by a closing quote) before whitespace.
_SENTENCE_END = re.compile("(?<=[.!?])([\"'\u201d\u2019)]?)\\s+")
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "my",
        "no",
        "not",
        "of",
        "on",
        "or",
        "our",
        "so",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
        "about",
        "just",
        "like",
        "really",
        "very",
    ]
)
_SUFFIXES = ("ations", "ation", "ings", "ing", "ies", "ied", "es", "ed", "ly", "s")


def stem(word: str) -> str:
    """A crude suffix strip, enough for "explorations" to find "exploring"."""
    word = word.lower().strip(_APOSTROPHES)
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def query_terms(query: str) -> frozenset[str]:
    """The query's content words, stemmed."""
    return frozenset(stem(w) for w in _WORD.findall(query) if w.lower() not in _STOP and len(w) > 1)


@dataclass(frozen=True)
class Sentence:
    start: int  # character offsets in the passage
    end: int


def sentences(text: str) -> list[Sentence]:
    result: list[Sentence] = []
    begin = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.start() + len(match.group(1))  # a closing quote ends the sentence
        if end > begin:
            result.append(Sentence(begin, end))
        begin = match.end()
    if begin < len(text):
        result.append(Sentence(begin, len(text.rstrip())))
    return result or [Sentence(0, len(text))]


def term_marks(text: str, terms: frozenset[str], start: int, end: int) -> list[tuple[int, int]]:
    """Offsets of the words in ``text[start:end]`` whose stem is a query term."""
    return [
        (m.start(), m.end())  # with pos/endpos, offsets are already in ``text``
        for m in _WORD.finditer(text, start, end)
        if stem(m.group()) in terms
    ]


def highlight(
    text: str,
    query: str,
    *,
    start_s: float,
    end_s: float,
    sentence_scores: Sequence[float] | None = None,
    max_chars: int = 320,
) -> Highlight:
    """The best sentence (most distinct query words, else the highest ``sentence_scores``)
    with neighbours added while they fit in ``max_chars``, its marks, and its start time."""
    parts = sentences(text)
    terms = query_terms(query)
    marks_per = [term_marks(text, terms, s.start, s.end) for s in parts]
    lexical = [len({stem(text[a:b]) for a, b in marks}) for marks in marks_per]
    if max(lexical, default=0) > 0:
        best = max(range(len(parts)), key=lambda i: (lexical[i], -i))
    elif sentence_scores is not None and len(sentence_scores) == len(parts):
        best = max(range(len(parts)), key=lambda i: (sentence_scores[i], -i))
    else:
        best = 0
    lo = hi = best
    while True:  # grow the window around the best sentence, preferring what follows it
        if hi + 1 < len(parts) and parts[hi + 1].end - parts[lo].start <= max_chars:
            hi += 1
        elif lo > 0 and parts[hi].end - parts[lo - 1].start <= max_chars:
            lo -= 1
        else:
            break
    begin, finish = parts[lo].start, parts[hi].end
    anchor = parts[best].start  # where the listener should start
    prefix = suffix = ""
    if finish - begin > max_chars:
        # One very long sentence (transcripts without punctuation): a window of it around
        # the first match, cut at word boundaries.
        first = marks_per[best][0][0] if marks_per[best] else parts[best].start
        anchor = _word_start(text, max(begin, first - max_chars // 3), begin)
        begin = anchor
        finish = min(finish, begin + max_chars)
        if finish < parts[hi].end:
            cut = text.rfind(" ", begin, finish)
            finish = cut if cut > begin else finish
            suffix = "…"
        prefix = "…" if begin > parts[lo].start else ""
    snippet = prefix + text[begin:finish] + suffix
    marks = tuple(
        (a - begin + len(prefix), b - begin + len(prefix))
        for i in range(lo, hi + 1)
        for a, b in marks_per[i]
        if a >= begin and b <= finish
    )
    fraction = anchor / max(len(text), 1)
    offset = start_s + fraction * max(end_s - start_s, 0.0)
    return Highlight(snippet, marks, round(offset, 1))


def _word_start(text: str, position: int, floor: int) -> int:
    """``position`` moved back to the start of the word it falls in (not before ``floor``)."""
    while position > floor and not text[position - 1].isspace():
        position -= 1
    return position


def marked_html(h: Highlight) -> str:
    """The snippet as HTML with ``<mark>`` around the hits, everything else escaped."""
    from html import escape

    out: list[str] = []
    cursor = 0
    for a, b in h.marks:
        out.append(escape(h.snippet[cursor:a]))
        out.append(f"<mark>{escape(h.snippet[a:b])}</mark>")
        cursor = b
    out.append(escape(h.snippet[cursor:]))
    return "".join(out)
