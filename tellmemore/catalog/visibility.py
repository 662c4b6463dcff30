"""Who sees a podcast: everyone for a public one, only its subscribers for a private one.

A podcast is private when its feed URL carries a subscriber's credentials
(:func:`~tellmemore.catalog.feeds.credentials.carries_credentials`) or its first subscriber
said so. Every read of podcasts, episodes and passages goes through one predicate,
:func:`visible_sql`, so a catalog list, an episode, a playlist item and a search filter agree.
A private podcast that the viewer may not see answers 404 like one that does not exist.

Feed URLs shown to anyone never carry userinfo, and a public podcast's past URLs that look like
someone's credentials are left out; a private podcast's URLs are shown only to its subscribers,
who gave them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Final, Literal
from uuid import UUID

from tellmemore.catalog.feeds.credentials import carries_credentials, without_userinfo
from tellmemore.catalog.types import Podcast

EVERYONE: Final = "everyone"
# Who is reading: a user's id, None for an anonymous caller, or EVERYONE for the operator's
# own tools (the CLI, batch jobs), which see every podcast.
Viewer = UUID | Literal["everyone"] | None


def visible_sql(viewer: Viewer, podcast: str = "p") -> tuple[str, list[Any]]:
    """A SQL predicate (and its parameters) true for the rows of ``podcast`` (a ``podcasts``
    alias) that ``viewer`` may see."""
    if viewer == EVERYONE:
        return "TRUE", []
    if viewer is None:
        return f"NOT {podcast}.private", []
    return (
        f"(NOT {podcast}.private OR EXISTS (SELECT 1 FROM subscriptions vs"
        f" WHERE vs.podcast_id = {podcast}.id AND vs.user_id = %s))",
        [viewer],
    )


def shown(podcast: Podcast) -> Podcast:
    """The podcast as a reader may see it: no userinfo in a public podcast's URLs, and none of
    its past URLs that look like credentials. A private podcast is only ever shown to its
    subscribers, whose URLs these are."""
    if podcast.private:
        return podcast
    return replace(
        podcast,
        feed_url=without_userinfo(podcast.feed_url),
        previous_feed_urls=[
            without_userinfo(u) for u in podcast.previous_feed_urls if not carries_credentials(u)
        ],
    )
