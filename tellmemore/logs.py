"""Structured logs that never carry secrets.

JSON lines in production (one object per record, extra fields included), readable lines
elsewhere. A filter on the handler masks what must never be written whatever a caller passes:
email addresses (``j***@e***.com``), bearer/JWT/refresh tokens, values of password- or
token-like fields, and the credentials URLs carry (a premium feed's token in the query, a
``user:password@``): every URL is written as scheme, host and path only.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from tellmemore.settings import Settings

_EMAIL = re.compile(
    r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-])[A-Za-z0-9.-]*\.([A-Za-z]{2,})"
)
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
_SECRET_FIELD = re.compile(r"(?i)(password|passwd|secret|token|authorization)")
_SECRET_PAIR = re.compile(
    r"""(?ix)("?(?:password|passwd|secret|refresh_token|access_token|token)"?\s*[:=]\s*)
        ("[^"]*"|'[^']*'|[^\s,&}]+)"""
)
_URL = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^\s\"'<>]+")
# Record attributes that are not "extra" fields (uvicorn adds a colourised copy of its message).
_STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {
    "message",
    "asctime",
    "color_message",
}


def mask_email(email: str) -> str:
    """``jane.doe@example.com`` -> ``j***@e***.com``: enough to tell accounts apart in a log."""
    return _EMAIL.sub(lambda m: f"{m[1]}***@{m[2]}***.{m[3]}", email)


def redact_url(url: str) -> str:
    """``url`` as a log line may carry it: scheme, host and path, without userinfo, query or
    fragment (where premium feeds and signed links keep their credentials)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "[url]"
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _redact_match(match: re.Match[str]) -> str:
    url = match[0]
    kept = url.rstrip(".,;:!?)]")  # the sentence's punctuation, not the URL's
    return redact_url(kept) + url[len(kept) :]


def scrub(text: str) -> str:
    """Mask URLs' credentials, emails, tokens and ``password=...``-style pairs in free text."""
    text = _URL.sub(_redact_match, text)
    text = _JWT.sub("[token]", text)
    text = _BEARER.sub(r"\1[token]", text)
    text = _SECRET_PAIR.sub(r"\1[redacted]", text)
    return _EMAIL.sub(lambda m: f"{m[1]}***@{m[2]}***.{m[3]}", text)


def _scrub_value(key: str, value: Any) -> Any:
    if _SECRET_FIELD.search(key):
        return "[redacted]"
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: _scrub_value(str(k), v) for k, v in value.items()}
    return value


class RedactingFilter(logging.Filter):
    """Rewrites each record in place so no handler or formatter sees the secrets."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub(record.getMessage())
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD:
                setattr(record, key, _scrub_value(key, value))
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """A readable line for development: the message, then extra fields as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = " ".join(f"{k}={v}" for k, v in vars(record).items() if k not in _STANDARD)
        return f"{line} {extras}" if extras else line


def configure_logging(settings: Settings) -> None:
    """Install our handler on the root logger (idempotent)."""
    use_json = settings.log.json_lines
    if use_json is None:
        use_json = settings.environment == "production"
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    handler.set_name("tellmemore")
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if h.get_name() != "tellmemore"]
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    # The HTTP client logs every URL it requests (feeds with their tokens among them): redact
    # at the source too, so a handler someone else installs never sees them either.
    client = logging.getLogger("httpx")
    if not any(isinstance(f, RedactingFilter) for f in client.filters):
        client.addFilter(RedactingFilter())
