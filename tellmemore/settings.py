"""The one settings object.

Everything configurable lives here, grouped by the part it configures. It is built once by the
entry point (CLI, API server, tests) with :func:`load_settings` and passed down explicitly, so
nothing reads the environment at import time and tests can build as many variants as they need.

Environment variables use the ``TMM_`` prefix and ``__`` between levels, e.g.
``TMM_DATABASE__URL`` or ``TMM_FEEDS__ALLOW_PRIVATE_HOSTS=true``; an optional ``.env`` file in the
working directory is read too.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, Field, HttpUrl, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The models' settings live with the models (which import nothing of ours); they are part of
# this one object, under ``models``.
from models.settings import ModelSettings

Environment = Literal["development", "test", "production"]


class DatabaseSettings(BaseModel):
    """PostgreSQL connection and pool."""

    url: str = "postgresql://postgres@127.0.0.1:5432/tellmemore"
    pool_min_size: int = Field(default=1, ge=0)
    pool_max_size: int = Field(default=10, ge=1)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    # Caps one statement so a runaway query cannot hold a pooled connection forever.
    statement_timeout_ms: int = Field(default=30_000, ge=0)


class FeedSettings(BaseModel):
    """Fetching RSS/Atom feeds and OPML-listed feeds from the open internet."""

    max_bytes: int = Field(default=25 * 2**20, gt=0)
    connect_timeout_s: float = Field(default=5.0, gt=0)
    read_timeout_s: float = Field(default=20.0, gt=0)
    # Wall-clock bound on one whole fetch, redirects included (a slow-drip server is cut off).
    total_timeout_s: float = Field(default=45.0, gt=0)
    max_redirects: int = Field(default=5, ge=0, le=20)
    # itunes:new-feed-url hops followed in one fetch; the chain is recorded on the podcast.
    max_feed_moves: int = Field(default=3, ge=0, le=10)
    user_agent: str = "TellMeMore/0.1 (+podcast playlists)"
    # Refuse URLs that resolve to loopback, private, link-local or reserved addresses (SSRF).
    # Tests and the local demo serve feeds on 127.0.0.1 and turn this on.
    allow_private_hosts: bool = False
    refresh_concurrency: int = Field(default=8, ge=1, le=64)


class AppleSettings(BaseModel):
    """The iTunes Search API used for podcast discovery."""

    base_url: HttpUrl = HttpUrl("https://itunes.apple.com")
    country: str = Field(default="US", pattern=r"^[A-Za-z]{2}$")
    timeout_s: float = Field(default=10.0, gt=0)
    cache_ttl_s: int = Field(default=3600, ge=0)
    cache_max_entries: int = Field(default=2048, ge=1)
    # Apple allows roughly 20 calls a minute and answers 403 beyond; we stop before that.
    calls_per_minute: int = Field(default=20, ge=1)


class ApiSettings(BaseModel):
    """The HTTP API."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # Browser origins allowed to call the API (the frontend lives on another origin).
    cors_origins: list[str] = Field(default_factory=list)
    # JSON request bodies larger than this are refused with 413 before they are read.
    max_body_bytes: int = Field(default=64 * 1024, gt=0)
    # Proxies (addresses, networks or "*") whose X-Forwarded-For is believed (api/proxies.py),
    # so rate limits and logs see the client's address rather than the load balancer's.
    forwarded_allow_ips: str = "127.0.0.1"
    default_page_size: int = Field(default=20, ge=1)
    max_page_size: int = Field(default=100, ge=1)
    opml_max_bytes: int = Field(default=2 * 2**20, gt=0)
    opml_max_entries: int = Field(default=500, ge=1)
    # /metrics answers only `Authorization: Bearer <token>` when set; unset, it is open in
    # development and tests and absent in production (api/routes/metrics.py says why).
    metrics_token: SecretStr | None = None
    # /ready reuses its answer this long, so probing it in a loop costs one query per period.
    ready_cache_s: float = Field(default=1.0, ge=0)


_PLACEHOLDER_SECRETS = frozenset({"changeme", "change-me", "secret", "changethis", "placeholder"})


class AuthSettings(BaseModel):
    """Accounts: password hashing and tokens."""

    # HMAC key for access tokens. Required outside development; at least 32 characters.
    jwt_secret: SecretStr | None = None
    jwt_issuer: str = "tellmemore"
    access_token_ttl_s: int = Field(default=15 * 60, ge=30)
    refresh_token_ttl_s: int = Field(default=30 * 24 * 3600, ge=60)
    # bcrypt cost; tests may lower it, production keeps 12 or more.
    bcrypt_rounds: int = Field(default=12, ge=4, le=16)
    password_min_length: int = Field(default=10, ge=8)
    password_max_length: int = Field(default=128, le=1024)
    # Per-account login throttling (accounts/throttle.py): free failures, then a lock that
    # doubles per failure up to the max; login_failure_memory_s without failures resets it.
    login_free_failures: int = Field(default=5, ge=1)
    login_backoff_s: float = Field(default=2.0, gt=0)
    login_backoff_max_s: float = Field(default=900.0, gt=0)
    login_failure_memory_s: float = Field(default=3600.0, gt=0)


class RedisSettings(BaseModel):
    """Redis: rate limiting now, caches later."""

    url: str = "redis://127.0.0.1:6379/0"
    # Every key we write starts with this, so GDPR deletion and tests can find all of them.
    key_prefix: str = "tmm:"
    socket_timeout_s: float = Field(default=0.5, gt=0)
    max_connections: int = Field(default=64, ge=1)


class RateLimitSettings(BaseModel):
    """Requests per minute, enforced in Redis so the limit holds across API processes."""

    enabled: bool = True
    per_user_per_minute: int = Field(default=100, ge=1)
    per_ip_per_minute: int = Field(default=100, ge=1)  # anonymous requests
    auth_per_minute: int = Field(default=10, ge=1)  # login/register/refresh, per client IP
    # The window the limits count over; "per minute" in production, shorter in tests.
    window_s: float = Field(default=60.0, gt=0)


class QuotaSettings(BaseModel):
    """What one account may make the server spend per UTC day (accounts/quotas.py)."""

    enabled: bool = True
    feeds_per_day: int = Field(default=50, ge=1)  # feeds added or imported (OPML entries)
    episodes_per_day: int = Field(default=60, ge=0)  # episodes queued by subscribing


class LogSettings(BaseModel):
    """Logging: JSON lines in production, readable lines elsewhere (unless told)."""

    json_lines: bool | None = None


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


class ProcessingSettings(BaseModel):
    """Episode processing: what gets queued, how jobs retry, and download limits."""

    # Subscribing queues a podcast's newest N unprocessed episodes; refreshing queues new ones.
    enqueue_newest: int = Field(default=3, ge=0, le=1000)
    enqueue_on_refresh: bool = True
    max_attempts: int = Field(default=3, ge=1, le=50)
    backoff_base_s: float = Field(default=30.0, ge=0)
    backoff_max_s: float = Field(default=3600.0, ge=0)
    # A job's lease (visibility timeout), renewed every third of it while the worker lives.
    lease_s: float = Field(default=300.0, ge=2)
    poll_s: float = Field(default=10.0, gt=0)  # fallback poll when no NOTIFY arrives
    concurrency: int = Field(default=2, ge=1, le=64)  # episodes at once per worker
    worker_enabled: bool = True
    # How often a processor replica publishes the queue's depth and dead letters as metrics
    # (Ray drops a gauge not re-set within two of its 10 s export intervals).
    metrics_interval_s: float = Field(default=5.0, gt=0, le=15)
    # Enclosure downloads.
    max_audio_bytes: int = Field(default=1024 * 2**20, gt=0)
    download_timeout_s: float = Field(default=900.0, gt=0)
    # Prefer the publisher's transcript (podcast:transcript) over speech recognition.
    prefer_publisher_transcript: bool = True
    transcribe_parallel_chunks: int = Field(default=4, ge=1, le=64)
    # The longest one audio chunk may wait for its transcript, queueing for a replica included.
    # Per chunk, not per attempt, so a long episode is never failed for being long; when no
    # transcriber can be placed (no GPU capacity) the attempt fails `transcriber_unavailable`
    # and the queue retries it with backoff, instead of the episode waiting forever.
    transcribe_deadline_s: float = Field(default=900.0, gt=0)


class BackupSettings(BaseModel):
    """Backups (``tmm backup``): where in the bucket, and how long they are kept."""

    prefix: str = "backups"
    retention_days: float = Field(default=7.0, gt=0)
    # Copy each LanceDB table (at the tagged version) beside the dump: tags alone cannot bring
    # back a dropped table. Off, a backup only tags the live tables.
    copy_tables: bool = True


class BatchSettings(BaseModel):
    """Batch runs on Ray Data (``tmm-batch``): block sizes and the actor pools per stage.

    GPU nodes set ``*_gpus`` (e.g. 1 for Whisper and the LLM, 0.25 for the embedder) so Ray
    places those actors on GPU workers; CPU runs leave them at 0."""

    episodes_per_block: int = Field(default=2, ge=1, le=256)
    download_concurrency: int = Field(default=4, ge=1, le=256)  # parallel download tasks
    transcribe_actors: int = Field(default=1, ge=1, le=1024)
    transcribe_gpus: float = Field(default=0.0, ge=0)
    transcribe_cpus: float = Field(default=1.0, gt=0)
    summarize_actors: int = Field(default=1, ge=1, le=1024)
    summarize_gpus: float = Field(default=0.0, ge=0)
    summarize_cpus: float = Field(default=1.0, gt=0)
    embed_actors: int = Field(default=1, ge=1, le=1024)
    embed_gpus: float = Field(default=0.0, ge=0)
    embed_cpus: float = Field(default=1.0, gt=0)
    # Episodes per embedding call: their passages are encoded together.
    embed_batch_episodes: int = Field(default=8, ge=1, le=1024)
    write_actors: int = Field(default=1, ge=1, le=64)
    # Re-embedding: rounds that embed episodes the online processor finished meanwhile, before
    # the new index is activated.
    catch_up_rounds: int = Field(default=3, ge=0, le=20)
    # The Ray Job entry point a `tmm-batch submit` runs on the cluster (its image has it).
    job_entrypoint: str = "tmm-batch run"


class SearchSettings(BaseModel):
    """Search over the LanceDB tables, its indexes and its Redis cache."""

    default_limit: int = Field(default=10, ge=1, le=100)
    max_limit: int = Field(default=50, ge=1, le=500)
    max_query_chars: int = Field(default=500, ge=10, le=10_000)
    # Candidates each method contributes before fusion.
    candidates: int = Field(default=50, ge=10, le=1000)
    # Hybrid fusion: relative scores (alpha = the semantic side's weight) or reciprocal ranks.
    fusion: Literal["relative_score", "rrf"] = "relative_score"
    hybrid_alpha: float = Field(default=0.7, ge=0, le=1)
    rrf_k: int = Field(default=60, ge=1)
    # Below this many rows search is exact (flat); above it an IVF-PQ vector index is built.
    vector_index_min_rows: int = Field(default=50_000, ge=256)
    # Rows added since the last index build after which `optimize` rebuilds rather than appends.
    vector_index_rebuild_fraction: float = Field(default=0.2, gt=0, le=1)
    nprobes: int = Field(default=20, ge=1)
    refine_factor: int = Field(default=5, ge=1)
    cache_ttl_s: float = Field(default=300.0, ge=0)  # 0 turns the cache off
    # Podcast reads (GET /podcasts, /podcasts/{id}); invalidated on every catalog write too.
    catalog_cache_ttl_s: float = Field(default=60.0, ge=0)
    # A search replica looks for newer table versions at most this often.
    read_consistency_s: float = Field(default=2.0, ge=0)
    # How often a processor replica runs the index maintenance (optimize / build index).
    maintenance_interval_s: float = Field(default=900.0, gt=0)
    # "Tell me more": bounds on the requested length and the diversity trade-off.
    max_playlist_minutes: int = Field(default=240, ge=1)
    mmr_lambda: float = Field(default=0.7, ge=0, le=1)
    near_duplicate_similarity: float = Field(default=0.92, gt=0, le=1)
    # A topic playlist takes a new segment only above this fused relevance (semantic cosine).
    topic_min_similarity: float = Field(default=0.35, ge=-1, le=1)


class PlaylistSettings(BaseModel):
    """Limits that keep one user's playlists bounded."""

    max_playlists_per_user: int = Field(default=500, ge=1)
    max_items: int = Field(default=1000, ge=1)
    max_title_chars: int = Field(default=200, ge=1)
    max_description_chars: int = Field(default=5000, ge=0)
    max_note_chars: int = Field(default=2000, ge=0)


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


class DemoSettings(BaseModel):
    """The demo podcast that ships with the app."""

    # Serve the demo feed (and, later, its audio) from the API under /demo/.
    enabled: bool = False


class Settings(BaseSettings):
    """All settings of Tell Me More, built once and passed explicitly."""

    model_config = SettingsConfigDict(
        env_prefix="TMM_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    environment: Environment = "development"
    log_level: str = "INFO"
    database: DatabaseSettings = DatabaseSettings()
    feeds: FeedSettings = FeedSettings()
    apple: AppleSettings = AppleSettings()
    api: ApiSettings = ApiSettings()
    auth: AuthSettings = AuthSettings()
    redis: RedisSettings = RedisSettings()
    rate_limit: RateLimitSettings = RateLimitSettings()
    quotas: QuotaSettings = QuotaSettings()
    log: LogSettings = LogSettings()
    models: ModelSettings = Field(default_factory=ModelSettings)
    s3: S3Settings = S3Settings()
    lance: LanceSettings = LanceSettings()
    processing: ProcessingSettings = ProcessingSettings()
    demo: DemoSettings = DemoSettings()
    search: SearchSettings = SearchSettings()
    playlists: PlaylistSettings = PlaylistSettings()
    email: EmailSettings = EmailSettings()
    batch: BatchSettings = BatchSettings()
    backup: BackupSettings = BackupSettings()

    @model_validator(mode="after")
    def _refuse_weak_secrets(self) -> Self:
        """Outside development a real JWT secret is required; refusing to start is the point."""
        if self.environment == "development":
            return self
        secret = self.auth.jwt_secret.get_secret_value() if self.auth.jwt_secret else ""
        if len(secret) < 32 or secret.lower() in _PLACEHOLDER_SECRETS:
            raise ValueError(
                f"auth.jwt_secret (TMM_AUTH__JWT_SECRET) must be set to a random value of at "
                f"least 32 characters when environment={self.environment!r}"
            )
        return self

    def jwt_secret(self) -> str:
        """The signing key; development without one gets a random key per process."""
        if self.auth.jwt_secret is not None:
            return self.auth.jwt_secret.get_secret_value()
        return _development_secret()


@lru_cache(maxsize=1)
def _development_secret() -> str:
    return secrets.token_urlsafe(48)


def load_settings(env_file: Path | None = None, **overrides: Any) -> Settings:
    """Build settings from the environment (and ``.env``), with explicit overrides on top."""
    if env_file is not None:
        return Settings(_env_file=env_file, **overrides)
    return Settings(**overrides)
