"""Request and response bodies for accounts, sessions and subscriptions."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, EmailStr, Field, model_validator

from api.schemas import In, Out

# Bounds on what we accept at all; the password *rules* (min length, not the email) are the
# core's, so they give their own error codes.
Password = Field(min_length=1, max_length=1024)

RefreshCookie = Field(
    default=False,
    description="Browsers: set the refresh token as the HttpOnly cookie `tmm_refresh` (Path=/auth, "
    "SameSite=Strict) instead of returning it; the response's `refresh_token` is then null.",
)


class RegisterIn(In):
    email: EmailStr = Field(max_length=254)
    password: str = Password
    display_name: str | None = Field(default=None, min_length=1, max_length=100)
    refresh_cookie: bool = RefreshCookie


class LoginIn(In):
    email: EmailStr = Field(max_length=254)
    password: str = Password
    refresh_cookie: bool = RefreshCookie


class RefreshIn(In):
    refresh_token: str | None = Field(default=None, min_length=20, max_length=200)
    refresh_cookie: bool = Field(
        default=False,
        description="Read the refresh token from the `tmm_refresh` cookie (the request must send "
        "the header `X-TMM-CSRF: 1`) and set the new one there.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> RefreshIn:
        if (self.refresh_token is None) == (not self.refresh_cookie):
            raise ValueError("send either refresh_token or refresh_cookie: true, not both")
        return self


class TokenOut(BaseModel):
    token_type: str = "bearer"  # noqa: S105 (the OAuth token type, not a secret)
    access_token: str
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_token: str | None = Field(
        description="Single use: each refresh returns a new one. Null when it was set as the "
        "`tmm_refresh` cookie (`refresh_cookie: true`)."
    )
    refresh_expires_at: datetime
    session_id: UUID


class UserOut(Out):
    id: UUID
    email: str
    display_name: str | None
    created_at: datetime
    updated_at: datetime
    # Null until the link mailed to ``email`` is followed; until then nothing the account
    # subscribes to is processed (where the server requires verification).
    email_verified_at: datetime | None = None


class RegisterOut(BaseModel):
    user: UserOut
    tokens: TokenOut


class ProfileIn(In):
    """Fields to change; send ``display_name: null`` to clear it. Changing the email needs
    ``current_password``."""

    display_name: str | None = Field(default=None, min_length=1, max_length=100)
    email: EmailStr | None = Field(default=None, max_length=254)
    current_password: str | None = Field(default=None, min_length=1, max_length=1024)


class PasswordChangeIn(In):
    current_password: str = Password
    new_password: str = Password


class DeleteAccountIn(In):
    password: str = Password


class SessionOut(Out):
    id: UUID
    user_agent: str | None
    created_at: datetime
    last_used_at: datetime
    revoked_at: datetime | None
    revoked_reason: str | None
    current: bool = False


class SubscriptionOut(Out):
    podcast_id: UUID
    title: str
    feed_url: str
    image_url: str | None
    created_at: datetime


class SubscribedOut(BaseModel):
    podcast_id: UUID
    subscribed: bool
    created: bool = Field(description="False when the subscription already existed.")


class VerifyEmailIn(In):
    token: str = Field(min_length=20, max_length=2000)


class VerifiedOut(BaseModel):
    verified: bool = True
    # Episodes of the account's subscriptions queued now that it is verified.
    queued_episodes: int


class VerificationSentOut(BaseModel):
    # False when nothing was sent: this server does not require verification.
    sent: bool
    to: str
