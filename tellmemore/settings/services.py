"""Where the app's backing services are: PostgreSQL, Redis, object storage, LanceDB, email."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, Field, SecretStr, model_validator


class DatabaseSettings(BaseModel):
    """PostgreSQL connection and pool."""

    url: str = "postgresql://postgres@127.0.0.1:5432/tellmemore"
    pool_min_size: int = Field(default=1, ge=0)
    pool_max_size: int = Field(default=10, ge=1)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    # Caps one statement so a runaway query cannot hold a pooled connection forever.
    statement_timeout_ms: int = Field(default=30_000, ge=0)


class RedisSettings(BaseModel):
    """Redis: rate limiting now, caches later."""

    url: str = "redis://127.0.0.1:6379/0"
    # Every key we write starts with this, so GDPR deletion and tests can find all of them.
    key_prefix: str = "tmm:"
    socket_timeout_s: float = Field(default=0.5, gt=0)
    max_connections: int = Field(default=64, ge=1)


class S3Settings(BaseModel):
    """Object storage: audio (temporary), transcripts, and the LanceDB tables."""

    # None means AWS itself; locally a real S3-protocol server (SeaweedFS) on loopback.
    endpoint_url: str | None = "http://127.0.0.1:8333"
    region: str = "us-east-1"
    # Static keys, both or neither. Unset, boto3 and Lance use AWS's default credential chain
    # (IRSA / EKS Pod Identity, an instance profile, ~/.aws, AWS_* variables): production on an
    # IAM role sets none. The local SeaweedFS's keys come from .local/services.env, which
    # `tmm local up` writes; there are no built-in development keys to fall back to.
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    bucket: str = Field(default="tellmemore", pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    connect_timeout_s: float = Field(default=3.0, gt=0)
    read_timeout_s: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _keys_in_pairs(self) -> Self:
        """An empty value (an empty Secret entry) counts as unset; one key without the other
        is a mistake that would otherwise surface as a confusing signature error."""
        if self.endpoint_url == "":  # an empty Secret entry: AWS itself
            self.endpoint_url = None
        if self.access_key_id == "":
            self.access_key_id = None
        if self.secret_access_key is not None and not self.secret_access_key.get_secret_value():
            self.secret_access_key = None
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError(
                "set both TMM_S3__ACCESS_KEY_ID and TMM_S3__SECRET_ACCESS_KEY, or neither "
                "(to use AWS's default credential chain)"
            )
        return self

    def static_keys(self) -> tuple[str, str] | None:
        """The access key and secret when both are set; None means the default chain."""
        if self.access_key_id is None or self.secret_access_key is None:
            return None
        return self.access_key_id, self.secret_access_key.get_secret_value()


class LanceSettings(BaseModel):
    """Where the LanceDB tables live: under the S3 bucket, or a local folder."""

    # "s3" keeps them at s3://<bucket>/<prefix>; any other value is a local folder path.
    location: str = "s3"
    prefix: str = "lance"


class EmailSettings(BaseModel):
    """Outgoing email (topic playlist digests): SMTP by default, or a provider's HTTP API."""

    backend: Literal["smtp", "http", "disabled"] = "smtp"
    sender: str = "Tell Me More <digest@tellmemore.local>"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_timeout_s: float = Field(default=30.0, gt=0)
    # A SendGrid-v3-style JSON API: POST {http_url} with a bearer key.
    http_url: str = "https://api.sendgrid.com/v3/mail/send"
    http_api_key: SecretStr | None = None
    http_timeout_s: float = Field(default=30.0, gt=0)
    # At most one topic-playlist digest per user per this many seconds.
    digest_interval_s: float = Field(default=86_400.0, ge=0)
    # Where links in emails point (the frontend).
    public_base_url: str = "http://127.0.0.1:8000"
