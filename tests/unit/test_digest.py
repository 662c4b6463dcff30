"""Rendering the topic-playlist digest: subject wording, time formatting, escaping, links."""

from __future__ import annotations

import re

import pytest

from tellmemore.notify import (
    DigestEntry,
    DigestItem,
    EmailMessage,
    digest_subject,
    format_timestamp,
    render_digest,
)
from tellmemore.settings import EmailSettings

SETTINGS = EmailSettings(public_base_url="https://tmm.example/app/")


def item(n: int = 1, **overrides: object) -> DigestItem:
    values: dict[str, object] = {
        "podcast_title": f"Podcast {n}",
        "episode_title": f"Episode {n}",
        "start_s": 60.0 * n,
        "end_s": 60.0 * n + 30,
        "reason": f"reason {n}",
    }
    values.update(overrides)
    return DigestItem(**values)  # type: ignore[arg-type]


def entry(title: str, count: int, playlist_id: str = "p1") -> DigestEntry:
    return DigestEntry(playlist_id, title, [item(n) for n in range(1, count + 1)])


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "00:00"),
        (5.9, "00:05"),
        (245, "04:05"),
        (3599.99, "59:59"),
        (3600, "1:00:00"),
        (3725, "1:02:05"),
        (36000 + 61, "10:01:01"),
    ],
)
def test_timestamps(seconds: float, shown: str) -> None:
    assert format_timestamp(seconds) == shown


def test_subject_counts_and_pluralizes() -> None:
    assert digest_subject([entry("space exploration", 3)]) == (
        "3 new moments for “space exploration”"
    )
    assert digest_subject([entry("gene editing", 1)]) == "1 new moment for “gene editing”"
    assert digest_subject([entry("a", 1), entry("b", 2)]) == "3 new moments for “a” and “b”"
    assert digest_subject([entry("a", 1), entry("b", 1), entry("c", 1)]) == (
        "3 new moments for “a” and 2 other topics"
    )
    # A playlist with nothing new neither counts nor gets named.
    assert digest_subject([entry("a", 2), entry("quiet", 0)]) == "2 new moments for “a”"


def test_feed_titles_cannot_break_the_subject() -> None:
    long_title = "the\nhistory of " + "very " * 30 + "long titles"
    subject = digest_subject([entry(long_title, 2)])
    assert "\n" not in subject
    assert subject.startswith("2 new moments for “the history of very")
    assert subject.endswith("…”")
    assert len(subject) < 100


def test_everything_from_feeds_is_escaped_in_html() -> None:
    hostile = '<script>alert("x")</script> & co'
    message = render_digest(
        SETTINGS,
        to="ada@example.com",
        display_name="<b>Ada</b>",
        entries=[
            DigestEntry(
                "p1",
                f"{hostile} topic",
                [item(podcast_title=hostile, episode_title=hostile, reason=hostile)],
            )
        ],
    )
    assert message.html is not None
    assert "<script>" not in message.html and "<b>Ada</b>" not in message.html
    escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co"
    assert (
        message.html.count(escaped) == 5
    )  # title (twice: <title> and h2), podcast, episode, reason
    assert "Hi &lt;b&gt;Ada&lt;/b&gt;," in message.html
    # The plain-text part is text: shown as written.
    assert f"- {hostile}: {hostile}" in message.text


def test_links_times_and_headers() -> None:
    message = render_digest(
        SETTINGS,
        to="ada@example.com",
        display_name=None,
        entries=[
            DigestEntry("a/b c", "space", [item(1, start_s=245, end_s=3725)]),
            entry("oceans", 1, playlist_id="p2"),
        ],
    )
    assert message.to == "ada@example.com" and message.to_name is None
    assert message.text.startswith("Hi,\n")
    # The base URL's trailing slash is not doubled; ids are quoted as one path segment.
    first = "https://tmm.example/app/playlists/a%2Fb%20c"
    second = "https://tmm.example/app/playlists/p2"
    for link in (first, second):
        assert f"\n{link}\n" in message.text
        assert message.html is not None and f'href="{link}"' in message.html
    assert "[04:05\u20131:02:05]" in message.text
    assert message.headers == {
        "List-Unsubscribe": "<https://tmm.example/app/settings/notifications>"
    }
    tokenised = render_digest(
        SETTINGS,
        to="ada@example.com",
        display_name="Ada",
        entries=[entry("space", 1)],
        unsubscribe_url="https://tmm.example/u/tok?x=1&y=2",
    )
    assert tokenised.headers["List-Unsubscribe"] == "<https://tmm.example/u/tok?x=1&y=2>"
    assert tokenised.html is not None
    assert 'href="https://tmm.example/u/tok?x=1&amp;y=2"' in tokenised.html


def test_long_playlists_are_cut_with_a_link_to_the_rest() -> None:
    message = render_digest(
        SETTINGS,
        to="ada@example.com",
        display_name="Ada",
        entries=[entry("space", 13)],
        max_items_per_playlist=10,
    )
    assert message.subject == "13 new moments for “space”"
    assert len(re.findall(r"^- Podcast \d+", message.text, re.MULTILINE)) == 10
    assert "… and 3 more in the playlist." in message.text
    assert message.html is not None and message.html.count("<li>") == 10


def test_long_reasons_are_shortened_at_a_word() -> None:
    reason = "word " * 100
    message = render_digest(
        SETTINGS,
        to="ada@example.com",
        display_name="Ada",
        entries=[DigestEntry("p", "space", [item(reason=reason)])],
    )
    [line] = [ln for ln in message.text.splitlines() if ln.startswith("  “word")]
    assert line.endswith("word…”")
    assert len(line) < 260


def test_an_empty_digest_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        render_digest(SETTINGS, to="a@example.com", display_name=None, entries=[entry("a", 0)])
    with pytest.raises(ValueError, match="bounds"):
        item(start_s=10, end_s=5)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"to": "Ada <ada@example.com>"},
        {"to": "ada@example.com\r\nBcc: eve@example.com"},
        {"subject": "hi\r\nBcc: eve@example.com"},
        {"headers": {"List-Unsubscribe": "<x>\r\nBcc: eve@example.com"}},
        {"headers": {"Bcc": "eve@example.com"}},
        {"headers": {"Bad Name": "x"}},
    ],
)
def test_messages_refuse_header_injection(kwargs: dict[str, object]) -> None:
    values: dict[str, object] = {"to": "ada@example.com", "subject": "hi", "text": "hello"}
    values.update(kwargs)
    with pytest.raises(ValueError, match=r"EmailMessage|header"):
        EmailMessage(**values)  # type: ignore[arg-type]


def test_message_headers_are_a_read_only_copy() -> None:
    headers = {"List-Unsubscribe": "<https://x.example/u>"}
    message = EmailMessage("ada@example.com", "hi", "hello", headers=headers)
    headers["List-Unsubscribe"] = "<changed>"
    assert message.headers["List-Unsubscribe"] == "<https://x.example/u>"
    with pytest.raises(TypeError):
        message.headers["X"] = "y"  # type: ignore[index]
