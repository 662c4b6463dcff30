"""The verification email: one link that proves the account's owner reads its address.

Sent after sign-up, after an email change and on request. It is sent after the response (a
slow or failing mail server never fails a sign-up): a lost email costs a "send it again".
"""

from __future__ import annotations

import html
import logging
from urllib.parse import quote

from tellmemore.notify.base import EmailError, EmailSender
from tellmemore.notify.message import EmailMessage
from tellmemore.notify.render import APP_NAME
from tellmemore.settings import EmailSettings

log = logging.getLogger(__name__)

# The frontend page that posts the token to ``POST /auth/verify-email``.
VERIFY_PATH = "/verify-email?token={token}"


def verification_link(settings: EmailSettings, token: str) -> str:
    return settings.public_base_url.rstrip("/") + VERIFY_PATH.format(token=quote(token, safe=""))


def render_verification(
    settings: EmailSettings, *, to: str, display_name: str | None, token: str, valid_hours: int
) -> EmailMessage:
    link = verification_link(settings, token)
    name = " ".join((display_name or "").split()) or None
    greeting = f"Hi {name}," if name else "Hi,"
    lines = [
        greeting,
        "",
        f"please confirm that this is your address for {APP_NAME}:",
        link,
        "",
        "Until you do, the podcasts you add are saved but not processed.",
        f"The link works for {valid_hours} hours. If you did not sign up, ignore this email.",
    ]
    body = (
        f"<p>{html.escape(greeting)}</p><p>please confirm that this is your address for "
        f'{APP_NAME}:</p><p><a href="{html.escape(link)}">Confirm my email</a></p>'
        "<p>Until you do, the podcasts you add are saved but not processed. The link works for "
        f"{valid_hours} hours. If you did not sign up, ignore this email.</p>"
    )
    return EmailMessage(
        to=to,
        to_name=name,
        subject=f"Confirm your email for {APP_NAME}",
        text="\n".join(lines) + "\n",
        html=body,
    )


async def send_verification(
    sender: EmailSender,
    settings: EmailSettings,
    *,
    to: str,
    display_name: str | None,
    token: str,
    valid_hours: int,
) -> bool:
    """Send the link; a failure is logged (the user can ask again), never raised."""
    message = render_verification(
        settings, to=to, display_name=display_name, token=token, valid_hours=valid_hours
    )
    try:
        await sender.send(message)
    except (EmailError, ValueError) as exc:
        log.warning("verification email not sent", extra={"reason": str(exc)})
        return False
    return True
