"""The publisher's chapters document (Podcasting 2.0 JSON chapters), read defensively."""

from __future__ import annotations

import json

import pytest

from models.types import Chapter
from tellmemore.processing import parse_chapters
from tellmemore.processing.chapters import MAX_CHAPTERS, MAX_TITLE_CHARS, ChaptersError

pytestmark = pytest.mark.unit


def doc(*chapters: object) -> bytes:
    return json.dumps({"version": "1.2.0", "chapters": list(chapters)}).encode()


def test_each_chapter_ends_where_the_next_starts_and_the_last_at_the_episode_end() -> None:
    body = doc({"startTime": 0, "title": "Intro"}, {"startTime": 95.5, "title": "Interview"})
    assert parse_chapters(body, 600.0) == (
        Chapter(0.0, 95.5, "Intro"),
        Chapter(95.5, 600.0, "Interview"),
    )


def test_an_own_end_time_is_kept_but_never_past_the_next_start() -> None:
    body = doc(
        {"startTime": 0, "endTime": 30, "title": "Cold open"},
        {"startTime": 60, "endTime": 9999, "title": "Main"},
        {"startTime": 120, "title": "Outro"},
    )
    assert parse_chapters(body, 150.0) == (
        Chapter(0.0, 30.0, "Cold open"),
        Chapter(60.0, 120.0, "Main"),
        Chapter(120.0, 150.0, "Outro"),
    )


def test_order_hidden_broken_and_late_chapters() -> None:
    body = doc(
        {"startTime": 50, "title": "Second"},
        {"startTime": 0, "title": "First"},
        {"startTime": 20, "title": "Hidden", "toc": False},
        {"startTime": "10", "title": "Start as text"},
        {"startTime": -5, "title": "Negative"},
        {"startTime": True, "title": "Boolean"},
        {"startTime": 30},
        {"startTime": 40, "title": "   "},
        {"startTime": 0, "title": "Duplicate start"},
        {"startTime": 700, "title": "After the end"},
        "not an object",
    )
    assert [c.title for c in parse_chapters(body, 600.0)] == ["First", "Second"]


def test_titles_are_cleaned_and_bounded() -> None:
    body = doc({"startTime": 0, "title": "A\u0000 \u001b[31mred\n\ttitle " + "x" * 500})
    (chapter,) = parse_chapters(body, None)
    assert chapter.title.startswith("A [31mred title x")
    assert len(chapter.title) == MAX_TITLE_CHARS
    assert chapter.end_s == 0.0  # no next chapter and no known length


def test_the_count_is_capped() -> None:
    body = doc(*({"startTime": i, "title": f"c{i}"} for i in range(MAX_CHAPTERS * 3)))
    assert len(parse_chapters(body, None)) == MAX_CHAPTERS


@pytest.mark.parametrize(
    "body",
    [b"", b"<html>", b"[]", b'{"chapters": {}}', b'{"version": "1.2.0"}', b"\xff\xfe"],
)
def test_a_document_that_is_not_chapters_is_refused(body: bytes) -> None:
    with pytest.raises(ChaptersError):
        parse_chapters(body, 60.0)
