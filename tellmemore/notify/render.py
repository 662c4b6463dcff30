"""The topic-playlist digest: one email telling a listener which new moments their topic
playlists picked up, with links back to each playlist.

Rendering is pure (no I/O) so the job that gathers new items and the tests share it; every
value that came from a feed or a user is escaped in the HTML and stripped of line breaks, since
titles from the open internet carry both markup and stray newlines.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote
from uuid import UUID

from tellmemore.notify.message import EmailMessage
from tellmemore.settings import EmailSettings

APP_NAME = "Tell Me More"
# Frontend routes the links point at, relative to ``EmailSettings.public_base_url``.
PLAYLIST_PATH = "/playlists/{id}"
EMAIL_SETTINGS_PATH = "/settings/notifications"

_EN_DASH = "\u2013"  # between the two times of a moment
_MAX_REASON_CHARS = 240
_MAX_SUBJECT_TITLE_CHARS = 60


@dataclass(frozen=True)
class DigestItem:
    """One moment added to a playlist: where it is and why it matched."""

    podcast_title: str
    episode_title: str
    start_s: float
    end_s: float
    reason: str = ""  # a snippet of the transcript (or summary) that matched the topic

    def __post_init__(self) -> None:
        if self.start_s < 0 or self.end_s < self.start_s:
            raise ValueError(f"bad moment bounds {self.start_s}..{self.end_s}")


@dataclass(frozen=True)
class DigestEntry:
    """A topic playlist and the items it gained since the last digest."""

    playlist_id: UUID | str
    playlist_title: str
    items: Sequence[DigestItem]


def format_timestamp(seconds: float) -> str:
    """``245`` -> ``04:05``, ``3725`` -> ``1:02:05`` (whole seconds, rounded down)."""
    hours, rest = divmod(max(0, int(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def digest_subject(entries: Sequence[DigestEntry]) -> str:
    """``3 new moments for “space exploration”``; with two playlists both are named, with more
    the first and a count."""
    entries = [e for e in entries if e.items]
    count = sum(len(e.items) for e in entries)
    noun = "moment" if count == 1 else "moments"
    titles = [f"“{_shorten(_clean(e.playlist_title), _MAX_SUBJECT_TITLE_CHARS)}”" for e in entries]
    if len(titles) == 1:
        topics = titles[0]
    elif len(titles) == 2:
        topics = f"{titles[0]} and {titles[1]}"
    else:
        others = len(titles) - 1
        topics = f"{titles[0]} and {others} other topics"
    return f"{count} new {noun} for {topics}"


def render_digest(
    settings: EmailSettings,
    *,
    to: str,
    display_name: str | None,
    entries: Sequence[DigestEntry],
    unsubscribe_url: str | None = None,
    max_items_per_playlist: int = 10,
) -> EmailMessage:
    """The digest email for one listener. Playlists with no new items are left out; a digest
    with none at all is a caller's mistake (``ValueError``). ``unsubscribe_url`` defaults to the
    email settings page; a one-click (tokenised) URL can be passed instead."""
    entries = [e for e in entries if e.items]
    if not entries:
        raise ValueError("a digest needs at least one playlist with new items")
    base = settings.public_base_url.rstrip("/")
    unsubscribe = unsubscribe_url or base + EMAIL_SETTINGS_PATH
    name = _clean(display_name or "") or None
    links = [base + PLAYLIST_PATH.format(id=quote(str(e.playlist_id), safe="")) for e in entries]
    subject = digest_subject(entries)
    total = sum(len(e.items) for e in entries)
    intro = (
        f"{total} new {'moment was' if total == 1 else 'moments were'} added to your "
        f"topic {'playlist' if len(entries) == 1 else 'playlists'} on {APP_NAME}."
    )
    return EmailMessage(
        to=to,
        to_name=name,
        subject=subject,
        text=_text(name, intro, entries, links, unsubscribe, max_items_per_playlist),
        html=_html(subject, name, intro, entries, links, unsubscribe, max_items_per_playlist),
        headers={"List-Unsubscribe": f"<{unsubscribe}>"},
    )


def _text(
    name: str | None,
    intro: str,
    entries: Sequence[DigestEntry],
    links: Sequence[str],
    unsubscribe: str,
    limit: int,
) -> str:
    lines = [f"Hi {name}," if name else "Hi,", "", intro, ""]
    for entry, link in zip(entries, links, strict=True):
        lines += [f"“{_clean(entry.playlist_title)}” ({len(entry.items)} new)", link, ""]
        for item in entry.items[:limit]:
            lines.append(f"- {_clean(item.podcast_title)}: {_clean(item.episode_title)}")
            lines.append(f"  [{_span(item)}]")
            if reason := _shorten(_clean(item.reason), _MAX_REASON_CHARS):
                lines.append(f"  “{reason}”")
            lines.append("")
        if (more := len(entry.items) - limit) > 0:
            lines += [f"  … and {more} more in the playlist.", ""]
    lines += [
        "--",
        f"You get this email because you follow topic playlists on {APP_NAME}.",
        f"Stop these emails: {unsubscribe}",
    ]
    return "\n".join(lines) + "\n"


def _html(
    subject: str,
    name: str | None,
    intro: str,
    entries: Sequence[DigestEntry],
    links: Sequence[str],
    unsubscribe: str,
    limit: int,
) -> str:
    e = html.escape
    parts = [
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(subject)}</title></head>",
        '<body style="font-family: sans-serif; line-height: 1.4; color: #222;">',
        f"<p>{'Hi ' + e(name) + ',' if name else 'Hi,'}</p>",
        f"<p>{e(intro)}</p>",
    ]
    for entry, link in zip(entries, links, strict=True):
        parts.append(
            f'<h2 style="font-size: 18px;"><a href="{e(link)}">“{e(_clean(entry.playlist_title))}”'
            f"</a> <small>({len(entry.items)} new)</small></h2>"
        )
        parts.append("<ul>")
        for item in entry.items[:limit]:
            reason = _shorten(_clean(item.reason), _MAX_REASON_CHARS)
            parts.append(
                f"<li><strong>{e(_clean(item.podcast_title))}</strong>: "
                f"{e(_clean(item.episode_title))} <span>[{_span(item)}]</span>"
                + (f"<br><em>“{e(reason)}”</em>" if reason else "")
                + "</li>"
            )
        parts.append("</ul>")
        if (more := len(entry.items) - limit) > 0:
            parts.append(f'<p><a href="{e(link)}">… and {more} more in the playlist</a></p>')
    parts += [
        '<hr><p style="font-size: 12px; color: #666;">',
        f"You get this email because you follow topic playlists on {APP_NAME}.",
        f'<a href="{e(unsubscribe)}">Stop these emails</a>.</p>',
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _span(item: DigestItem) -> str:
    return f"{format_timestamp(item.start_s)}{_EN_DASH}{format_timestamp(item.end_s)}"


def _clean(value: str) -> str:
    """One line, single spaces: feed titles often carry newlines and runs of whitespace."""
    return " ".join(value.split())


def _shorten(value: str, limit: int) -> str:
    if len(value) <= limit:
        return value
    cut = value[: limit - 1]
    cut = cut.rsplit(" ", 1)[0] if " " in cut else cut
    return cut.rstrip(" ,.;:") + "…"
