"""Sending through a provider's HTTP API in SendGrid's v3 format (``POST /v3/mail/send``).

Several providers accept this JSON shape. 2xx means accepted; 429 and 5xx may pass later (the
provider's ``Retry-After`` is carried in the error); any other answer is a refusal that will
not change, reported with the provider's own message.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from tellmemore.clock import Clock, utc_now
from tellmemore.notify.base import EmailError, sender_address
from tellmemore.notify.message import EmailMessage
from tellmemore.settings import EmailSettings

_MAX_ERROR_CHARS = 500
_RETRYABLE_STATUS = frozenset({408, 429})


def make_email_http_client(settings: EmailSettings) -> httpx.AsyncClient:
    """A client to share between sends (the caller closes it)."""
    return httpx.AsyncClient(timeout=settings.http_timeout_s, trust_env=False)


class HttpApiSender:
    """Posts each message to ``settings.http_url`` with ``Authorization: Bearer <key>``."""

    def __init__(
        self,
        settings: EmailSettings,
        http: httpx.AsyncClient | None = None,
        *,
        clock: Clock = utc_now,
    ) -> None:
        if settings.http_api_key is None or not settings.http_api_key.get_secret_value():
            raise EmailError(
                "email_not_configured",
                "email.backend=http needs email.http_api_key (TMM_EMAIL__HTTP_API_KEY).",
                False,
            )
        self._settings = settings
        self._http = http
        self._clock = clock
        self._from = _address(*sender_address(settings))

    async def send(self, message: EmailMessage) -> None:
        body = sendgrid_payload(message, self._from)
        key = self._settings.http_api_key.get_secret_value() if self._settings.http_api_key else ""
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        content = json.dumps(body).encode()
        try:
            if self._http is not None:
                response = await self._post(self._http, content, headers)
            else:
                async with make_email_http_client(self._settings) as http:
                    response = await self._post(http, content, headers)
        except httpx.TimeoutException as exc:
            raise EmailError(
                "email_timeout", "The email provider did not answer in time.", True
            ) from exc
        except httpx.HTTPError as exc:
            raise EmailError(
                "email_unreachable",
                f"The email provider could not be reached ({type(exc).__name__}).",
                True,
            ) from exc
        _check(response, self._clock())

    async def _post(
        self, http: httpx.AsyncClient, content: bytes, headers: dict[str, str]
    ) -> httpx.Response:
        return await http.post(
            self._settings.http_url,
            content=content,
            headers=headers,
            timeout=self._settings.http_timeout_s,
        )


def sendgrid_payload(message: EmailMessage, sender: dict[str, str]) -> dict[str, Any]:
    """The v3 ``mail/send`` body: one personalization, text before HTML (the API insists)."""
    content = [{"type": "text/plain", "value": message.text}]
    if message.html is not None:
        content.append({"type": "text/html", "value": message.html})
    body: dict[str, Any] = {
        "personalizations": [{"to": [_address(message.to_name, message.to)]}],
        "from": sender,
        "subject": message.subject,
        "content": content,
    }
    if message.headers:
        body["headers"] = dict(message.headers)
    return body


def _address(name: str | None, email: str) -> dict[str, str]:
    return {"email": email, "name": name} if name else {"email": email}


def _check(response: httpx.Response, now: datetime) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    reason = _provider_message(response)
    details = {"upstream_status": status}
    if status in _RETRYABLE_STATUS or status >= 500:
        retry_after = _retry_after(response.headers.get("Retry-After"), now)
        code = "email_throttled" if status == 429 else "email_provider_failed"
        hint = f"; try again in about {retry_after} seconds" if retry_after is not None else ""
        raise EmailError(
            code,
            f"The email provider answered HTTP {status} ({reason}){hint}.",
            True,
            retry_after_s=retry_after,
            details=details,
        )
    raise EmailError(
        "email_provider_rejected",
        f"The email provider refused the message (HTTP {status}): {reason}",
        False,
        details=details,
    )


def _provider_message(response: httpx.Response) -> str:
    """SendGrid's ``{"errors": [{"message": ...}]}`` joined, else the start of the body."""
    text = ""
    try:
        payload = json.loads(response.content)
        errors = payload.get("errors") if isinstance(payload, dict) else None
        if isinstance(errors, list):
            text = "; ".join(
                str(e["message"]) for e in errors if isinstance(e, dict) and e.get("message")
            )
    except ValueError:
        pass
    if not text:
        text = response.content[:_MAX_ERROR_CHARS].decode("utf-8", "replace")
    text = " ".join(text.split()) or response.reason_phrase or "no reason given"
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 1] + "…"


def _retry_after(value: str | None, now: datetime) -> int | None:
    """``Retry-After`` in seconds, whether sent as a number or as an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0, math.ceil((when - now).total_seconds()))
