"""URL rules: which URLs we will fetch, how two spellings of one feed compare, and how an
enclosure URL becomes a stable episode identity.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import SplitResult, urlsplit, urlunsplit

from tellmemore.errors import FeedError

ALLOWED_SCHEMES = frozenset({"http", "https"})
MAX_URL_LENGTH = 2048

# Analytics services that wrap enclosure URLs as a path prefix. Publishers add, swap and drop
# them over a show's life, so identity ignores them; the rest of the URL is the real file.
_TRACKING_PREFIXES = re.compile(
    r"""^(?:
        (?:www\.)?podtrac\.com/pts/redirect\.[a-z0-9]+/
      | dts\.podtrac\.com/redirect\.[a-z0-9]+/
      | chtbl\.com/track/[^/]+/
      | chrt\.fm/track/[^/]+/
      | pdst\.fm/e/
      | op3\.dev/e(?:,[^/]*)?/
      | pfx\.vpixl\.com/[^/]+/
      | arttrk\.com/p/[^/]+/
      | mgln\.ai/e/[^/]+/
      | verifi\.podscribe\.com/rss/p/
      | prfx\.byspotify\.com/e/
      | prefix\.up\.audio/s/
      | growx\.podkite\.com/[^/]+/[^/]+/
    )""",
    re.VERBOSE | re.IGNORECASE,
)


def web_url(value: object) -> str | None:
    """A URL a feed gives us to store and show (enclosure, link, image, transcript, chapters),
    kept only if it is an absolute http(s) URL with a host. Anything else (``javascript:``,
    ``data:``, ``file:``, a relative path, garbage) is dropped here, so it never reaches a
    player's ``src``, a link, an export or a fetch. Relative URLs are not resolved: an
    episode's identity must not depend on the address the feed was fetched from."""
    if not isinstance(value, str) or not value.strip():
        return None
    url = value.strip()
    if len(url) > MAX_URL_LENGTH or any(ord(c) < 32 or ord(c) == 127 for c in url):
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a malformed port)
    except ValueError:
        return None
    if parts.scheme.lower() not in ALLOWED_SCHEMES or not parts.hostname:
        return None
    return url


def parse_http_url(url: str) -> SplitResult:
    """Split ``url`` and insist it is an absolute http(s) URL with a host."""
    url = url.strip()
    if not url:
        raise FeedError("url_invalid", "The URL is empty.")
    if len(url) > MAX_URL_LENGTH:
        raise FeedError("url_invalid", f"The URL is longer than {MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a malformed port
    except ValueError as exc:
        raise FeedError("url_invalid", f"The URL cannot be parsed: {exc}.") from exc
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        shown = scheme or "no scheme"
        raise FeedError(
            "url_scheme_not_allowed",
            f"Only http and https URLs can be fetched, not {shown}.",
            details={"scheme": scheme},
        )
    if not parts.hostname:
        raise FeedError("url_invalid", "The URL has no host name.")
    if port == 0:
        raise FeedError("url_invalid", "The URL names port 0.")
    return parts


def url_key(url: str) -> str:
    """A comparison key for feed URLs: scheme and host case-folded, default port and fragment
    dropped. Path and query are kept because feeds really differ by them (``?format=rss``), and
    so is userinfo, exactly: two subscribers' credentials must never fold into one feed."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    port = parts.port
    default = {"http": 80, "https": 443}.get(scheme)
    netloc = host if port in (None, default) else f"{host}:{port}"
    userinfo = parts.netloc.rpartition("@")[0]
    if userinfo:
        netloc = f"{userinfo}@{netloc}"
    path = parts.path or "/"
    return urlunsplit((scheme, netloc, path, parts.query, ""))


def enclosure_identity(url: str) -> str:
    """A stable identity for an episode from its enclosure URL.

    Query strings carry signed tokens and tracking ids that change per fetch, and analytics
    prefixes come and go, so neither may decide identity. What remains (host and path of the
    real file) is hashed to keep keys short.
    """
    parts = urlsplit(url.strip())
    rest = f"{(parts.hostname or '').lower()}{parts.path}"
    while True:
        stripped = _TRACKING_PREFIXES.sub("", rest, count=1)
        if stripped == rest:
            break
        rest = stripped
    rest = rest.lstrip("/")
    return "enc:" + hashlib.sha256(rest.encode()).hexdigest()[:32]
