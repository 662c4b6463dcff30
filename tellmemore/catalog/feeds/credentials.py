"""Feed URLs that carry a subscriber's credentials, and how to show or log one without them.

Premium podcasts give each subscriber a URL of their own: a token in the query string, a
user name and password in the URL, or a secret path on a known membership host. Such a URL
is the subscription itself, so the catalog keeps the podcast private to whoever added it by
that URL (see ``tellmemore.catalog.visibility``) and never shows or logs the URL to anyone
else.

The rule (:func:`carries_credentials`), in order:

1. userinfo: ``https://user:pass@host/feed`` (any user name or password);
2. a query parameter named like a secret (``token``, ``auth``, ``key``, ``sig``, ``secret``,
   ``password``, ``session``, ... or a name ending in ``token``, ``key``, ``secret``,
   ``password``, ``signature``), whatever its value;
3. a query parameter naming an account (``uid``, ``user``, ``member``, ``subscriber``, ...) with
   a value of 8 characters or more;
4. any query value that looks like a generated token: 20+ characters of a token alphabet,
   at least two letters and two digits, 3+ bits of entropy per character, and not a
   lower-case slug (``my-show-episode-2024``);
5. a known premium host's pattern (:data:`PREMIUM_HOSTS`).

Mistakes in the safe direction are accepted: a public feed that looks private only becomes
private to its subscribers (another listener still shares it by adding the same URL).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from tellmemore.logs import redact_url

_SECRET_NAMES = frozenset(
    {
        "token", "auth", "authorization", "key", "sig", "signature", "secret", "password",
        "passwd", "pass", "pwd", "session", "sessionid", "sid", "jwt", "hmac", "otp", "email",
        "access_token", "api_key", "apikey", "access_key", "auth_token", "feed_token",
        "private_token", "subscription_key", "secret_key", "credential", "credentials",
    }
)  # fmt: skip
_SECRET_SUFFIXES = ("token", "_key", "-key", "secret", "password", "signature", "credential")
_ACCOUNT_NAMES = frozenset(
    {
        "uid", "user", "userid", "user_id", "username", "member", "member_id", "memberid",
        "subscriber", "subscriber_id", "customer", "customer_id", "account", "account_id",
    }
)  # fmt: skip
_ACCOUNT_MIN_CHARS = 8
_TOKEN_MIN_CHARS = 20
_TOKEN_ALPHABET = re.compile(r"[A-Za-z0-9._~+/=-]+")
_TOKEN_MIN_BITS_PER_CHAR = 3.0
# Lower-case words joined by dashes or underscores read as a slug someone typed, not a token.
_SLUG = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+){2,}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


@dataclass(frozen=True)
class PremiumHost:
    """A membership platform whose feed URLs are per subscriber.

    ``domain`` is the host or any subdomain of it ("" for any host); ``path`` a regular
    expression the path must match from its start; with ``query`` only URLs that have a query
    string count. ``secret_path`` says the path itself is the token, so logs show only the
    host."""

    domain: str
    path: str = ""
    query: bool = False
    secret_path: bool = False

    def matches(self, host: str, path: str, query: str) -> bool:
        if self.domain and host != self.domain and not host.endswith("." + self.domain):
            return False
        if self.query and not query:
            return False
        return re.match(self.path, path) is not None


PREMIUM_HOSTS: tuple[PremiumHost, ...] = (
    PremiumHost("patreon.com", r"/rss/"),  # patreon.com/rss/<creator>?auth=...
    PremiumHost("supercast.com", r"/feeds/", secret_path=True),  # <show>.supercast.com/feeds/<t>
    PremiumHost("supportingcast.fm", secret_path=True),
    PremiumHost("memberful.com", secret_path=True),  # feeds.memberful.com/...
    PremiumHost("", r"/rss/feed/", query=True),  # Memberful on a custom domain
    PremiumHost("substack.com", r"/feed/podcast/", query=True),  # api.substack.com private
    PremiumHost("substack.com", r"/feed/podcast/.*/private/", secret_path=True),
)


def _bits_per_char(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def _token_like(value: str) -> bool:
    if len(value) < _TOKEN_MIN_CHARS or not _TOKEN_ALPHABET.fullmatch(value):
        return False
    if _SLUG.fullmatch(value) and not _UUID.fullmatch(value):
        return False
    digits = sum(c.isdigit() for c in value)
    letters = sum(c.isalpha() for c in value)
    return digits >= 2 and letters >= 2 and _bits_per_char(value) >= _TOKEN_MIN_BITS_PER_CHAR


def _secret_param(name: str, value: str) -> bool:
    name = name.strip().lower()
    if not value:
        return False
    if name in _SECRET_NAMES or name.endswith(_SECRET_SUFFIXES):
        return True
    if name in _ACCOUNT_NAMES and len(value) >= _ACCOUNT_MIN_CHARS:
        return True
    return _token_like(value)


def _premium(host: str, path: str, query: str) -> PremiumHost | None:
    for rule in PREMIUM_HOSTS:
        if rule.matches(host, path or "/", query):
            return rule
    return None


def carries_credentials(url: str) -> bool:
    """Whether ``url`` is a subscriber's own URL (userinfo, a secret query parameter, a
    token-like query value, or a premium host's pattern): see the module's rule."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    if "@" in parts.netloc and parts.netloc.rpartition("@")[0]:
        return True
    host = (parts.hostname or "").lower().rstrip(".")
    if _premium(host, parts.path, parts.query) is not None:
        return True
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    return any(_secret_param(name, value) for name, value in pairs)


def without_userinfo(url: str) -> str:
    """``url`` with any ``user:password@`` removed (the rest as it was)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def redacted_url(url: str) -> str:
    """What a log line may say about a feed URL: scheme, host and path, without userinfo,
    query or fragment (:func:`tellmemore.logs.redact_url`); a premium host whose path is the
    token shows only ``/[redacted]``."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower().rstrip(".")
    except ValueError:
        return "[url]"
    rule = _premium(host, parts.path, parts.query)
    if rule is not None and rule.secret_path:
        return redact_url(urlunsplit(parts._replace(path="/[redacted]")))
    return redact_url(url.strip())
