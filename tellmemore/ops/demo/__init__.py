"""The demo podcast that ships with the application, so a fresh checkout has something to show.

Its feed is a template: links point at whatever server hosts the demo files (``base_url``).
"""

from __future__ import annotations

from importlib import resources
from string import Template

DEMO_FEED_PATH = "demo/feed.xml"


def render_demo_feed(base_url: str) -> bytes:
    """The demo feed with every link under ``base_url`` (which must end with a slash)."""
    template = (
        resources.files("tellmemore.ops.demo").joinpath("feed.xml").read_text(encoding="utf-8")
    )
    return Template(template).substitute(base_url=base_url).encode()


__all__ = ["DEMO_FEED_PATH", "render_demo_feed"]
