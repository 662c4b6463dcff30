"""Readers for loosely specified feed values."""

from __future__ import annotations

import pytest

from tellmemore.catalog import (
    clean_text,
    html_to_text,
    parse_duration,
    parse_explicit,
    parse_length,
)


@pytest.mark.parametrize(
    ("raw", "seconds"),
    [
        ("3600", 3600), (" 42 ", 42), ("59:30", 3570), ("1:02:03", 3723), ("01:02:03", 3723),
        ("1:02:03.6", 3724), ("0:00", 0), ("90.5", 90),
        ("45 min", None), ("", None), (None, None), ("1:2:3:4", None), ("-5", None),
        ("10:75", None), ("nan", None), ("999999999", None), ("1:60:00", None),
    ],
)  # fmt: skip
def test_itunes_duration(raw: str | None, seconds: int | None) -> None:
    assert parse_duration(raw) == seconds


@pytest.mark.parametrize(
    ("raw", "value"),
    [("0", None), ("", None), (None, None), ("abc", None), ("-3", None), ("12345", 12345)],
)
def test_enclosure_length(raw: str | None, value: int | None) -> None:
    assert parse_length(raw) == value


@pytest.mark.parametrize(
    ("raw", "value"),
    [("yes", True), ("true", True), ("Explicit", True), ("no", False), ("false", False),
     ("clean", False), (True, True), (False, False), ("maybe", None), (None, None)],
)  # fmt: skip
def test_explicit(raw: object, value: bool | None) -> None:
    assert parse_explicit(raw) == value


def test_html_to_text_keeps_paragraphs_and_drops_markup() -> None:
    html = (
        "<h2>Notes</h2><p>One &amp; <b>two</b>&nbsp;three.</p><script>x()</script>"
        "<ul><li>first</li><li>second</li></ul><p>Line<br>break</p>"
    )
    assert html_to_text(html) == "Notes\n\nOne & two three.\n\nfirst\n\nsecond\n\nLine\nbreak"
    assert html_to_text("") is None
    assert html_to_text("<p> </p>") is None


def test_clean_text() -> None:
    assert clean_text("  A &amp; B\n\t C ") == "A & B C"
    assert clean_text("x" * 50, limit=10) == "x" * 10
    assert clean_text("   ") is None
