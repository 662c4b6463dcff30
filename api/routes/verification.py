"""Email verification: following the mailed link, and asking for another.

A new account may sign in, search and subscribe at once; what it subscribes to is processed
only after its email is verified (``AuthSettings.require_email_verification``), so free
accounts made by the thousand cannot spend the GPUs.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, BackgroundTasks, status

from api.account_schemas import VerificationSentOut, VerifiedOut, VerifyEmailIn
from api.deps import CurrentUser, ServicesDep
from api.schemas import ERROR_RESPONSES
from tellmemore.accounts.types import User
from tellmemore.errors import CatalogError, ErrorKind
from tellmemore.notify import send_verification
from tellmemore.notify.verify_email import verification_link
from tellmemore.wiring import Services

log = logging.getLogger(__name__)
router = APIRouter(tags=["auth"], responses=ERROR_RESPONSES)

# Asking for links: a few per account per hour (each is an email we send for them).
_RESENDS_PER_HOUR = 5


def mail_verification_link(background: BackgroundTasks, services: Services, user: User) -> bool:
    """Schedule the link for ``user`` after the response; False when there is nothing to
    send (already verified, or verification is not required here)."""
    token = services.verifications.token_for(user)
    if token is None or not services.verifications.required:
        return False
    settings = services.settings
    if settings.environment == "development":
        # No mail server is needed to try the app locally; the link never reaches logs elsewhere.
        log.info("verification link for %s: %s", user.id,
                 verification_link(settings.email, token))  # fmt: skip
    background.add_task(
        send_verification,
        services.email,
        settings.email,
        to=user.email,
        display_name=user.display_name,
        token=token,
        valid_hours=max(1, settings.auth.email_verification_ttl_s // 3600),
    )
    return True


@router.post(
    "/auth/verify-email",
    response_model=VerifiedOut,
    summary="Verify an account's email with the token from the mailed link",
    description="Needs no session: the token is the proof. Following a link twice is fine. "
    "A link mailed to an address the account has since changed answers "
    "`verification_invalid`.",
)
async def verify_email(body: VerifyEmailIn, services: ServicesDep) -> VerifiedOut:
    verified = await services.verifications.confirm(body.token)
    return VerifiedOut(queued_episodes=verified.queued_episodes)


@router.post(
    "/me/verify-email",
    response_model=VerificationSentOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Mail me a new verification link",
)
async def resend_verification(
    principal: CurrentUser, services: ServicesDep, background: BackgroundTasks
) -> VerificationSentOut:
    if principal.user.email_verified_at is not None:
        raise CatalogError(
            "already_verified", "Your email is already verified.", ErrorKind.CONFLICT
        )
    decision = await services.limiter.hit(
        "verify-mail", f"user:{principal.user.id}", _RESENDS_PER_HOUR, window_s=3600
    )
    if not decision.allowed:
        raise CatalogError(
            "too_many_verification_emails",
            f"We sent you {_RESENDS_PER_HOUR} links this hour; use the newest one, or ask "
            "again later.",
            ErrorKind.RATE_LIMITED,
            details={"retry_after_s": decision.retry_after_s},
        )
    sent = mail_verification_link(background, services, principal.user)
    return VerificationSentOut(sent=sent, to=principal.user.email)
